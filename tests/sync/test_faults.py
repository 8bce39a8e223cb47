"""Faults in runs of the ekko strategy: links that fail, servers and leaders that crash, pulls
that time out; every run checks the sync's invariants, and ends converged with nothing lost."""

import json
import re

import numpy as np
import pyarrow.parquet as pq
import pytest

from ekkosim.runner import run
from ekkosim.scenario import ScenarioError, load, validate
from tests.conftest import SCENARIOS, run_cli
from tests.sync.test_ekko import tiny


def three_dcs(**top) -> dict:
    """The tiny scenario grown to three DCs of two servers, two copies of 4 shards, updates all along."""
    data = tiny()
    data["models"][0] |= {"keys": 400, "shards": 4, "replicas": 2, "workload": {"rate": 2000}}
    data["workload"] |= {"duration": "2s"}
    data["sync"] |= {"drain": "2s", "retry": {"timeout": "1s", "backoff": "50ms", "max_backoff": "400ms"},
                     "election_timeout": "200ms"}
    data["topology"]["datacenters"] = [
        {"name": name, "role": role, "servers": 2, "nic": "1000Tbps"}
        for name, role in (("train", "training"), ("a", "inference"), ("b", "inference"))]
    return data | top


def simulate(tmp_path, data: dict) -> tuple[dict, dict]:
    summary = run(validate(data), tmp_path / "run", check=True)
    latency = pq.read_table(tmp_path / "run" / "latency.parquet").to_pydict()
    return summary, latency


def test_with_fixed_routes_a_failed_link_holds_its_dc_back_until_it_is_repaired_then_it_catches_up(tmp_path):
    data = three_dcs(faults=[{"kind": "link_down", "link": "wan:train<->a", "at": "0.5s", "recover": "0.9s"}],
                     network={"routing": "fixed"})
    summary, latency = simulate(tmp_path, data)
    assert summary["converged"] is True and summary["lost_updates"] == 0 and summary["undelivered"] == 0
    assert summary["failed_pulls"] > 0
    produced, arrived = np.array(latency["produced_s"]), np.array(latency["produced_s"]) + np.array(latency["latency_s"])
    dc = np.array(latency["dc"])
    # nothing produced during the outage reaches a before the repair; b never waits for it
    during = (produced > 0.5) & (produced < 0.9)
    assert np.all(arrived[during & (dc == "a")] >= 0.9)
    assert np.any(arrived[during & (dc == "b")] < 0.9)


def test_with_live_routes_pulls_go_around_a_failed_link_and_back_when_it_is_repaired(tmp_path):
    data = three_dcs(faults=[{"kind": "link_down", "link": "wan:train<->a", "at": "0.5s", "recover": "0.9s"}])
    summary, latency = simulate(tmp_path, data)
    assert summary["converged"] is True and summary["lost_updates"] == 0 and summary["undelivered"] == 0
    assert summary["failed_pulls"] > 0  # those under way on the link when it failed
    # a's pulls from train go through b meanwhile: flows between them start and end during the
    # outage (with fixed routes every one would fail), and nothing a gets waits for the repair
    flows = pq.read_table(tmp_path / "run" / "flows.parquet").to_pydict()
    start, end = np.array(flows["start_s"]), np.array(flows["end_s"])
    between = np.array([{s, d} == {"train", "a"} for s, d in zip(flows["src_dc"], flows["dst_dc"])])
    assert np.any(between & (start > 0.55) & (end < 0.85))
    produced, delay, dc = (np.array(latency[c]) for c in ("produced_s", "latency_s", "dc"))
    during = (produced > 0.55) & (produced < 0.85) & (dc == "a")
    assert delay[during].max() < 0.25


def test_a_partition_cuts_exactly_the_links_between_its_two_sides(tmp_path):
    # {a, b} from {train, c}: a still pulls from b (pull_graph) over their link, which is not cut,
    # and c from train; nothing crosses, even around (every link across is down)
    data = three_dcs(faults=[{"kind": "partition", "dcs": ["a", "b"], "at": "0.5s", "recover": "1.2s"}])
    data["topology"]["datacenters"].append({"name": "c", "role": "inference", "servers": 2, "nic": "1000Tbps"})
    data["sync"]["pull_graph"] = [{"dc": "a", "source": "b"}]
    summary, latency = simulate(tmp_path, data)
    assert summary["converged"] is True and summary["lost_updates"] == 0
    assert summary["faults"]["injected"][0]["recovered_s"] == 1.2
    produced, arrived, dc = (np.array(latency["produced_s"]), np.array(latency["produced_s"]) + np.array(latency["latency_s"]),
                             np.array(latency["dc"]))
    during = (produced > 0.5) & (produced < 1.2)
    assert np.all(arrived[during & np.isin(dc, ["a", "b"])] >= 1.2)  # the cut side waits for the repair
    assert np.all(arrived[during & (dc == "c")] < 1.2)  # the other side never notices


