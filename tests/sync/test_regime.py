"""The regime report and what a pull carries: a request's size by hand, with and without shard
versions, at any knowledge size; the compare's CPU; the regime's shares from a trace."""

import pytest

from ekkosim.runner import run
from ekkosim.scenario import validate
from tests.sync.test_ekko import ZERO_COSTS, tiny

HEADER, ENTRY, SHARD_VERSION = 64, 8, 8
SHARDS = 4


def _four_shards(tmp_path, rows: str, **sync) -> dict:
    """`tiny` with 4 shards of 10 keys on one server per DC, a trace of `rows`, and byte costs."""
    trace = tmp_path / "trace.csv"
    trace.write_text("time_s,model,key,magnitude\n" + rows)
    data = tiny(**sync)
    data["models"][0] |= {"keys": 40, "shards": SHARDS}
    data["workload"] |= {"trace": str(trace)}
    data["sync"]["costs"] = ZERO_COSTS | {"header_bytes": f"{HEADER}B", "vector_entry_bytes": f"{ENTRY}B",
                                          "shard_version_bytes": f"{SHARD_VERSION}B"} | sync.get("costs", {})
    return data


@pytest.mark.parametrize("entries", [1, 3, 40])
def test_a_request_without_shard_versions_carries_every_shards_knowledge(tmp_path, entries):
    data = _four_shards(tmp_path, "0.05,m,3,1.5\n", shard_version=False, knowledge_entries=entries)
    summary = run(validate(data), tmp_path / "run")
    assert summary["regime"]["request_bytes_per_pull"] == HEADER + SHARDS * entries * ENTRY


@pytest.mark.parametrize("entries", [1, 40])
def test_a_request_with_shard_versions_carries_64_bits_a_shard_whatever_the_knowledge(tmp_path, entries):
    data = _four_shards(tmp_path, "0.05,m,3,1.5\n", knowledge_entries=entries)
    summary = run(validate(data), tmp_path / "run")
    assert summary["regime"]["request_bytes_per_pull"] == HEADER + SHARDS * SHARD_VERSION


def test_a_reply_carries_the_knowledge_of_each_shard_with_news(tmp_path):
    """Two keys of two shards written once: over the run, two shards answered, each with its
    shard version, a knowledge of `entries` entries and its key's 1-byte value; every other
    reply is a bare header."""
    entries = 5
    data = _four_shards(tmp_path, "0.05,m,0,1.0\n0.05,m,1,1.0\n", knowledge_entries=entries)
    data["sync"]["costs"] |= {"key_bytes": "0B", "version_bytes": "0B"}
    summary = run(validate(data), tmp_path / "run")
    regime, pulls = summary["regime"], summary["pulls"]
    assert summary["converged"] is True
    moved = regime["shards_moved_per_pull"] * pulls * SHARDS
    assert moved == pytest.approx(2)  # keys 0 and 1 lie in two shards (placement: key % shards)
    assert regime["reply_bytes_per_pull"] * pulls == pytest.approx(HEADER * pulls + 2 * (SHARD_VERSION + entries * ENTRY + 1))


def test_comparing_knowledge_costs_cpu_per_entry(tmp_path):
    """With every cost zero but the compare, the training server's core is busy shards x entries
    x the cost per entry for every request it answered (no key changes, so nothing is merged)."""
    entries, per_entry = 50, 1e-6
    data = _four_shards(tmp_path, "", shard_version=False, knowledge_entries=entries,
                        costs={"cpu_per_vector_entry": f"{per_entry * 1e6:g}us"})
    data["topology"]["datacenters"][0]["cores"] = 1
    summary = run(validate(data), tmp_path / "run")
    busiest = summary["regime"]["busiest"]
    assert busiest["kind"] == "cpu" and busiest["resource"].startswith("train/")
    answered = busiest["utilisation"] * summary["sim_time_s"] / (SHARDS * entries * per_entry)
    assert answered == pytest.approx(round(answered))  # whole requests, each compared in full
    # every completed pull, and perhaps the one the end of the run cut after its answer
    assert summary["pulls"] <= round(answered) <= summary["pulls"] + 1


@pytest.mark.parametrize("shard_version", [True, False])
def test_a_split_shard_is_asked_for_as_its_real_shards(tmp_path, shard_version):
    """Each simulated shard standing for 3 real ones: a request carries 3 x 4 shards' entries."""
    entries = 2
    data = _four_shards(tmp_path, "0.05,m,3,1.5\n", shard_version=shard_version, knowledge_entries=entries)
    data["models"][0]["shard_split"] = 3
    summary = run(validate(data), tmp_path / "run")
    per_shard = SHARD_VERSION if shard_version else entries * ENTRY
    assert summary["regime"]["request_bytes_per_pull"] == HEADER + 3 * SHARDS * per_shard


def test_a_split_shards_news_is_counted_by_real_shard(tmp_path):
    """Keys 1, 5 and 13 lie in simulated shard 1 of 4; split in 3, that is real shards 1, 5 and 1
    of 12 (key mod 12): two real shards with news, each answered with its shard version and
    knowledge, as if the simulated shard were those real ones."""
    entries = 5
    data = _four_shards(tmp_path, "0.05,m,1,1.0\n0.05,m,5,1.0\n0.05,m,13,1.0\n", knowledge_entries=entries)
    data["models"][0]["shard_split"] = 3
    data["sync"]["costs"] |= {"key_bytes": "0B", "version_bytes": "0B"}
    summary = run(validate(data), tmp_path / "run")
    regime, pulls = summary["regime"], summary["pulls"]
    assert summary["converged"] is True
    assert regime["shards_moved_per_pull"] * pulls * 3 * SHARDS == pytest.approx(2)
    assert regime["reply_bytes_per_pull"] * pulls == pytest.approx(HEADER * pulls + 2 * (SHARD_VERSION + entries * ENTRY) + 3)
