"""Service quality and the SLO-aware scheduler end to end: quality is a real function of update
latency, the ideal replica is exact, the express lane keeps high-priority latency low under
congestion, and a user's priority function is checked before the run."""

import json

import pyarrow.parquet as pq
import pytest

from ekkosim.runner import run
from ekkosim.scenario import ScenarioError, load, validate
from tests.conftest import SCENARIOS, run_cli


def served(bandwidth: str = "1Gbps", **extra) -> dict:
    """A training DC and one inference DC; one model; quality on."""
    scenario = {
        "name": "served", "seed": 11, "strategy": "ekko",
        "models": [{"name": "m", "keys": 100_000, "value_bytes": "256B", "shards": 4,
                    "workload": {"rate": 20_000, "zipf": 1.0}}],
        "workload": {"duration": "6s"},
        "sync": {"drain": "2s", "cache_size": 2048},
        "quality": {"enabled": True, "requests": 2000, "drift_period": "10s"},
        "topology": {
            "wan": {"bandwidth": bandwidth, "latency": "20ms"},
            "datacenters": [
                {"name": "train", "role": "training", "servers": 1, "nic": "10Gbps"},
                {"name": "a", "role": "inference", "servers": 1, "nic": "10Gbps"},
            ],
        },
        "output": {"latency_sample": 4},
    }
    return scenario | extra


def test_slo_drop_grows_as_wan_bandwidth_falls(tmp_path):
    lost = []
    for i, bandwidth in enumerate(["1Gbps", "100Mbps", "30Mbps", "15Mbps"]):
        summary = run(validate(served(bandwidth)), tmp_path / str(i))
        lost.append(summary["slo"]["quality_lost_pct_s"])
    assert lost == sorted(lost) and len(set(lost)) == len(lost), lost
    assert lost[-1] > 10 * lost[0]


def test_a_replica_that_is_the_origin_serves_with_no_drop(tmp_path):
    """A DC of role `both` with one copy per shard serves from the origin, the ideal itself."""
    scenario = served()
    scenario["topology"]["datacenters"][0]["role"] = "both"
    summary = run(validate(scenario), tmp_path / "run")
    assert summary["slo"]["by_dc"]["train"] == {"mean_pct": 0.0, "peak_pct": 0.0}
    assert summary["slo"]["by_dc"]["a"]["peak_pct"] > 0
    table = pq.read_table(tmp_path / "run" / "quality.parquet").to_pandas()
    train = table[table.dc == "train"]
    assert (train.served_loss == train.ideal_loss).all() and train.requests.sum() > 0
    # 2000 requests a second over 8 s, Poisson: the count is near 16,000 per DC
    assert abs(train.requests.sum() - 16_000) < 5 * 16_000 ** 0.5


def congested(scheduler: bool) -> dict:
    scenario = served("200Mbps")
    scenario["models"][0]["workload"] = {"rate": 40_000, "zipf": 0.8}
    scenario["network"] = {"congestion": [{"link": "wan:train<->a", "start": "1s", "end": "5s", "fraction": 0.2}]}
    scenario["scheduler"] = {"enabled": scheduler}
    return scenario


def test_the_express_lane_keeps_high_priority_latency_low_under_congestion(tmp_path):
    on = run(validate(congested(True)), tmp_path / "on")
    off = run(validate(congested(False)), tmp_path / "off")
    high, low = on["latency_by_priority_s"]["high"], on["latency_by_priority_s"]["low"]
    assert high["count"] > 0 and low["count"] > 5 * high["count"]  # top 10% are high
    assert high["p99"] < low["p99"] / 2
    assert "latency_by_priority_s" not in off
    assert on["converged"] and off["converged"]


