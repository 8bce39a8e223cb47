"""The differential test: small scenarios run through the live ekko strategy and through the
oracle, the per-shard implementation frozen at e7c7ee6 (`tests.oracle`); their latency rows,
flows, final per-key states, knowledge and summaries must be equal, exactly
(`tests.oracle.compare`).

Every valid combination of the sync's switches (`sync.update_cache`, `sync.shard_version`,
`sync.local_leader`, `sync.warm_start`, `scheduler.enabled`, whose express lane needs shard
versions: 24 of the 32) gets `EXAMPLES` cases drawn by hypothesis: 2 to 4 DCs of 1 to 3 servers,
1 or 2 models of a few shards, replicas and hundreds of keys, caches that evict between two
pulls or do not, some custom pull graphs, and some random fault schedules, repaired before the
trainers stop or never. Both sides run with the invariant checker.
"""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ekkosim.scenario import validate
from tests.oracle import ekko as oracle
from tests.oracle.compare import assert_same, differences, results, simulate, table_difference
from tests.sync.test_faults_property import faults

SWITCHES = ("update_cache", "shard_version", "local_leader", "warm_start", "scheduler")
COMBINATIONS = [dict(zip(SWITCHES, values)) for values in itertools.product((False, True), repeat=len(SWITCHES))
                if values[1] or not values[4]]
EXAMPLES = 4  # per combination: hypothesis draws its simplest case (one key) first, then random ones
DURATION_S, FAULTY_DURATION_S = 0.5, 1.0  # the trainers' time, without and with faults


@st.composite
def models(draw, name: str, max_replicas: int) -> dict:
    return {
        "name": name, "keys": draw(st.integers(1, 600)), "value_bytes": "32B",
        "shards": draw(st.integers(1, 4)), "replicas": draw(st.integers(1, max_replicas)),
        "workload": {"rate": draw(st.sampled_from([400, 100, 2000])), "zipf": draw(st.sampled_from([1.0, 0.0, 1.5])),
                     "new_keys": draw(st.sampled_from([0.0, 0.2])), "hot_drift": draw(st.sampled_from([0, 200]))},
    }


@st.composite
def cases(draw, switches: dict[str, bool]) -> dict:
    """A small ekko scenario with `switches`."""
    n_dcs = draw(st.integers(2, 4))
    dcs = [{"name": f"dc{i}", "role": "training" if i == 0 else "inference", "servers": draw(st.integers(1, 3)),
            "cores": draw(st.integers(1, 4))} for i in range(n_dcs)]
    max_replicas = min(dc["servers"] for dc in dcs)
    sources = [draw(st.integers(0, i - 1)) for i in range(2, n_dcs)] if draw(st.booleans()) else []
    data = {
        "name": "differential", "seed": draw(st.integers(0, 2**31)), "strategy": "ekko",
        "models": [draw(models(name, max_replicas)) for name in ["m", "n"][: draw(st.integers(1, 2))]],
        "workload": {"duration": f"{DURATION_S}s", "batch_interval": draw(st.sampled_from(["20ms", "100ms", "50ms"])),
                     "trainers": draw(st.integers(1, 2))},
        "sync": {
            **{name: switches[name] for name in SWITCHES if name != "scheduler"},
            # a cache of a few entries evicts between two pulls: answers fall back to full scans
            "cache_size": draw(st.one_of(st.integers(64, 256), st.integers(1, 6))),
            "pull_interval": draw(st.sampled_from(["50ms", "100ms", "30ms"])), "drain": "1.5s",
            "pull_graph": [{"dc": f"dc{i + 2}", "source": f"dc{source}"} for i, source in enumerate(sources) if source],
        },
        "scheduler": {"enabled": switches["scheduler"]},
        "topology": {"wan": {"bandwidth": draw(st.sampled_from(["1Gbps", "50Mbps"])), "latency": "20ms"},
                     "datacenters": dcs},
        "network": {"routing": "fixed"},  # the oracle's routes never change (a failed link fails its flows)
        "output": {"latency_sample": draw(st.sampled_from([1, 3]))},
    }
    repair = draw(st.sampled_from(["none", "repaired", "never"]))
    if repair != "none":
        data["workload"]["duration"] = f"{FAULTY_DURATION_S}s"
        data["sync"] |= {"election_timeout": draw(st.sampled_from(["100ms", "300ms"])),
                         "retry": {"timeout": draw(st.sampled_from(["300ms", "1s"])), "backoff": "20ms",
                                   "max_backoff": draw(st.sampled_from(["100ms", "300ms"]))}}
        data["faults"] = draw(faults(data, FAULTY_DURATION_S))
        if repair == "never":  # the first fault, and maybe others, stay broken to the end
            for i, fault in enumerate(data["faults"]):
                if i == 0 or draw(st.booleans()):
                    fault["recover"] = None
    return data


