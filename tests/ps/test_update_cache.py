"""The update cache and its floors, mostly on one shard of 10 keys with a cache of 2 keys (the
store trims each time it has taken 2 changes), on both store layouts."""

import numpy as np
import pytest

from ekkosim.ps.pull import answer_cursor, answer_knowledge
from ekkosim.ps.update_cache import WARM_SEQ
from tests.ps.stores import make_store, sorted_keys

ONE = np.array([0])


def _origin_with_writes(layout, *batches):
    store = make_store(10, 1, [0], layout, cache=2)
    for t, keys in enumerate(batches, start=1):
        keys = np.array(keys)
        store.write(0, keys, np.full(keys.size, float(t)), now=float(t))
    return store


def _cursor(store, cursor):
    return answer_cursor(store, ONE, np.array([cursor]), use_cache=True)


def test_cache_answers_since_a_cursor_from_its_tail(layout):
    store = _origin_with_writes(layout, [1], [2], [3])  # shard versions 1, 2, 3; nothing evicted
    answer = _cursor(store, 1)
    assert sorted_keys(answer) == [2, 3] and answer.cache_entries == 2 and answer.full_scans == 0
    answer = _cursor(store, 3)
    assert len(answer) == 0 and answer.cache_entries == 0 and answer.moved.size == 0


def test_stale_entries_are_skipped(layout):
    store = _origin_with_writes(layout, [1], [2], [1])  # key 1 changed again at version 3
    rows, seqs = store.since(0)
    assert store.keys[rows].tolist() == [2, 1] and seqs.tolist() == [2, 3]
    answer = _cursor(store, 0)
    assert sorted_keys(answer) == [1, 2] and answer.cache_entries == 2 and answer.full_scans == 0


def test_a_hot_key_keeps_one_journal_entry_when_the_journal_would_grow(layout):
    """300 changes of one key between two trims (a cache of 1,000): the journal drops the stale
    entries rather than grow past its first 64, and the cache still answers every key once."""
    store = make_store(10, 1, [0], layout, cache=1000)
    store.write(0, np.array([2, 3]), np.ones(2), now=0.5)
    for t in range(1, 301):
        store.write(0, np.array([1]), np.array([float(t)]), now=float(t))
    assert store.journal.n <= 64 and store.journal._rows.size == 64  # never grown
    rows, seqs = store.since(0)
    assert store.keys[rows].tolist() == [2, 3, 1] and seqs.tolist() == [1, 1, 301]
    answer = _cursor(store, 0)
    assert sorted_keys(answer) == [1, 2, 3] and answer.cache_entries == 3 and answer.full_scans == 0
    assert store.values(np.array([1])).tolist() == [300.0]


def test_after_dropping_stale_entries_each_holding_reads_its_changes_after_any_bound(layout):
    """Three shard copies, a few hot keys written again and again between trims (a cache of 1,000),
    so that the journal drops its stale entries many times: what a holding changed after a shard
    version is still each of its rows changed after it, once, in clock order."""
    store = make_store(30, 3, [0, 1, 2], layout, cache=1000)
    rng = np.random.default_rng(3)
    hot = np.array([0, 1, 2, 3, 4, 5, 9, 12, 27])
    for t in range(1, 400):
        keys = np.unique(rng.choice(hot, size=rng.integers(1, 4)))
        store.write(0, keys, np.full(keys.size, float(t)), now=float(t))
    assert store.journal.n < 64  # about the 9 rows changed, not the ~800 changes
    holdings = np.array([2, 0, 1])
    for after in ([0, 0, 0], [100, 250, 399], [390, 10, 200]):
        rows, which = store.changed_after(holdings, np.array(after))
        seqs = store.rows.seq[rows]
        assert np.all(np.diff(seqs) >= 0)  # clock order
        expected = {(r, j) for j, h in enumerate(holdings.tolist()) for r in range(len(store))
                    if store.rows.holding[r] == h and store.rows.seq[r] > after[j]}
        assert sorted(zip(rows.tolist(), which.tolist())) == sorted(expected) and expected


def test_eviction_raises_both_floors(layout):
    # five single-key writes: at the fourth the store trims, keeping the newest 2 of the 4 keys
    store = _origin_with_writes(layout, [1], [2], [3], [4], [5])
    rows, _ = store.since(store.cache.oldest())
    assert store.keys[rows].tolist() == [3, 4, 5]
    assert store.cache.seq_floor.tolist() == [2]  # keys 1 and 2 left, changed at shard versions 1 and 2
    assert store.cache.floor.tolist() == [[2]]  # their versions: origin 0, counters 1 and 2
    scan = _cursor(store, 1)  # the cache no longer covers cursor 1
    assert scan.full_scans == 1 and scan.scanned == 10 and scan.cache_entries == 0
    assert sorted_keys(scan) == [2, 3, 4, 5]
    cached = _cursor(store, 2)
    assert cached.full_scans == 0 and cached.cache_entries == 3 and sorted_keys(cached) == [3, 4, 5]


