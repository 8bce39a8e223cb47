"""Chain replication against the analytic pipelined completion time."""

import pytest

from ekkosim.runner import run
from ekkosim.scenario import load, validate
from tests.conftest import SCENARIOS


def pipelined_completion(hops: list[tuple[float, float]], chunk: float, chunks: int) -> float:
    """sum(h_i) + (chunks - 1) * max(h_i), with h_i = latency_i + chunk / bandwidth_i (bytes/s)."""
    h = [latency + chunk / bandwidth for latency, bandwidth in hops]
    return sum(h) + (chunks - 1) * max(h)


def _hops(scenario):
    servers = scenario.topology.datacenters[0].servers
    # three servers per DC each forward their own stripe: each gets a third of a WAN link
    return [(link.latency, link.bandwidth / 8 / servers) for link in scenario.topology.links], servers


def test_shipped_chain_matches_the_analytic_pipeline(tmp_path):
    scenario = load(SCENARIOS / "chain.yaml")
    hops, servers = _hops(scenario)
    chunks = int(scenario.models[0].size_bytes / scenario.chain.chunk)
    expected = pipelined_completion(hops, scenario.chain.chunk, chunks // servers)
    summary = run(scenario, tmp_path)
    assert summary["model_ready_s"]["singapore"] == pytest.approx(expected, rel=1e-3)
    assert summary["model_ready_s"]["frankfurt"] < summary["model_ready_s"]["virginia"] < summary["model_ready_s"]["singapore"]


def two_hops(small: dict) -> dict:
    """One server per DC, chain train -> a -> b; the hop to b is four times slower."""
    small["strategy"] = "chain"
    small["chain"] = {"chunk": "100MB", "order": ["a", "b"]}
    small["topology"]["wan"]["mesh"] = False
    small["topology"]["links"] = [
        {"between": ["train", "a"], "bandwidth": "8Gbps", "latency": "10ms"},
        {"between": ["a", "b"], "bandwidth": "2Gbps", "latency": "30ms"},
    ]
    return small


def test_slowest_hop_sets_the_pace(small, tmp_path):
    two_hops(small)
    fast, slow = (0.010, 1e9), (0.030, 0.25e9)
    summary = run(validate(small), tmp_path / "base")
    assert summary["model_ready_s"]["b"] == pytest.approx(pipelined_completion([fast, slow], 100e6, 10), rel=1e-9)

    small["topology"]["links"][0]["bandwidth"] = "16Gbps"  # a faster fast hop barely matters
    faster_first = run(validate(small), tmp_path / "fast")["model_ready_s"]["b"]
    assert faster_first == pytest.approx(pipelined_completion([(0.010, 1.25e9), slow], 100e6, 10), rel=1e-9)
    assert summary["model_ready_s"]["b"] - faster_first < 0.05


def test_a_slow_link_slows_its_hop_by_its_factor_and_so_the_whole_pipeline(small, tmp_path):
    # the fast hop 8 times slower for the whole run: it becomes the slowest hop
    # (1 Gbps / 8 = 0.125 GB/s < 0.25 GB/s) and sets the pace
    two_hops(small)
    small["faults"] = [{"kind": "slow_link", "link": "wan:train->a", "factor": 8, "at": "0s"}]
    summary = run(validate(small), tmp_path / "slow")
    expected = pipelined_completion([(0.010, 1e9 / 8), (0.030, 0.25e9)], 100e6, 10)
    assert summary["model_ready_s"]["b"] == pytest.approx(expected, rel=1e-9)
    assert summary["faults"]["injected"] == [{"fault": 0, "kind": "slow_link", "at_s": 0.0, "recovered_s": None}]
