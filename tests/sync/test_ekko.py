"""The ekko strategy end to end: exact latency of one update, convergence under every switch,
the ablation's order, and a cost that follows the updated keys, not the model size."""

import itertools
import json
import math

import pyarrow.parquet as pq
import pytest

from ekkosim.kernel import Randomness
from ekkosim.runner import run
from ekkosim.scenario import load, validate
from tests.conftest import SCENARIOS, run_cli

ZERO_COSTS = {name: 0 for name in (
    "cpu_per_request", "cpu_per_shard", "cpu_per_vector_entry", "cpu_per_key_scanned", "cpu_per_cache_entry",
    "cpu_per_key_applied", "header_bytes", "key_bytes", "version_bytes", "vector_entry_bytes", "shard_version_bytes")}


def tiny(**sync) -> dict:
    """Two DCs of one server each; one model of 10 keys in one shard; no costs but latency."""
    return {
        "name": "tiny", "seed": 5, "strategy": "ekko",
        "models": [{"name": "m", "keys": 10, "value_bytes": "1B", "shards": 1}],
        "workload": {"duration": "0.5s", "batch_interval": "100ms", "trainer_nic": "1000Tbps"},
        "sync": {"warm_start": False, "pull_interval": "50ms", "drain": "0.5s", "costs": ZERO_COSTS, **sync},
        "topology": {
            "wan": {"bandwidth": "1000Tbps", "latency": "30ms"},
            "datacenters": [
                {"name": "train", "role": "training", "servers": 1, "nic": "1000Tbps"},
                {"name": "a", "role": "inference", "servers": 1, "nic": "1000Tbps"},
            ],
        },
    }


def test_one_update_arrives_at_the_first_snapshot_after_it_is_written(tmp_path):
    trace = tmp_path / "trace.csv"
    trace.write_text("time_s,model,key,magnitude\n0.05,m,3,1.5\n")
    scenario = validate(tiny() | {"workload": tiny()["workload"] | {"trace": str(trace)}})
    summary = run(scenario, tmp_path / "run")

    # By hand. The batch [0, 100 ms) is pushed at 100 ms and written after the LAN latency.
    written = 0.1 + 100e-6
    # The puller starts at a random phase, then pulls back to back: each pull is one round
    # trip of 60 ms (> the 50 ms floor); the peer's snapshot is taken 30 ms into a pull and
    # applied 30 ms later.
    phase = Randomness(5).stream("sync.puller.a/ps0.train/ps0").uniform(0, 0.05)
    k = math.ceil((written - phase - 0.03) / 0.06)
    expected = phase + 0.06 * k + 0.03 + 0.03 - written

    assert summary["updates"] == 1 and summary["converged"] is True
    assert summary["latency_s"]["count"] == 1
    assert summary["latency_s"]["mean"] == pytest.approx(expected, abs=1e-9)
    rows = pq.read_table(tmp_path / "run" / "latency.parquet").to_pylist()
    assert rows == [{"update": 0, "produced_s": pytest.approx(written, abs=1e-12), "model": "m", "key": 3,
                     "dc": "a", "replica": "a/ps0/shard0/copy0", "latency_s": pytest.approx(expected, abs=1e-9)}]


@pytest.mark.parametrize(
    ("shard_version", "update_cache", "local_leader", "warm_start"),
    list(itertools.product([False, True], repeat=4)),
)
def test_every_switch_combination_converges(small, tmp_path, shard_version, update_cache, local_leader, warm_start):
    small["strategy"] = "ekko"
    for dc in small["topology"]["datacenters"]:
        dc["servers"] = 2
    small["models"][0].update(keys=20_000, value_bytes="64B", shards=8, replicas=2,
                              workload={"rate": 5000, "zipf": 1.0, "new_keys": 0.05, "hot_drift": 500})
    small["workload"] = {"duration": "1s"}
    small["sync"] = {"shard_version": shard_version, "update_cache": update_cache, "local_leader": local_leader,
                     "warm_start": warm_start, "cache_size": 64, "drain": "2s"}
    summary = run(validate(small), tmp_path)
    assert summary["converged"] is True
    assert summary["undelivered"] == 0
    assert summary["latency_s"]["count"] == summary["updates"] * 5  # 3 DCs x 2 copies, one the origin


def test_ablation_order(tmp_path):
    """Mean cross-DC latency falls from version vectors alone, to + shard versions, to + local leaders."""
    configs = [["sync.shard_version=false", "sync.local_leader=false"], ["sync.local_leader=false"], []]
    means = []
    for i, overrides in enumerate(configs):
        summary = run(load(SCENARIOS / "ablation.yaml", overrides), tmp_path / str(i))
        assert summary["converged"] is True
        means.append(summary["cross_dc_latency_s"])
    assert means[0] > means[1] > means[2], means


def test_cost_follows_updated_keys_not_model_size(small, tmp_path):
    small["strategy"] = "ekko"
    small["workload"] = {"duration": "2s"}
    small["sync"] = {"drain": "1s"}
    examined = []
    for keys in (10**5, 10**7):
        small["models"][0].update(keys=keys, value_bytes="64B", shards=16, workload={"rate": 2000})
        summary = run(validate(small), tmp_path / str(keys))
        assert summary["converged"] is True and summary["full_scans"] == 0
        examined.append(summary["keys_examined"])
    assert 0 < examined[1] < 2 * examined[0], examined


def test_cli_prints_latency_per_dc_and_converged(tmp_path):
    result = run_cli("run", str(SCENARIOS / "ekko_basic.yaml"), "--set", "workload.duration=2s",
                     "--set", "sync.drain=1s", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    for text in ("shenzhen", "shanghai", "frankfurt", "latency mean s", "converged", "true"):
        assert text in result.stdout
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert set(summary["latency_by_dc_s"]) == {"shenzhen", "shanghai", "frankfurt"}
    assert summary["intra_dc_latency_s"] > 0 and summary["cross_dc_latency_s"] > summary["intra_dc_latency_s"]


def test_same_seed_same_digest(small, tmp_path):
    small["strategy"] = "ekko"
    small["workload"] = {"duration": "1s"}
    small["models"][0].update(keys=10_000, shards=4, workload={"rate": 1000})
    scenario = validate(small)
    first = run(scenario, tmp_path / "a")["digest"]
    assert run(scenario, tmp_path / "b")["digest"] == first
    small["seed"] = 4
    assert run(validate(small), tmp_path / "c")["digest"] != first


def test_malformed_trace_is_a_clear_error_naming_file_and_line(tmp_path):
    trace = tmp_path / "updates.csv"
    trace.write_text("time_s,model,key,magnitude\n0.1,m,3,1.0\n0.2,m,12.5,1.0\n")
    scenario = tmp_path / "s.yaml"
    scenario.write_text(json.dumps(tiny() | {"workload": {"duration": "1s", "trace": "updates.csv"}}))
    result = run_cli("validate", str(scenario))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "workload.trace: " in result.stderr and "updates.csv:3: key" in result.stderr


def test_trace_replay_delivers_every_row(tmp_path):
    trace = tmp_path / "updates.csv"
    trace.write_text("time_s,model,key,magnitude\n" + "".join(f"{0.01 * i + 0.005},m,{i % 10},1.0\n" for i in range(40)))
    scenario = validate(tiny() | {"workload": tiny()["workload"] | {"trace": str(trace)}})
    summary = run(scenario, tmp_path / "run")
    assert summary["converged"] is True
    # 40 rows, 10 ms apart, batched per 100 ms: each batch updates 10 distinct keys once
    assert summary["updates"] == 40
