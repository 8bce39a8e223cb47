"""Where a key's row is: the hash table against a Python dict, and the dense index."""

import hashlib
from pathlib import Path

import numpy as np
import pytest

from ekkosim.ps import _probe, key_index
from ekkosim.ps.key_index import DenseIndex, KeyIndex
from ekkosim.ps.store import shard_keys


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_find_and_add_agree_with_a_dict_through_growth(seed):
    rng = np.random.default_rng(seed)
    index, rows = KeyIndex(), {}
    base = 2**40 - 3000  # keys near 2^40, a key space of 10^11 rows
    pool = rng.permutation(np.arange(base, base + 6000, dtype=np.int64))
    pool[:50] = rng.integers(0, 2**62, 50)  # some far apart too
    start = 0
    for size in [1, 0, 7, 300, 1, 900, 2000]:  # the table starts with 1024 slots: grows twice
        batch = pool[start : start + size]
        added = index.add(batch)
        assert added.tolist() == list(range(len(rows), len(rows) + size))
        rows.update(zip(batch.tolist(), added.tolist()))
        start += size
        probe = np.concatenate([pool[: start + 100], rng.integers(0, 2**62, 20)])
        expected = [rows.get(k, -1) for k in probe.tolist()]
        assert index.find(probe).tolist() == expected
        assert index.size == len(rows)
    assert index.find(np.zeros(0, dtype=np.int64)).size == 0


def test_keys_of_one_home_slot_probe_past_each_other_and_wrap_around():
    index = KeyIndex()
    candidates = np.arange(2**40, 2**40 + 200_000, dtype=np.int64)
    shift = np.uint64(64 - index._bits)
    home = np.array([_probe.home(int(key), shift) for key in candidates])  # the table's hash
    last = (1 << index._bits) - 1
    colliding = candidates[home == last][:6]  # same home, the last slot: probes wrap to slot 0
    assert colliding.size == 6
    others = candidates[home == 0][:2]  # their home is where the wrapped probes land
    first = index.add(np.concatenate([others[:1], colliding[:3]]))  # one batch: 3 keys race for one slot
    second = index.add(np.concatenate([colliding[3:], others[1:]]))
    keys = np.concatenate([others[:1], colliding[:3], colliding[3:], others[1:]])
    assert index.find(keys).tolist() == first.tolist() + second.tolist() == list(range(8))
    assert index.find(candidates[home == last][6:10]).tolist() == [-1] * 4  # absent, same probe chain


def test_an_empty_index_finds_nothing():
    assert KeyIndex().find(np.array([0, 5, 2**40])).tolist() == [-1, -1, -1]


def test_dense_index_numbers_rows_by_holding_then_local_index():
    shards = np.array([1, 3])
    n_keys = shard_keys(10, 4, shards)  # model of 10 keys in 4 shards: shard 1 has 1, 5, 9; shard 3 has 3, 7
    assert n_keys.tolist() == [3, 2]
    index = DenseIndex(shards, n_keys, 4)
    assert index.size == 5
    assert index.keys.tolist() == [1, 5, 9, 3, 7]
    assert index.find(np.array([7, 1, 9, 3, 5])).tolist() == [4, 0, 2, 3, 1]


def test_an_index_refuses_more_rows_than_its_slots_can_number(monkeypatch):
    monkeypatch.setattr(key_index, "MAX_ROWS", 3)
    index = KeyIndex()
    index.add(np.array([5, 9]))
    with pytest.raises(OverflowError, match="at most 3 rows"):
        index.add(np.array([1, 2]))
    assert index.size == 2 and index.find(np.array([9, 1])).tolist() == [1, -1]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_missing_rows_are_the_next_rows_in_order_and_found_after_through_growth(seed):
    """`add_missing_rows`: what `add` of the keys without a row would give, written into the
    rows `find` gave, the held keys' rows untouched."""
    rng = np.random.default_rng(seed)
    index, rows = KeyIndex(), {}
    pool = rng.permutation(np.arange(2**40, 2**40 + 5000, dtype=np.int64))
    for size in [1, 0, 7, 300, 1, 900, 2000, 1500]:  # held and new keys mixed; the table grows twice
        batch = rng.choice(pool, size=size, replace=False)
        found = index.find(batch)
        expected = found.copy()
        missing = found < 0
        expected[missing] = np.arange(len(rows), len(rows) + int(missing.sum()))
        assert index.add_missing_rows(batch, found) == int(missing.sum())
        assert found.tolist() == expected.tolist()
        rows.update(zip(batch.tolist(), found.tolist()))
        assert index.size == len(rows) and index.keys[found].tolist() == batch.tolist()
        assert index.find(pool).tolist() == [rows.get(k, -1) for k in pool.tolist()]


def test_missing_rows_beyond_the_limit_are_refused_held_ones_are_not(monkeypatch):
    monkeypatch.setattr(key_index, "MAX_ROWS", 3)
    index = KeyIndex()
    index.add(np.array([5, 9]))
    rows = index.find(np.array([5, 9, 4]))
    assert index.add_missing_rows(np.array([5, 9, 4]), rows) == 1 and rows.tolist() == [0, 1, 2]
    with pytest.raises(OverflowError, match="at most 3 rows"):
        index.add_missing_rows(np.array([7, 5]), index.find(np.array([7, 5])))
    assert index.size == 3 and index.find(np.array([4, 7])).tolist() == [2, -1]


@pytest.mark.parametrize("seed", [0, 1])
def test_group_entries_gathers_each_found_keys_group_in_order_as_a_dict_of_lists_would(seed):
    """`_probe.group_entries`: per key asked (repeats and keys without a row included), in
    order, its group's entries; what `of_keys` of the latency tracker reads."""
    rng = np.random.default_rng(seed)
    groups = {int(k): rng.integers(0, 50, rng.integers(1, 4)).tolist() for k in rng.choice(2**40, 30, replace=False)}
    index = KeyIndex()
    index.add(np.array(list(groups), dtype=np.int64))
    count = np.array([len(v) for v in groups.values()])
    first = np.concatenate([[0], np.cumsum(count)[:-1]])
    order = np.array([e for v in groups.values() for e in v], dtype=np.int64)
    asked = np.concatenate([rng.choice(np.array(list(groups)), 12), rng.integers(0, 2**40, 5)])
    rng.shuffle(asked)
    at, entries = _probe.group_entries(*index.table, asked, first, count, order)
    expected = [(i, e) for i, key in enumerate(asked.tolist()) for e in groups.get(key, [])]
    assert list(zip(at.tolist(), entries.tolist())) == expected
    with pytest.raises(IndexError, match="a group beyond the entries"):
        _probe.group_entries(*index.table, asked, first, count, order[:0])


def test_the_kernels_that_compile_the_probes_in_name_their_source():
    """`_kernels.apply_versions` holds `_probe.place_missing` compiled in, and Numba's cache
    knows it by `_kernels.py` alone: an edit of `_probe.py` must change `_kernels.py` too (its
    `PROBE_SOURCE`), or a warm cache would run the old probes where a fresh checkout runs the new."""
    from ekkosim.ps import _kernels

    source = hashlib.sha256(Path(_probe.__file__).read_bytes()).hexdigest()
    assert _kernels.PROBE_SOURCE == source, "ekkosim/ps/_probe.py changed: set _kernels.PROBE_SOURCE to its SHA-256"