def test_a_partition_cuts_a_dc_off_and_heals(tmp_path):
    data = three_dcs(faults=[{"kind": "partition", "dcs": ["b"], "at": "0.2s", "recover": "1s"}])
    summary, latency = simulate(tmp_path, data)
    assert summary["converged"] is True and summary["lost_updates"] == 0
    produced, dc = np.array(latency["produced_s"]), np.array(latency["dc"])
    arrived = produced + np.array(latency["latency_s"])
    assert np.all(arrived[(produced > 0.2) & (produced < 1.0) & (dc == "b")] >= 1.0)


def test_a_crashed_server_recovers_its_replicas_from_its_peers(tmp_path):
    data = three_dcs(faults=[{"kind": "server_crash", "dc": "a", "server": 1, "at": "1s", "recover": "1.5s"}])
    summary, latency = simulate(tmp_path, data)
    assert summary["converged"] is True and summary["lost_updates"] == 0 and summary["undelivered"] == 0
    caught_up = summary["faults"]["injected"][0].pop("caught_up_s")
    assert summary["faults"]["injected"] == [
        {"fault": 0, "kind": "server_crash", "at_s": 1.0, "recovered_s": 1.5, "target": "a/ps1"}]
    # it led shards 1 and 3 in a: a/ps0 leads them after the election, and a/ps1 catches up from
    # it over the LAN, within a pull of its restart
    assert 1.5 < caught_up < 1.5 + 0.05
    # an update is delivered to a replica once: recovering what the crash lost is no delivery
    pairs = list(zip(latency["update"], latency["replica"]))
    assert len(pairs) == len(set(pairs))
    # server 1 leads shards 1 and 3 in a: their other copies led after the election, and the
    # sync carried on through them
    assert summary["faults"]["leader_changes"] == 2


def test_when_a_leader_dies_for_good_a_follower_leads_and_every_live_replica_converges(tmp_path):
    data = three_dcs(faults=[{"kind": "leader_crash", "dc": "a", "shard": 0, "at": "0.5s"}])
    summary, latency = simulate(tmp_path, data)
    assert summary["converged"] is True and summary["lost_updates"] == 0
    assert summary["faults"]["leader_changes"] == 2  # a/ps0 led shards 0 and 2
    # the dead server's replicas receive nothing after the crash; the live ones everything
    dead = np.isin(latency["replica"], ["a/ps0/shard0/copy0", "a/ps0/shard2/copy0", "a/ps0/shard1/copy1",
                                        "a/ps0/shard3/copy1"])
    arrived = np.array(latency["produced_s"]) + np.array(latency["latency_s"])
    assert np.all(arrived[dead] <= 0.5) and np.any(arrived[~dead] > 1.9)
    assert summary["undelivered"] > 0  # the updates the dead replicas never got


def test_a_pull_stalled_past_its_timeout_is_abandoned_and_retried(tmp_path):
    # a's downlink keeps nothing for 2 s: its pulls stall, time out after 1 s, and retry
    data = three_dcs(network={"congestion": [{"link": "downlink:a", "start": "0.5s", "end": "2.5s", "fraction": 0}]})
    data["topology"]["datacenters"][1]["downlink"] = "1000Tbps"
    summary, _ = simulate(tmp_path, data)
    assert summary["converged"] is True and summary["lost_updates"] == 0
    assert summary["failed_pulls"] > 0


def test_runs_without_faults_fail_no_pull(tmp_path):
    summary, _ = simulate(tmp_path, three_dcs())
    assert summary["failed_pulls"] == 0 and "faults" not in summary and summary["lost_updates"] == 0


