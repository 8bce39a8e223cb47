"""The memory estimate: its terms computed by hand for a small scenario, the refusal naming the
largest part and the limit, `--max-memory`, and real runs (fresh processes) staying below the
estimate they were given."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import pytest
import yaml

from ekkosim import schema
from ekkosim.ps.placement import pull_groups
from ekkosim.scenario import ScenarioError, validate
from ekkosim.scenario import footprint as fp
from tests.conftest import REPO, SCENARIOS, SMALL, call_cli


def tiny() -> dict:
    data = copy.deepcopy(SMALL) | {"strategy": "ekko", "workload": {"duration": "0.3s"}, "sync": {"drain": "0.3s"}}
    data["models"][0].update(keys=1000, shards=2, workload={"rate": 500})
    return data


def test_terms_of_a_small_ekko_scenario():
    terms = {term.name: term for term in fp.estimate(validate(tiny())).terms}
    copies = 3  # one copy of each shard in each of 3 DCs
    expected = {
        "the interpreter and libraries": fp.INTERPRETER_BYTES,
        "DC pairs": 3 * fp.DC_PAIR_BYTES,
        "servers": 3 * fp.SERVER_BYTES,
        # 2 NIC links per server, 6 directed WAN links, an uplink and a downlink per DC; 0.6 s in 1 s windows
        "link time series": (6 + 6 + 6) * 0.6 * fp.TIMESERIES_ROW_BYTES,
        # a key space this small is held whole, in every copy
        "per-key state of model m": 1000 * copies * schema.KEY_STATE_BYTES,
        # every server holds both shards: its 1,000 keys compared, and the 1,000 written at the origin
        "end-of-run comparisons of model m": 1000 * fp.COMPARED_KEY_BYTES + 1000 * fp.WRITTEN_KEY_BYTES,
        "per-shard state of model m": 2 * copies * fp.SHARD_COPY_BYTES,
        # 150 updates, fewer than the caches hold (2 x 4,096 per shard)
        "update caches of model m (sync.cache_size 4,096)": 150 * copies * fp.JOURNAL_ENTRY_BYTES,
        "update batches of model m": 500 * 0.1 * fp.BATCHES_HELD * fp.UPDATE_BYTES,
        "latency samples of model m": 500 * 0.3 * (copies - 1) * fp.LATENCY_ROW_BYTES,
        # one puller in each inference DC (its one server pulls both shards from the training DC's
        # one server), every 50 ms for 0.6 s, two flows a pull
        "pull flows of model m": 2 * (2 * 0.6 / 0.05) * fp.FLOW_BYTES,
    }
    assert {name: term.bytes for name, term in terms.items()} == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("servers", "replicas", "local_leader", "expected"), [
    # 4 servers pulling from 4: each server's shards lead on one server of the source (gcd 4)
    ((4, 4, 4), 1, True, 8),
    # two copies: copy 1 pulls from its DC's leader, one peer each; in the training DC too
    ((4, 4, 4), 2, True, 4 + 8 + 8),
    # without local leaders, copy 1 of the inference DCs pulls from the training DC
    ((4, 4, 4), 2, False, 4 + 8 + 8),
    # 3 servers pulling from 4: a server's shards (s = c mod 3) lead on all 4 of the source
    ((4, 3, 3), 1, True, 2 * 3 * 4),
])
def test_pullers_are_server_pairs(servers, replicas, local_leader, expected):
    data = tiny()
    data["topology"]["datacenters"] = [
        {"name": name, "role": role, "servers": n} for name, role, n in zip(("train", "a", "b"),
                                                                             ("training", "inference", "inference"), servers)]
    data["models"][0].update(shards=240, replicas=replicas)
    data["sync"]["local_leader"] = local_leader
    scenario = validate(data)
    assert fp.pullers(scenario, scenario.models[0]) == expected
    assert fp.pullers(scenario, scenario.models[0]) >= len(pull_groups(scenario))


def test_per_key_state_is_the_syncs_own_estimate():
    data = tiny()
    data["models"][0]["keys"] = 10**9  # far beyond what a store keeps whole: the keys touched count
    scenario = validate(data)
    term = next(t for t in fp.estimate(scenario).terms if t.name.startswith("per-key"))
    assert term.bytes == schema.key_state_bytes(scenario, scenario.models[0]) == \
        500 * 0.3 * 3 * (schema.KEY_STATE_BYTES + schema.HASHED_ROW_BYTES)


def test_the_quality_model_and_the_manager_count_the_keys_written_not_the_model():
    data = tiny() | {"quality": {"enabled": True}, "manager": {"enabled": True}}
    data["models"][0]["keys"] = 10**12  # held whole, a model this size would not fit any machine
    terms = {term.name: term for term in fp.estimate(validate(data)).terms}
    # 150 updates: at most 150 keys written, each in the trainer's clean copy, the baseline and the witness
    assert terms["quality and manager values of model m"].bytes == 150 * 3 * fp.KEY_VALUES_BYTES
    assert terms["manager's waiting writes of model m"].bytes == 150 * 2 * fp.PENDING_WRITE_BYTES
    assert "biased keys of model m" not in terms  # no burst
    data["quality"]["biased_updates"] = [{"model": "m", "start": "0s", "end": "1s"}]
    terms = {term.name: term for term in fp.estimate(validate(data)).terms}
    assert terms["biased keys of model m"].bytes == 150 * fp.BIASED_KEY_BYTES  # at most every key written
    del data["quality"]["biased_updates"]
    data["manager"]["enabled"] = False
    terms = {term.name: term for term in fp.estimate(validate(data)).terms}
    assert terms["quality and manager values of model m"].bytes == 150 * fp.KEY_VALUES_BYTES
    assert "manager's waiting writes of model m" not in terms
    assert "start values of model m" not in terms  # computed when asked
    data["models"][0]["keys"] = 1000  # a small key space: its start values in a table
    terms = {term.name: term for term in fp.estimate(validate(data)).terms}
    assert terms["start values of model m"].bytes == 1000 * fp.START_VALUE_BYTES


def test_a_quality_and_manager_run_that_would_not_fit_is_refused():
    """Its values counted (1 GiB for 9 x 10^6 keys written, 3 copies), a run that fits without the
    quality model and the manager is refused with them, in one line."""
    data = tiny() | {"output": {"latency_sample": 10**6}}
    data["models"][0].update(keys=10**12, workload={"rate": 3 * 10**7})  # 9 x 10^6 keys written
    limit = fp.estimate(validate(data)).bytes + 2**20
    assert validate(data, max_memory=limit).name == "small"
    data |= {"quality": {"enabled": True, "learning_rate": 1e-6}, "manager": {"enabled": True}}
    with pytest.raises(ScenarioError) as refused:
        validate(data, max_memory=limit)
    assert refused.value.problems == [
        "models[0]: a run needs about 6.93 GiB of memory, more than the limit of 5.65 GiB (raise it with "
        "--max-memory); the largest part is end-of-run comparisons of model m (9,000,000 keys of its largest "
        "store) = 3.07 GiB"]


def test_refused_with_the_number_and_the_largest_part():
    data = tiny()
    data["models"][0]["workload"]["rate"] = 1e8
    with pytest.raises(ScenarioError) as refused:
        validate(data, max_memory=2**30)
    assert refused.value.problems == [
        "output.latency_sample: a run needs about 12.3 GiB of memory, more than the limit of 1 GiB (raise it with "
        "--max-memory); the largest part is latency samples of model m, 60,000,000 deliveries x 200 B = 11.2 GiB"]
    assert validate(data, max_memory=16 * 2**30).name == "small"


def test_cli_prints_the_estimate_and_takes_the_limit(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(tiny()))
    code, out, _ = call_cli(capsys, "validate", str(path))
    assert (code, out) == (0, f"{path}: ok (small, strategy ekko, about 385 MiB of memory)\n")
    code, _, err = call_cli(capsys, "validate", str(path), "--max-memory", "100MB")
    assert code == 2 and err.startswith(f"{path}: (scenario): a run needs about 385 MiB of memory, more than the "
                                        "limit of 95.4 MiB")
    for bad in ("-1GB", "0", "lots"):
        code, _, err = call_cli(capsys, "validate", str(path), "--max-memory", bad)
        assert code == 2 and err.startswith("ekkosim: error: argument --max-memory: "), err


# The peak is VmHWM, the high-water mark of this process's own memory: ru_maxrss would count the
# parent's RSS at the fork before the exec (Linux keeps the larger), a pytest worker's hundreds of MB.
MEASURE = """
import json, re, sys, tempfile
from pathlib import Path
from ekkosim.runner import run
from ekkosim.scenario import load
from ekkosim.scenario.footprint import estimate
scenario = load(sys.argv[1], sys.argv[2:])
with tempfile.TemporaryDirectory() as out:
    run(scenario, out + "/run")
