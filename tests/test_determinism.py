"""Same scenario and seed: the same digest, in separate processes, whatever PYTHONHASHSEED is."""

import json

from tests.conftest import SCENARIOS, run_cli
from tests.sync.test_faults import three_dcs


def _digest(tmp_path, name, *args, hashseed="0", scenario="congestion.yaml"):
    out = tmp_path / name
    result = run_cli("run", str(SCENARIOS / scenario), "--quiet", "--out", str(out), *args,
                     env={"PYTHONHASHSEED": hashseed})
    assert result.returncode == 0, result.stderr
    return json.loads((out / "summary.json").read_text())["digest"]


# The congestion scenario has every random stream (workload, requests, scoring instants,
# background flows, puller phases) and the scheduler; shortened, its congestion moved to 1-3 s.
SHORT = ("--set", "workload.duration=4s", "--set", "sync.drain=1s",
         "--set", "network.congestion[*].start=1s", "--set", "network.congestion[*].end=3s")


def test_same_seed_same_digest_across_hash_seeds(tmp_path):
    first = _digest(tmp_path, "a", *SHORT, hashseed="0")
    assert _digest(tmp_path, "b", *SHORT, hashseed="1") == first


def test_ekko_digest_is_the_same_across_hash_seeds_and_another_seed_differs(tmp_path):
    short = ("--set", "workload.duration=2s", "--set", "sync.drain=1s")
    first = _digest(tmp_path, "a", *short, hashseed="0", scenario="ekko_basic.yaml")
    assert _digest(tmp_path, "b", *short, hashseed="123", scenario="ekko_basic.yaml") == first
    assert _digest(tmp_path, "c", *short, "--seed", "8", hashseed="123", scenario="ekko_basic.yaml") != first


def test_the_state_manager_is_deterministic_across_hash_seeds(tmp_path):
    # biased updates, baselines, the detector, the manager replicas' elections and a rollback
    short = ("--set", "workload.duration=42s", "--set", "sync.drain=1s")
    first = _digest(tmp_path, "a", *short, hashseed="0", scenario="biased_update.yaml")
    assert _digest(tmp_path, "b", *short, hashseed="99", scenario="biased_update.yaml") == first


def test_a_run_with_faults_is_deterministic_across_hash_seeds(tmp_path, write_scenario):
    # crashes, elections, regrouped pullers, and retries whose backoffs are drawn at random
    scenario = write_scenario(three_dcs(faults=[
        {"kind": "link_down", "link": "wan:train<->a", "at": "0.3s", "recover": "0.6s"},
        {"kind": "server_crash", "dc": "b", "server": 0, "at": "0.5s", "recover": "1.2s"}]))
    first = _digest(tmp_path, "a", hashseed="0", scenario=scenario)
    assert _digest(tmp_path, "b", hashseed="4242", scenario=scenario) == first
