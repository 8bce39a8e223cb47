"""The offline broadcast, against times computed by hand."""

import pytest

from ekkosim.runner import run
from ekkosim.scenario import load, validate
from tests.conftest import SCENARIOS


def test_book_example_100GB_to_5_DCs_at_5Gbps_takes_800s(tmp_path):
    summary = run(load(SCENARIOS / "broadcast_800s.yaml"), tmp_path)
    assert set(summary["model_ready_s"]) == {"dc1", "dc2", "dc3", "dc4", "dc5"}
    for ready in summary["model_ready_s"].values():
        assert ready == pytest.approx(800.0, rel=1e-3)
        # exactly: 20 ms of WAN latency, then 500 GB through 625 MB/s of uplink
        assert ready == pytest.approx(0.02 + 5 * 100e9 / (5e9 / 8), rel=1e-12)
    assert summary["bytes_wan"] == 5 * 100e9


def test_two_DCs_share_the_sender_NIC(small, tmp_path):
    # 1 GB to each of two DCs from one server: its 10 Gbps NIC (1.25 GB/s) is the bottleneck,
    # shared equally, so each copy moves at 0.625 GB/s after 10 ms of latency.
    summary = run(validate(small), tmp_path)
    assert summary["model_ready_s"] == {"a": pytest.approx(0.01 + 1.6, rel=1e-12), "b": pytest.approx(1.61, rel=1e-12)}


def test_checkpoint_and_validation_delay_the_broadcast(small, tmp_path):
    small["offline"] = {"checkpoint_time": "5min", "validation_time": "90s"}
    summary = run(validate(small), tmp_path)
    assert summary["model_ready_s"]["a"] == pytest.approx(300 + 90 + 1.61, rel=1e-12)


def test_congestion_period_changes_completion_as_computed_by_hand(small, tmp_path):
    # From 0.51 s to 1.01 s the WAN link to `a` keeps half of its 1 GB/s. By hand: both copies
    # move at 0.625 GB/s until 0.51 s (0.3125 GB each); then a at 0.5, b at 0.75 GB/s until
    # 1.01 s (a 0.5625, b 0.6875 GB); then 0.625 each: b ends at 1.51 s with a at 0.875 GB;
    # a's last 0.125 GB alone at the 1 GB/s WAN link: 1.635 s.
    small["network"] = {"congestion": [{"link": "wan:train->a", "start": "0.51s", "end": "1.01s", "fraction": 0.5}]}
    summary = run(validate(small), tmp_path)
    assert summary["model_ready_s"]["a"] == pytest.approx(1.635, rel=1e-12)
    assert summary["model_ready_s"]["b"] == pytest.approx(1.51, rel=1e-12)


def test_absolute_congestion_capacity_on_an_unlimited_uplink(small, tmp_path):
    # The training DC's uplink is unlimited; for the whole transfer it is capped at 4 Gbps
    # (0.5 GB/s), shared by the two copies: 2 GB / 0.5 GB/s = 4 s after the latency.
    small["network"] = {"congestion": [{"link": "uplink:train", "start": "0s", "end": "1h", "capacity": "4Gbps"}]}
    summary = run(validate(small), tmp_path)
    assert summary["model_ready_s"]["a"] == pytest.approx(4.01, rel=1e-12)


def test_until_stops_early_and_says_so(small, tmp_path):
    small["until"] = "1s"
    summary = run(validate(small), tmp_path)
    assert summary["complete"] is False
    assert summary["sim_time_s"] == 1.0
    assert summary["model_ready_s"] == {"a": None, "b": None}