peak_kib = int(re.search(r"VmHWM:\\s*(\\d+) kB", Path("/proc/self/status").read_text()).group(1))
print(json.dumps([peak_kib * 1024, estimate(scenario).bytes]))
"""


@pytest.mark.parametrize("overrides", [
    [],  # offline, the book's small example
    ["strategy=ekko", "models[0].keys=20000", "models[0].workload.rate=20000", "workload.duration=2s", "sync.drain=1s"],
    ["strategy=ekko", "models[0].keys=20000", "models[0].shards=2000", "sync.cache_size=64", "workload.duration=1s",
     "sync.drain=1s"],
    ["strategy=ekko", "models[0].keys=20000", "models[0].workload.rate=20000", "workload.duration=2s", "sync.drain=1s",
     "quality.enabled=true", "manager.enabled=true"],
], ids=["offline", "ekko, keys all touched", "ekko, many shards", "ekko, quality model and manager"])
def test_a_run_stays_below_its_estimate(tmp_path, overrides):
    """Scenarios whose keys are all touched (so that the dense state of today and the sparse
    state the estimate counts agree), run in a fresh interpreter."""
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(SMALL))
    result = subprocess.run([sys.executable, "-c", MEASURE, str(path), *overrides], capture_output=True, text=True,
                            cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr
    peak, estimate = json.loads(result.stdout)
    assert peak <= estimate, (peak / 2**20, estimate / 2**20)
