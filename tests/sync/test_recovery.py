"""A crashed server comes back from its peers (`ekkosim.sync.recovery`): a training-DC server
recovers its origins from every live copy before it takes writes again, trainers retry their
pushes meanwhile, exactly the versions no surviving copy held are lost, and a restarted server
serves no request until it has caught up."""

import numpy as np
import pyarrow.parquet as pq
import pytest

from ekkosim.net.topology import Server
from ekkosim.runner import run
from ekkosim.scenario import validate
from ekkosim.sync.cluster import ORIGIN, Cluster
from tests.sync.test_faults import three_dcs

# Keys of shards 0 and 2 (4 shards) have their origins on train/ps0, of shards 1 and 3 on train/ps1.
EARLY = [(0.05, key) for key in (0, 4, 8, 2, 6, 1, 3)]  # replicated everywhere long before the crash
LAST = [(0.55, key) for key in (0, 4, 8, 2, 6)]  # written at 0.6 s + the LAN's 100 us, on train/ps0
DURING = [(0.75, 12), (0.75, 5)]  # pushed while train/ps0 is down (key 12) and to train/ps1 (key 5)


def _scenario(tmp_path, crash_at: str) -> dict:
    trace = tmp_path / "trace.csv"
    trace.write_text("time_s,model,key,magnitude\n" + "".join(f"{t},m,{key},1.0\n" for t, key in EARLY + LAST + DURING))
    data = three_dcs(faults=[{"kind": "server_crash", "dc": "train", "server": 0, "at": crash_at, "recover": "1s"}])
    data["workload"] |= {"trace": str(trace)}
    return data


def _run(tmp_path, crash_at: str) -> tuple[dict, dict]:
    summary = run(validate(_scenario(tmp_path, crash_at)), tmp_path / "run", check=True)
    return summary, pq.read_table(tmp_path / "run" / "latency.parquet").to_pydict()


def test_an_origin_crashing_before_anyone_pulled_its_last_writes_loses_exactly_them(tmp_path):
    # 20 us after the writes of 0.6 s: no copy has pulled them yet (the LAN round trip alone is 200 us)
    summary, latency = _run(tmp_path, "600.12ms")
    assert summary["converged"] is True and summary["lost_updates"] == len(LAST)
    # and the lost updates are exactly the pairs never delivered: each to its 5 other copies
    assert summary["undelivered"] == len(LAST) * 5
    entry = summary["faults"]["injected"][0]
    assert entry["target"] == "train/ps0" and entry["recovered_s"] == 1.0
    assert 1.0 < entry["caught_up_s"] < 1.2  # the origins' whole pulls from a and b cross the WAN: 60 ms
    # key 12's push met the crash: the trainer pushed it again once train/ps0 had recovered, and
    # it was produced then; key 5's origin never went down
    produced = dict(zip(latency["key"], latency["produced_s"]))
    assert entry["caught_up_s"] <= produced[12] < entry["caught_up_s"] + 0.001
    assert produced[5] == pytest.approx(0.8001, abs=1e-6)


def test_an_origin_crashing_after_its_writes_were_pulled_loses_nothing(tmp_path):
    summary, _ = _run(tmp_path, "700ms")
    assert summary["converged"] is True and summary["lost_updates"] == 0 and summary["undelivered"] == 0
    assert summary["faults"]["injected"][0]["caught_up_s"] > 1.0


def test_a_server_catching_up_serves_no_request_its_next_copy_answers():
    import simpy

    cluster = Cluster(simpy.Environment(), validate(three_dcs()))
    restarted = Server("a", 1)  # holds copy 1 of shard 0; a/ps0 holds its copy 0
    cluster.stores[(restarted, 0)].write(ORIGIN, np.array([0]), np.array([5.0]), 1.0)
    assert cluster.serving_values(0, "a", np.array([0]), np.array([1])).tolist() == [5.0]
    cluster.catching_up.add(restarted)
    assert cluster.serving_values(0, "a", np.array([0]), np.array([1])).tolist() == [0.0]