def describe(data: dict) -> str:
    """A case in one line: its shape, switches, timings and faults (hypothesis prints it whole)."""
    sync = data["sync"]
    switches = [name for name in SWITCHES[:4] if sync[name]] + (["scheduler"] if data["scheduler"]["enabled"] else [])
    dcs = data["topology"]["datacenters"]
    faults_ = data.get("faults", [])
    return (f"seed {data['seed']}, {len(dcs)} DCs of {[dc['servers'] for dc in dcs]} servers, models "
            f"{[(m['keys'], m['shards'], m['replicas'], m['workload']['rate']) for m in data['models']]} "
            f"(keys, shards, replicas, rate), switches {'+'.join(switches) or 'none'}, cache {sync['cache_size']}, "
            f"batches every {data['workload']['batch_interval']}, pulls every {sync['pull_interval']}, "
            f"pull graph {sync['pull_graph']}, {len(faults_)} faults ({sum(f['recover'] is None for f in faults_)} "
            "never repaired)")


@pytest.mark.parametrize("switches", COMBINATIONS, ids=lambda s: "+".join(k for k, on in s.items() if on) or "none")
@given(st.data())
@settings(max_examples=EXAMPLES, deadline=None)
def test_the_live_run_equals_the_oracles(switches, data):
    case = data.draw(cases(switches), label="case")
    scenario = validate(case)
    live, reference = simulate(scenario), simulate(scenario, oracle.start)
    if evicts(case):
        assert_same_end(describe(case), live, reference)
    else:
        assert_same(describe(case), live, reference)


