"""Central push with two-phase commit: every DC sees the model when the commit arrives."""

import pytest

from ekkosim.runner import run
from ekkosim.scenario import validate


def test_commit_waits_for_every_acknowledgement(small, tmp_path):
    small["strategy"] = "central_push"
    small["topology"]["datacenters"][2]["nic"] = "4Gbps"  # b receives slower: 1 GB at 0.5 GB/s
    summary = run(validate(small), tmp_path)
    # a: 0.625 GB/s until b... by hand: the sender NIC (1.25 GB/s) is shared; b is capped at
    # 0.5 GB/s by its NIC, so a gets 0.75 GB/s: a done at 0.01 + 1/0.75; b at 0.01 + 2 s.
    prepared_b = 0.01 + 2.0
    # b's ack takes 10 ms back to train; the commit 10 ms out to every DC
    assert summary["model_ready_s"] == {"a": pytest.approx(prepared_b + 0.02, rel=1e-12),
                                        "b": pytest.approx(prepared_b + 0.02, rel=1e-12)}


def test_without_commit_each_dc_is_ready_when_its_copy_is(small, tmp_path):
    small["strategy"] = "central_push"
    small["central_push"] = {"commit": False}
    small["topology"]["datacenters"][2]["nic"] = "4Gbps"
    summary = run(validate(small), tmp_path)
    assert summary["model_ready_s"]["a"] == pytest.approx(0.01 + 1 / 0.75, rel=1e-12)
    assert summary["model_ready_s"]["b"] == pytest.approx(0.01 + 2.0, rel=1e-12)