def test_a_users_priority_function_next_to_the_scenario_is_used(tmp_path, write_scenario):
    (tmp_path / "mypriority.py").write_text(
        "import numpy as np\n\ndef newest_first(features):\n    return features.is_new.astype(float)\n")
    scenario = served()
    scenario["scheduler"] = {"enabled": True, "priority": "mypriority:newest_first"}
    result = run_cli("run", str(write_scenario(scenario)), "--out", str(tmp_path / "run"), "--quiet", "--allow-code")
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    # only creating updates get a priority above zero, and 1% of updates create a key
    high = summary["latency_by_priority_s"]["high"]["count"]
    assert 0 < high < 0.05 * summary["latency_s"]["count"]


@pytest.mark.parametrize("code, message", [
    ("def f(a, b):\n    return a\n", "signature"),
    ("def f(features):\n    return [1.0]\n", "shape"),
    ("def f(features):\n    raise RuntimeError('boom')\n", "boom"),
])
def test_a_bad_priority_function_is_refused_before_the_run(tmp_path, write_scenario, code, message):
    (tmp_path / "badpriority.py").write_text(code)
    scenario = served()
    scenario["scheduler"] = {"enabled": True, "priority": "badpriority:f"}
    result = run_cli("run", str(write_scenario(scenario)), "--out", str(tmp_path / "run"), "--allow-code")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: scheduler.priority: ") and message in lines[0]
    assert "Traceback" not in result.stderr and not (tmp_path / "run").exists()


def test_an_unimportable_priority_function_names_the_module(tmp_path):
    scenario = served()
    scenario["scheduler"] = {"enabled": True, "priority": "no_such_module_here:f"}
    allowed = validate(scenario, allow_code=True)  # validation imports nothing: the run does, first
    with pytest.raises(ScenarioError, match=r"scheduler.priority: cannot import module 'no_such_module_here'"):
        run(allowed, tmp_path / "run")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("change, field", [
    ({"strategy": "offline"}, "quality.enabled"),
    ({"sync": {"shard_version": False}, "scheduler": {"enabled": True}}, "scheduler.enabled"),
    ({"scheduler": {"priority": "mypriority:f"}}, "scheduler.priority"),
])
def test_switches_that_cannot_work_together_are_refused(change, field):
    with pytest.raises(ScenarioError, match=field):
        validate(served() | change)


def test_a_priority_function_that_fails_during_the_run_stops_it_with_one_line(tmp_path, write_scenario):
    """It passed the check on a sample batch, then raises on a batch of the run."""
    (tmp_path / "latebad.py").write_text(
        "def f(features):\n"
        "    if features.time_s > 1.0:\n"
        "        raise ValueError('late')\n"
        "    return features.magnitude\n")
    scenario = served()
    scenario["scheduler"] = {"enabled": True, "priority": "latebad:f"}
    result = run_cli("run", str(write_scenario(scenario)), "--out", str(tmp_path / "run"), "--quiet", "--allow-code")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: scheduler.priority: ") and "late" in result.stderr
    assert (tmp_path / "run" / "INCOMPLETE").exists() and not (tmp_path / "run" / "summary.json").exists()


def test_congestion_scenario_scheduler_beats_the_congestion(tmp_path):
    """The shipped scenario, as a user runs it, with the scheduler on (its default) and off: the
    express lane keeps high-priority updates fast while the low-priority ones wait, and the
    quality lost to the congestion falls (docs/scheduler.md reports the margins over seeds). The
    updates stop 2 s after the congestion (10 s to 25 s) ends, to keep the test short."""
    short = ["workload.duration=27s", "sync.drain=5s"]
    on = run(load(SCENARIOS / "congestion.yaml", short), tmp_path / "on")
    off = run(load(SCENARIOS / "congestion.yaml", [*short, "scheduler.enabled=false"]), tmp_path / "off")
    high, low = on["latency_by_priority_s"]["high"], on["latency_by_priority_s"]["low"]
    assert high["p99"] < low["p99"] / 4
    assert on["converged"] and off["converged"]
    assert 0 < on["slo"]["slo_drop_peak_pct"] < off["slo"]["slo_drop_peak_pct"] / 2
    assert 0 < on["slo"]["quality_lost_pct_s"] < off["slo"]["quality_lost_pct_s"] / 2
