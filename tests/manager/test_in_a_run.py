"""The model state manager in a run (docs/manager.md, "In a run"): on scenarios/biased_update.yaml
every incident is detected, its traffic switched and its rollback completed in every DC, in that
order, and the manager lowers the quality lost; a manager replica crash during an incident stops
and forks nothing; after the rollback and the drain every replica holds the witness's healthy
values; congestion raises no false alarm; bad manager input is one line and exit code 2."""

import json

import numpy as np
import pytest

from ekkosim.ps.placement import ReplicaId, all_replicas
from ekkosim.scenario import ScenarioError, load
from ekkosim.simulation import Simulation
from ekkosim.strategies import STRATEGIES
from tests.conftest import SCENARIOS, run_cli

BIASED = SCENARIOS / "biased_update.yaml"


def _simulate(*overrides: str) -> Simulation:
    scenario = load(BIASED, list(overrides))
    sim = Simulation(scenario, STRATEGIES[scenario.strategy])
    sim.run()
    return sim


@pytest.fixture(scope="module")
def managed():
    return _simulate()


@pytest.fixture(scope="module")
def crashed():
    # the leader crashes while the first incident's damaged is in flight (proposed at 42.000 s,
    # committed at 42.002 s without the crash), and comes back at 50 s
    return _simulate("faults=[{kind: manager_crash, replica: leader, at: 42.001s, recover: 50s}]")


def _incidents(sim):
    return sim.outcome.summary()["manager"]["incidents"]


def _assert_every_incident_in_order(sim):
    incidents = _incidents(sim)
    dcs = [dc.name for dc in sim.scenario.topology.datacenters]
    assert incidents, "the biased burst was not detected"
    for incident in incidents:
        assert incident["model"] == "ranking" and incident["injected_at_s"] == 40.0
        assert incident["injected_at_s"] < incident["uncertain_at_s"] <= incident["detected_at_s"]
        assert incident["detected_at_s"] < incident["traffic_switched_at_s"]
        assert sorted(incident["rollback_complete_s"]) == sorted(dcs)
        assert all(t > incident["traffic_switched_at_s"] for t in incident["rollback_complete_s"].values())
        assert max(incident["rollback_complete_s"].values()) < incident["healthy_at_s"]
    for before, after in zip(incidents, incidents[1:]):
        assert before["healthy_at_s"] < after["uncertain_at_s"]


def test_each_incident_is_detected_then_switched_then_rolled_back_in_every_dc(managed):
    _assert_every_incident_in_order(managed)
    summary = managed.outcome.summary()["manager"]
    assert summary["false_alarms"] == 0
    assert summary["states"]["ranking"] == "healthy"
    assert summary["replicas_agree"]
    # the burst starts at 40 s; the first window that sees it ends at 41 s, the second at 42 s
    assert _incidents(managed)[0]["detected_at_s"] < 42.1


def test_the_manager_lowers_the_quality_lost(managed):
    without = _simulate("manager.enabled=false")
    assert "manager" not in without.outcome.summary()
    lost_on = managed.outcome.summary()["slo"]["quality_lost_pct_s"]
    lost_off = without.outcome.summary()["slo"]["quality_lost_pct_s"]
    assert lost_on < 0.85 * lost_off, (lost_on, lost_off)  # docs/manager.md reports the margin


def test_after_the_rollback_and_drain_every_replica_holds_the_witness_state(managed):
    manager, cluster = managed.outcome.manager, managed.outcome.cluster
    assert managed.outcome.summary()["converged"]
    touched = np.sort(manager.service.bias[0].touched.keys)
    shards = managed.scenario.models[0].shards
    checked = 0
    for m, keys, (time, origin, counter), values in manager.republished:
        assert m == 0
        # keys of the burst whose rollback version is still the newest at the origin
        now_time, now_origin, now_counter = cluster.origin_versions(m, keys)
        keep = np.isin(keys, touched) & (now_time == time) & (now_counter == counter) & (now_origin == origin)
        for rid in all_replicas(managed.scenario):
            at = keep & (keys % shards == rid.shard)
            if rid.model == m and at.any():
                store, _ = cluster.replica(rid)
                np.testing.assert_array_equal(store.values(keys[at]), values[at])
        checked += int(keep.sum())
    assert checked > 100


def test_a_leader_crash_during_an_incident_neither_stops_nor_forks_the_state_machine(managed, crashed):
    summary = crashed.outcome.summary()["manager"]
    crash = summary["crashes"][0]
    assert crash["replica"] is not None and crash["at_s"] == pytest.approx(42.001)
    assert summary["elections"] >= 2  # a new leader took over
    _assert_every_incident_in_order(crashed)
    assert summary["replicas_agree"]
    assert summary["states"]["ranking"] == "healthy"
    # every replica, the crashed one too once it has replayed, applied the same commands in order
    applied = [[(a.index, a.command.model, a.command.state, a.accepted) for a in r.applied]
               for r in crashed.outcome.manager.group.replicas]
    assert all(log == applied[0] for log in applied)
    assert all(a[3] for a in applied[0])  # no command was refused
    # the detection did not wait for the crash: same first detection as without the crash
    assert _incidents(crashed)[0]["detected_at_s"] == _incidents(managed)[0]["detected_at_s"]


def test_the_cli_shows_the_timeline(tmp_path):
    result = run_cli("run", str(BIASED), "--out", str(tmp_path / "run"), "--set", "workload.duration=45s",
                     "--set", "sync.drain=1s", env={"COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    assert "model state manager" in result.stdout and "traffic switched" in result.stdout
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["manager"]["incidents"][0]["model"] == "ranking"


def test_congestion_raises_no_false_alarm(tmp_path):
    """Two WAN links at 5% for 15 s make two DCs' replicas stale; the detector must not call that
    damage (the chart is anchored at "online as good as its baseline", docs/manager.md)."""
    out = tmp_path / "congestion"
    result = run_cli("run", str(SCENARIOS / "congestion.yaml"), "--quiet", "--out", str(out),
                     "--set", "manager.enabled=true", "--set", "workload.duration=27s", "--set", "sync.drain=1s")
    assert result.returncode == 0, result.stderr
    manager = json.loads((out / "summary.json").read_text())["manager"]
    assert manager["incidents"] == [] and manager["false_alarms"] == 0
    assert not any(t["state"] == "damaged" for t in manager["transitions"])
    assert not any(d["warming_up"] for d in manager["detector"].values())  # the chart was watching


@pytest.mark.parametrize(("override", "expected"), [
    ("quality.biased_updates[0].model=nobody", "quality.biased_updates[0].model: unknown model 'nobody'"),
    ("faults=[{kind: manager_crash, replica: 3, at: 1s}]", "faults[0].replica: no replica 3"),
    ("quality.enabled=false", "manager.enabled: needs quality.enabled: true"),
    ("faults=[{kind: manager_crash, replica: 0, at: 5s, recover: 2s}]", "faults[0]: `recover` (2s) must be after `at` (5s)"),
    ("manager.baseline_share=2", "manager.baseline_share: Input should be less than 1"),
])
def test_bad_manager_input_is_one_line_naming_the_field(override, expected):
    with pytest.raises(ScenarioError) as caught:
        load(BIASED, [override])
    assert any(line.startswith(expected) for line in caught.value.problems), caught.value.problems
    result = run_cli("run", str(BIASED), "--quiet", "--set", override)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"error: {expected}" in result.stderr
