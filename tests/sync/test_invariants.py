"""The invariant checker can fail: deliberately broken variants of the protocol are caught, with
the rule, the replica, the shard and the key named, and the run stops incomplete."""

import dataclasses
import re

import pytest
import yaml

import ekkosim.sync.puller as puller_module
from ekkosim.cli import EXIT_RUN_FAILED, main
from ekkosim.ps.pull import apply_answer
from ekkosim.runner import run
from ekkosim.scenario import validate
from ekkosim.sync.invariants import InvariantViolation
from tests.sync.test_faults import three_dcs


def without_knowledge(store, mine, answer, whole=True):
    """Broken: the puller never takes the union of knowledge."""
    return apply_answer(store, mine, answer, whole=False)


def dropping_a_key(store, mine, answer, whole=True):
    """Broken: the puller loses the last key of each whole answer, yet takes its knowledge."""
    if not whole or len(answer) == 0:
        return apply_answer(store, mine, answer, whole)
    fields = {name: getattr(answer, name)[:-1] for name in ("pair", "keys", "time", "origin", "counter", "value", "high")}
    return apply_answer(store, mine, dataclasses.replace(answer, **fields), whole)


def test_the_correct_protocol_passes_the_checker(tmp_path):
    summary = run(validate(three_dcs()), tmp_path / "run", check=True)
    assert summary["converged"] is True


def test_skipping_the_union_of_knowledge_is_caught_at_the_end(tmp_path, monkeypatch):
    monkeypatch.setattr(puller_module, "apply_answer", without_knowledge)
    with pytest.raises(InvariantViolation, match=r"invariant 'converged' violated at t = 4\.000000 s by replica "
                                                 r"\S+/shard\d/copy\d \(model 0, DC \w+\): knowledge \[\d+\], the origin's"):
        run(validate(three_dcs()), tmp_path / "run", check=True)
    assert (tmp_path / "run" / "INCOMPLETE").exists() and not (tmp_path / "run" / "summary.json").exists()


def test_a_knowledge_that_claims_a_lost_key_is_caught_at_once(tmp_path, monkeypatch):
    monkeypatch.setattr(puller_module, "apply_answer", dropping_a_key)
    with pytest.raises(InvariantViolation) as caught:
        run(validate(three_dcs()), tmp_path / "run", check=True)
    violation = caught.value
    assert violation.rule == "knowledge is sound" and violation.key is not None
    assert f", key {violation.key}: knowledge [" in str(violation) and "claims the origin's version" in str(violation)


def test_without_the_checker_the_broken_variant_runs_to_the_end_unconverged(tmp_path, monkeypatch):
    monkeypatch.setattr(puller_module, "apply_answer", without_knowledge)
    summary = run(validate(three_dcs()), tmp_path / "run")
    assert summary["converged"] is False and summary["lost_updates"] == 0  # every key, but not the knowledge


def test_the_cli_reports_a_violation_in_one_line_with_exit_code_3(tmp_path, monkeypatch, capsys):
    scenario = tmp_path / "s.yaml"
    scenario.write_text(yaml.safe_dump(three_dcs()))
    monkeypatch.setattr(puller_module, "apply_answer", dropping_a_key)
    code = main(["run", str(scenario), "--check", "--quiet", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == EXIT_RUN_FAILED == 3
    assert err.count("\n") == 1 and err.startswith("error: invariant 'knowledge is sound' violated at t = ")
    assert "Traceback" not in err and err.rstrip().endswith("is incomplete)")
    assert not (tmp_path / "run" / "summary.json").exists()


def test_versions_going_backwards_are_caught(tmp_path, monkeypatch):
    def rewinding(store, mine, answer, whole=True):
        change = apply_answer(store, mine, answer, whole)
        if change.keys.size:
            row = store.index.find(change.keys[:1])
            store.rows.counter[row] = 0  # a buggy apply that leaves a key behind
            store.rows.time[row] = 0.0
        return change

    monkeypatch.setattr(puller_module, "apply_answer", rewinding)
    with pytest.raises(InvariantViolation, match="invariant 'versions never go backwards' violated"):
        run(validate(three_dcs()), tmp_path / "run", check=True)


def keeping_cursors_across_a_peer_restart(refresh):
    """Broken: a puller keeps its cursors when its peer comes back as a new incarnation (only its
    own store's restart resets them)."""

    def broken(self):
        kept = {lane: {(model.m, id(model.store)): dict(zip(model.shards.tolist(), cursor.tolist()))
                       for model, cursor in zip(self.models, cursors)} for lane, cursors in self.cursors.items()}
        refresh(self)
        for lane, cursors in self.cursors.items():
            for model, cursor in zip(self.models, cursors):
                old = kept[lane].get((model.m, id(model.store)), {})
                cursor[:] = [old.get(shard, value) for shard, value in zip(model.shards.tolist(), cursor.tolist())]

    return broken


@pytest.mark.parametrize("seed, crash_s", [(1, 1.0), (2, 0.7), (3, 1.6), (4, 0.4)])
def test_a_cursor_kept_across_its_peers_restart_is_caught_at_the_next_apply(tmp_path, monkeypatch, seed, crash_s):
    # a/ps0 leads shards 0 and 2 in a, and a/ps1's copies pull from it; its crash makes it a new
    # incarnation (the state of time 0, shard versions 0), and it restarts before the election
    # timeout, so it still leads. The broken puller takes the new incarnation with the old
    # cursors: the first apply on a/ps1 after the crash (a pull from train) finds them, before the
    # restart and long before the replica's knowledge would be found unsound
    data = three_dcs(seed=seed, faults=[{"kind": "server_crash", "dc": "a", "server": 0, "at": f"{crash_s}s",
                                         "recover": f"{crash_s + 0.3:.1f}s"}])
    data["sync"] |= {"election_timeout": "2s"}
    assert run(validate(data), tmp_path / "good", check=True)["converged"] is True  # the correct protocol
    monkeypatch.setattr(puller_module.Puller, "_refresh", keeping_cursors_across_a_peer_restart(puller_module.Puller._refresh))
    with pytest.raises(InvariantViolation) as caught:
        run(validate(data), tmp_path / "broken", check=True)
    assert caught.value.rule == "a cursor never exceeds its peer's shard version"
    assert crash_s < float(re.search(r"at t = ([\d.]+) s", str(caught.value)).group(1)) < crash_s + 0.1
    assert re.search(r"by replica a/ps1/shard[02]/copy1 \(model 0, DC a\): cursor \d+ \(\w+ lane\) of its pull from "
                     r"a/ps0, whose shard version is \d+$", str(caught.value)), str(caught.value)