def evicts(case: dict) -> bool:
    """Can an update cache of the case evict what a pull compares? The live store evicts when the
    server trims, the oracle's shard replica when its buffer is full (docs/sync.md): their
    timings then differ. A cache evicts written keys only if a shard may have more of them than
    it holds (at most one per update: twice the expected count bounds a Poisson draw here), and
    its warm keys as soon as it takes writes, which only knowledge pulls count, and a restarted
    server's first pull (below)."""
    sync, duration_s = case["sync"], float(case["workload"]["duration"].rstrip("s"))
    written = any(min(-(-model["keys"] // model["shards"]), 2 * model["workload"]["rate"] * duration_s)
                  > sync["cache_size"] for model in case["models"])
    # A server restarted after a crash pulls from cursor 0: the oracle's cache still lists the warm
    # keys and sends them, the live store's journal never held them and sends none (both hold them).
    restarts = any(fault["kind"] in ("server_crash", "leader_crash") for fault in case.get("faults", []))
    return sync["update_cache"] and (written or (sync["warm_start"] and (not sync["shard_version"] or restarts)))


def assert_same_end(description: str, live, reference) -> None:
    """Caches that evict at other times move timings; where both runs converged they end in the
    same state, knowledge and counts of updates."""
    live_results, oracle_results = results(live), results(reference)
    for name in ("converged", "lost_updates", "updates", "sampled_updates"):
        assert live_results["summary"][name] == oracle_results["summary"][name], (description, name)
    if live_results["summary"]["converged"]:
        found = [line for line in differences(live_results, oracle_results) if line.startswith(("table state", "table knowledge"))]
        assert not found, f"{description}: the converged states differ\n" + "\n".join(found)


SMALL = {
    "name": "differential", "seed": 11, "strategy": "ekko",
    "models": [{"name": "m", "keys": 40, "value_bytes": "32B", "shards": 2, "replicas": 2,
                "workload": {"rate": 1000, "new_keys": 0.0}}],
    "workload": {"duration": "0.3s", "batch_interval": "10ms"},
    # no update cache: every answer is a full scan (caches that evict differ in timing: `evicts`)
    "sync": {"update_cache": False, "pull_interval": "50ms", "drain": "0.5s"},
    "scheduler": {"enabled": True},
    "topology": {"wan": {"latency": "20ms"}, "datacenters": [
        {"name": "train", "role": "training", "servers": 2}, {"name": "a", "role": "inference", "servers": 2}]},
}


@pytest.fixture(scope="module")
def small_runs():
    """SMALL through the live strategy and the oracle: their results."""
    scenario = validate(SMALL)
    return results(simulate(scenario)), results(simulate(scenario, oracle.start))


def test_the_small_case_is_equal_and_not_trivial(small_runs):
    live, reference = small_runs
    assert differences(live, reference) == []
    assert live["summary"]["converged"] is True and live["summary"]["full_scans"] > 0
    assert len(live["latency"]["update"]) > 0 and len(live["state"]["key"]) > 0
    # every live replica of both shards, 2 DCs x 2 copies, knows the origin's writes
    assert len(live["knowledge"]["replica"]) == 8


def test_the_state_and_knowledge_tables_follow_their_contract(small_runs):
    """SMALL converged: its 8 replicas (2 shards, 2 DCs, 2 copies) hold the origin's versions of
    their shard's model keys (key mod 2 is the shard), and know the origin's last counter."""
    state, knowledge = small_runs[1]["state"], small_runs[1]["knowledge"]
    names = [f"0/{shard}/{dc}/{copy}" for shard in (0, 1) for dc in ("train", "a") for copy in (0, 1)]
    assert list(dict.fromkeys(state["replica"])) == names and knowledge["replica"].tolist() == names
    for name in names:
        rows = state["replica"] == name
        origin = state["replica"] == name[:4] + "train/0"
        assert (state["key"][rows] % 2 == int(name[2])).all() and (np.diff(state["key"][rows]) > 0).all()
        for column in ("key", "time", "origin", "counter", "value", "high"):
            assert np.array_equal(state[column][rows], state[column][origin])
        assert knowledge["counter"][names.index(name)] == state["counter"][origin].max()
    assert (state["counter"] > 0).all() and (knowledge["origin"] == 0).all()


@pytest.mark.parametrize("table, column", [("state", "value"), ("latency", "latency_s"), ("knowledge", "counter"),
                                           ("flows", "end_s"), ("state", "replica")])
def test_a_changed_cell_is_named_with_both_values(small_runs, table, column):
    live, reference = small_runs
    changed = {name: columns.copy() for name, columns in live[table].items()}
    cells = changed[column].copy()
    row = len(cells) // 2
    was = cells[row]
    cells[row] = was + 1 if not isinstance(was, str) else was + "x"
    changed[column] = cells
    message = table_difference(changed, reference[table])
    assert message.startswith(f"column {column}, row {row}: live {cells[row:row + 1].tolist()[0]!r}, "
                              f"oracle {reference[table][column][row:row + 1].tolist()[0]!r}")


def test_missing_rows_and_changed_dtypes_are_named(small_runs):
    live, reference = small_runs
    state = reference["state"]
    shorter = {name: column[:-1] for name, column in state.items()}
    assert table_difference(shorter, state).startswith(f"{len(state['key']) - 1} rows live, {len(state['key'])} oracle")
    narrower = state | {"origin": state["origin"].astype("int16")}
    assert table_difference(narrower, state) == "column origin: dtype live int16, oracle int64"


def test_a_summary_difference_is_named(small_runs):
    live, reference = small_runs
    changed = live | {"summary": live["summary"] | {"keys_sent": live["summary"]["keys_sent"] + 1}}
    assert differences(changed, reference) == [
        f"summary: field keys_sent: live {live['summary']['keys_sent'] + 1}, oracle {live['summary']['keys_sent']}"]


def test_a_broken_live_strategy_fails_the_comparison_with_the_case_named(monkeypatch):
    """A live puller that answers one microsecond slower: the flows, the latency rows and the
    summary differ, and the message says where first."""
    import ekkosim.sync.puller as puller

    answer_cpu_s = puller._answer_cpu_s
    monkeypatch.setattr(puller, "_answer_cpu_s", lambda *args: answer_cpu_s(*args) + 1e-6)
    scenario = validate(SMALL)
    with pytest.raises(AssertionError) as failure:
        assert_same("SMALL", simulate(scenario), simulate(scenario, oracle.start))
    message = str(failure.value)
    assert message.startswith("case SMALL: the live run differs from the oracle's")
    assert "table latency: column latency_s, row " in message and "table flows: column start_s, row 1: " in message
    assert "summary: field latency_s.mean: live " in message


def test_the_oracle_refuses_the_quality_model_and_the_manager():
    with pytest.raises(ValueError, match="quality.enabled: the oracle has no quality model"):
        simulate(validate(SMALL | {"quality": {"enabled": True}}), oracle.start)
    managed = validate(SMALL)
    managed.manager.enabled = True  # validation would want the quality model too, refused first
    with pytest.raises(ValueError, match="manager.enabled: the oracle has no manager model"):
        simulate(managed, oracle.start)