@pytest.mark.parametrize("fault, message", [
    ({"kind": "server_crash", "dc": "a", "server": 2, "at": "1s"}, "faults[0].server: a has servers 0 to 1, not 2"),
    ({"kind": "leader_crash", "dc": "a", "shard": 4, "at": "1s"}, "faults[0].shard: model m has shards 0 to 3, not 4"),
    ({"kind": "leader_crash", "dc": "a", "model": "x", "at": "1s"}, "faults[0].model: unknown model 'x'"),
    ({"kind": "link_down", "link": "wan:a<->nowhere", "at": "1s"}, "faults[0].link: unknown DC 'nowhere'"),
    ({"kind": "link_down", "link": "lan:a", "at": "1s"}, "faults[0].link: expected uplink:DC, downlink:DC"),
    ({"kind": "partition", "dcs": ["a", "c"], "at": "1s"}, "faults[0].dcs[1]: unknown DC 'c'"),
    ({"kind": "manager_crash", "replica": 0, "at": "1s"}, "faults[0]: a manager replica crash needs manager.enabled: true"),
    ({"kind": "link_down", "link": "wan:a<->b", "at": "2s", "recover": "1s"},
     "faults[0]: `recover` (1s) must be after `at` (2s)"),
    ({"kind": "meteor", "at": "1s"}, "faults[0]: `kind` must be one of link_down, partition, server_crash, "
                                     "leader_crash, manager_crash, slow_server, slow_link, got 'meteor'"),
])
def test_a_fault_naming_what_does_not_exist_is_refused_with_its_field(fault, message):
    with pytest.raises(ScenarioError) as caught:
        validate(three_dcs(faults=[fault]))
    assert any(problem.startswith(message) for problem in caught.value.problems), caught.value.problems


def test_faults_need_the_ekko_strategy():
    with pytest.raises(ScenarioError, match=r"faults\[0\]: link_down works with strategy ekko only, not offline"):
        load(SCENARIOS / "broadcast_800s.yaml", ["faults=[{kind: link_down, link: 'uplink:train', at: 1s}]"])


@pytest.fixture(scope="module")
def faults_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("faults") / "run"
    result = run_cli("run", str(SCENARIOS / "faults.yaml"), "--check", "--out", str(out))
    return result, json.loads((out / "summary.json").read_text())


def test_the_shipped_faults_scenario_converges_under_the_checker_with_nothing_lost(faults_run):
    result, summary = faults_run
    assert result.returncode == 0, result.stderr
    assert summary["converged"] is True and summary["lost_updates"] == 0
    assert "lost updates" in result.stdout


def test_the_shipped_faults_scenario_breaks_one_of_everything(faults_run):
    _, summary = faults_run
    kinds = [entry["kind"] for entry in summary["faults"]["injected"]]
    assert sorted(kinds) == ["leader_crash", "link_down", "manager_crash", "partition", "server_crash"]
    assert all(entry["recovered_s"] is not None for entry in summary["faults"]["injected"])
    assert summary["faults"]["leader_changes"] > 0 and summary["failed_pulls"] > 0
    crash = summary["manager"]["crashes"][0]
    assert crash["at_s"] == 14.0 and summary["manager"]["elections"] >= 2 and summary["manager"]["replicas_agree"]


def test_a_restarted_replica_whose_whole_pull_outlasts_the_timeout_still_catches_up(tmp_path):
    # 25,000 warm keys a shard through 100 Mbps: the whole pull after the restart takes longer
    # than the 400 ms timeout; each timeout in a row doubles the next, so it gets through
    data = three_dcs(faults=[{"kind": "server_crash", "dc": "a", "server": 0, "at": "1s", "recover": "1.5s"}])
    data["models"][0] |= {"keys": 100_000, "value_bytes": "256B"}
    data["sync"] |= {"cache_size": 25_000, "warm_start": True, "election_timeout": "5s", "drain": "8s",
                     "retry": {"timeout": "400ms", "backoff": "50ms", "max_backoff": "400ms"}}
    data["topology"]["wan"] = {"bandwidth": "100Mbps", "latency": "20ms"}
    summary, _ = simulate(tmp_path, data)
    assert summary["converged"] is True and summary["lost_updates"] == 0 and summary["failed_pulls"] > 0


def test_a_peer_that_crashes_while_a_request_waits_for_its_cpu_fails_the_pull(tmp_path):
    # with two lanes, the leader's server crashes while a follower's request waits 2 s for its
    # core; the election retires the follower's express lane meanwhile (found by review: the
    # all lane's reply was once sized from the retired lane's pairs)
    data = three_dcs(scheduler={"enabled": True},
                     faults=[{"kind": "server_crash", "dc": "a", "server": 0, "at": "5s", "recover": "6.5s"}])
    data["models"][0] |= {"keys": 200, "shards": 1, "workload": {"rate": 500, "zipf": 0.0}}
    data["workload"] |= {"duration": "8s"}
    data["sync"] |= {"pull_interval": "4s", "drain": "30s", "costs": {"cpu_per_request": "2s"}}
    summary, _ = simulate(tmp_path, data)
    assert summary["converged"] is True and summary["lost_updates"] == 0 and summary["failed_pulls"] > 0


def test_a_timeout_below_a_pulls_round_trip_is_refused():
    with pytest.raises(ScenarioError, match=r"sync.retry.timeout: 50ms is not above the 60ms round trip of the "
                                            r"pulls of shanghai from shenzhen"):
        load(SCENARIOS / "faults.yaml", ["sync.retry.timeout=50ms"])