def test_knowledge_answers_need_knowledge_above_the_floor(layout):
    store = _origin_with_writes(layout, [1], [2], [3], [4], [5])
    scan = answer_knowledge(store, ONE, np.array([[1]]), use_cache=True)
    assert scan.full_scans == 1 and scan.scanned == 10 and sorted_keys(scan) == [2, 3, 4, 5]
    cached = answer_knowledge(store, ONE, np.array([[4]]), use_cache=True)
    assert sorted_keys(cached) == [5] and cached.cache_entries == 3 and cached.full_scans == 0


def test_each_shard_copy_keeps_its_own_floors(layout):
    """Two shard copies, caches of 2: the store trims once they have taken 4 changes together,
    and each copy evicts only beyond its own capacity."""
    store = make_store(20, 2, [0, 1], layout, cache=2)
    for t, key in enumerate([0, 2, 4, 1], start=1):  # shard 0: counters 1-3, clocks 1-3; shard 1: clock 4
        store.write(0, np.array([key]), np.array([float(t)]), now=float(t))
    assert store.cache.seq_floor.tolist() == [1, 0]  # shard 0 evicted key 0; shard 1 nothing
    assert store.cache.floor.tolist() == [[1], [0]]
    answer = answer_cursor(store, np.array([0, 1]), np.array([0, 0]), use_cache=True)
    assert sorted_keys(answer) == [0, 1, 2, 4]
    assert answer.full_scans == 1 and answer.scanned == 10 and answer.cache_entries == 1


def test_warm_entries_are_evicted_first_and_raise_the_warm_floor(layout):
    """Warm keys 0, 2 (shard 0) and 1, 3 (shard 1), counters 1 and 2, fill the caches of 2 at
    the start; the first trim evicts them before any written key."""
    store = make_store(20, 2, [0, 1], layout, cache=2, warm=2)
    assert store.cache.warm_entries.tolist() == [2, 2] and store.cache.seq_floor.tolist() == [0, 0]
    store.write(0, np.array([4, 6, 8]), np.ones(3), now=1.0)  # shard 0: counters 3-5, clock 2
    store.write(0, np.array([5]), np.ones(1), now=2.0)  # shard 1: counter 3, clock 3; 4 changes: trim
    # shard 0: 3 entries + 2 warm, 3 too many: both warm ones, then key 4, and with it the rest
    # of its change (keys 6 and 8); shard 1: one warm one
    assert store.cache.warm_entries.tolist() == [0, 1]
    assert store.cache.floor.tolist() == [[5], [1]]  # key 8's counter; warm key 1's counter
    assert store.cache.seq_floor.tolist() == [2, WARM_SEQ]
    # a warm puller that has seen only the warm start
    knowing = answer_knowledge(store, np.array([0, 1]), np.array([[2], [2]]), use_cache=True)
    assert sorted_keys(knowing) == [4, 5, 6, 8] and knowing.full_scans == 1 and knowing.scanned == 10
    assert knowing.cache_entries == 2  # key 5 and the warm key still cached in shard 1
    by_cursor = answer_cursor(store, np.array([0, 1]), np.array([WARM_SEQ, WARM_SEQ]), use_cache=True)
    assert sorted_keys(by_cursor) == [4, 5, 6, 8] and by_cursor.full_scans == 1 and by_cursor.cache_entries == 1


def test_every_key_the_floor_does_not_contain_is_cached(layout):
    """The floor's claim: a key whose version the floor does not contain is in the cache, that is
    among the entries a knowledge answer compares (changed after `seq_floor`)."""
    store = _origin_with_writes(layout, [1, 2, 3])  # one change of 3 keys, counters 1-3; trim keeps 2
    rows, _ = store.since(int(store.cache.seq_floor[0]))
    cached = set(store.keys[rows].tolist())
    _, _, origin, counter = store.versions(np.arange(10))
    uncovered = {k for k in range(10) if counter[k] > store.cache.floor[0, origin[k]]}
    assert uncovered <= cached, f"floor {store.cache.floor.tolist()} does not contain keys {uncovered - cached}, not cached"