def test_a_dc_cut_off_for_good_is_listed_with_its_undelivered_pairs_and_censored_percentiles(tmp_path):
    data = three_dcs(faults=[{"kind": "partition", "dcs": ["a"], "at": "0.5s"}])
    summary, latency = simulate(tmp_path, data)
    by_dc = summary["latency_by_dc_s"]
    assert list(by_dc) == ["train", "a", "b"]  # every DC, even one that got nothing (train: its copies 1)
    assert sum(stats["undelivered"] for stats in by_dc.values()) == summary["undelivered"] > 0
    assert by_dc["b"]["undelivered"] == 0 and by_dc["b"]["p99_censored"] is False and by_dc["b"]["p99"] is not None
    a = by_dc["a"]
    # a got what was produced before the cut; everything later (3/4 of the run's updates) never
    assert a["count"] == int(np.sum(np.array(latency["dc"]) == "a")) and a["undelivered"] > a["count"]
    assert a["p99"] is None and a["p99_censored"] and a["mean"] is None and a["mean_censored"]
    assert a["undelivered_after_s"] == pytest.approx(summary["sim_time_s"] - 2.0, abs=0.05)  # the last batch's
    assert summary["latency_s"]["undelivered"] == summary["undelivered"] and summary["latency_s"]["p99"] is None
    assert summary["cross_dc_latency_s"] is None  # undetermined: a's pairs wait still


def _cli_run(tmp_path, data: dict, *args: str):
    path = tmp_path / "scenario.yaml"
    path.write_text(json.dumps(data))
    return run_cli("run", str(path), "--check", "--no-plots", "--out", str(tmp_path / "run"), *args)


def test_check_says_in_one_line_that_a_fault_never_repaired_explains_the_divergence(tmp_path):
    result = _cli_run(tmp_path, three_dcs(faults=[{"kind": "partition", "dcs": ["a"], "at": "0.5s"}]))
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().splitlines()[-1] == "not converged, as expected: fault 0 (partition of a) never repaired"
    assert re.search(r"│ a +│ inference +│ +> [\d.]+ │ +> [\d.]+ │ +> [\d.]+ │", result.stdout)


def test_check_says_a_fault_repaired_during_the_drain_explains_the_divergence(tmp_path):
    # repaired 0.1 s before the end: far too short a drain for a's backlog over 50 Mbps
    data = three_dcs(faults=[{"kind": "link_down", "link": "wan:train<->a", "at": "0.5s", "recover": "3.9s"}],
                     network={"routing": "fixed"})
    data["models"][0] |= {"keys": 40_000, "value_bytes": "1KB", "workload": {"rate": 20_000, "zipf": 0.0}}
    data["topology"]["wan"] = {"bandwidth": "50Mbps", "latency": "20ms"}
    result = _cli_run(tmp_path, data)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[-1] == (
        "not converged, as expected: fault 0 (link_down of wan:train<->a) repaired during the drain, at t = 3.900 s")


def test_check_fails_a_run_that_did_not_converge_though_no_fault_explains_it(tmp_path):
    # the fault comes after the end; the drain is too short for a's backlog over 5 Mbps
    data = three_dcs(faults=[{"kind": "link_down", "link": "wan:train<->a", "at": "30s"}])
    data["models"][0] |= {"keys": 40_000, "value_bytes": "1KB", "workload": {"rate": 20_000, "zipf": 0.0}}
    data["sync"] |= {"drain": "0.1s"}
    data["topology"]["wan"] = {"bandwidth": "5Mbps", "latency": "20ms"}
    result = _cli_run(tmp_path, data)
    assert result.returncode == 3, result.stderr
    assert re.fullmatch(r"error: not converged with every fault in the run repaired: [\d,]+ \(update, replica\) pairs "
                        r"undelivered \(a sync.drain too short, or a bug in the sync\)", result.stderr.splitlines()[-1])


def test_a_slow_servers_work_takes_factor_times_as_long_until_it_is_restored():
    import simpy

    from ekkosim.net.topology import Server
    from ekkosim.sync.cluster import Cluster

    env = simpy.Environment()
    cluster = Cluster(env, validate(three_dcs()))
    slow, other = Server("a", 0), Server("a", 1)

    def took(server, seconds):
        started = env.now
        env.run(env.process(cluster.work(server, seconds)))
        return env.now - started

    restore = cluster.slow_down(slow, 10)
    cluster.slow_down(slow, 4)  # a second, milder slowdown at once: the larger holds
    assert [took(slow, 0.5), took(other, 0.5)] == [5.0, 0.5]
    restore()
    assert took(slow, 0.5) == 2.0
    assert cluster.busy_s == {slow: 7.0, other: 0.5}
