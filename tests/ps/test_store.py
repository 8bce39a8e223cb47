"""A server's store of shard copies: writes, applies, the base state of unwritten keys, and the
grouping of keys by shard; on both layouts."""

import numpy as np
import pytest

from ekkosim.ps.store import rows_by_shard, shard_keys
from ekkosim.ps.version import newer
from tests.ps.stores import make_store, same_state, state


def test_rows_by_shard_and_shard_keys():
    groups = rows_by_shard(np.array([7, 2, 4, 9, 3, 0]), 3)
    assert {s: p.tolist() for s, p in groups.items()} == {0: [3, 4, 5], 1: [0, 2], 2: [1]}
    assert list(groups) == [0, 1, 2] and list(rows_by_shard(np.array([4, 1]), 3)) == [1]
    assert shard_keys(10, 3, np.array([0, 1, 2])).tolist() == [4, 3, 3]


def test_where_held_says_which_keys_have_their_shard_here_and_its_holding(layout):
    store = make_store(12, 4, [1, 3], layout)  # holdings 0 and 1: shards 1 and 3
    held, holdings = store.where_held(np.array([5, 0, 7, 2, 11, 4]))  # shards 1, 0, 3, 2, 3, 0
    assert held.tolist() == [True, False, True, False, True, False] and holdings.tolist() == [0, 1, 1]
    held, holdings = make_store(12, 4, [], "dense").where_held(np.array([5, 0]))  # no shard held (no key: dense)
    assert held.tolist() == [False, False] and holdings.tolist() == []


def test_a_write_counts_per_shard_copy_and_moves_each_written_copy(layout):
    store = make_store(12, 3, [0, 2], layout)  # shard 0: keys 0, 3, 6, 9; shard 2: keys 2, 5, 8, 11
    change = store.write(0, np.array([5, 0, 2, 9]), np.array([1.0, 2.0, 3.0, 4.0]), now=1.5, high=np.array([1, 0, 0, 1], bool))
    assert change.holding.tolist() == [1, 0, 1, 0]
    assert change.counter.tolist() == [1, 1, 2, 2]  # each shard copy's own counters, in the order given
    assert change.prev_counter.tolist() == [0, 0, 0, 0] and change.time.tolist() == [1.5] * 4
    assert store.knowledge.tolist() == [[2], [2]] and store.version.tolist() == [1, 1]
    store.write(0, np.array([8]), np.array([5.0]), now=2.0)
    assert store.knowledge.tolist() == [[2], [3]] and store.version.tolist() == [1, 2]
    keys, time, origin, counter, value, high = state(store)
    assert keys.tolist() == [0, 2, 3, 5, 6, 8, 9, 11]
    assert counter.tolist() == [1, 2, 0, 1, 0, 3, 2, 0]
    assert value.tolist() == [2.0, 3.0, 0, 1.0, 0, 5.0, 4.0, 0]
    assert high.tolist() == [False, False, False, True, False, False, True, False]
    assert len(store) == (8 if layout == "dense" else 5)  # a row per key, or per written key


def test_apply_takes_the_newest_version_and_reports_what_it_replaced(layout):
    store = make_store(4, 1, [0], layout)
    store.write(0, np.array([0, 1]), np.array([1.0, 1.0]), now=2.0)  # counters 1, 2
    zero = np.zeros(3, dtype=np.int64)
    change = store.apply(zero, np.array([0, 1, 2]), np.array([1.0, 3.0, 1.0]), np.zeros(3, np.int16),
                         np.array([7, 8, 9]), np.array([5.0, 6.0, 7.0]), np.zeros(3, bool))
    assert change.keys.tolist() == [1, 2] and change.prev_counter.tolist() == [2, 0]
    assert change.prev_time.tolist() == [2.0, 0.0]
    assert store.values(np.arange(4)).tolist() == [1.0, 6.0, 7.0, 0.0]
    assert store.knowledge.tolist() == [[2]]  # an apply without knowledge leaves it as it was
    assert store.version.tolist() == [2]


def test_unwritten_keys_hold_the_base_state(layout):
    store = make_store(8, 2, [0, 1], layout, warm=3)  # 4 keys a shard; the first 3 of each warm
    store.set_base_value(lambda keys: keys * 10.0)
    _, time, origin, counter, value, _ = state(store)
    assert counter.tolist() == [1, 1, 2, 2, 3, 3, 0, 0] and not time.any() and not origin.any()
    assert value.tolist() == [0, 10, 20, 30, 40, 50, 60, 70]
    store.write(0, np.array([6]), np.array([-1.0]), now=1.0)  # shard 0's counter 4
    assert store.versions(np.array([6]))[3].tolist() == [4] and store.values(np.array([6, 7])).tolist() == [-1.0, 70.0]


def test_keys_of_shards_not_held():
    """A sparse store holds no version of them; a dense store's rows are its shards' own, so a key
    past them is an error (the compiled read checks no bounds of its own), not a stray read."""
    sparse = make_store(8, 2, [0], "sparse", warm=3)
    assert sparse.versions(np.array([1, 3]))[3].tolist() == [0, 0]
    dense = make_store(8, 2, [0], "dense")
    with pytest.raises(IndexError):
        dense.versions(np.array([9]))  # shard 1's offset is 0, its local number 4: row 4 of 4


def test_both_layouts_hold_the_same_state():
    stores = [make_store(30, 3, [0, 1, 2], layout, cache=2, warm=2) for layout in ("dense", "sparse")]
    rng = np.random.default_rng(5)
    for t in range(20):
        keys = rng.choice(30, size=rng.integers(1, 6), replace=False)
        for store in stores:
            store.write(0, keys, keys * 1.0 + t, now=float(t), high=keys % 2 == 0)
    assert same_state(*stores)
    assert all(np.array_equal(getattr(stores[0], name), getattr(stores[1], name)) for name in ("version", "knowledge"))
    assert all(np.array_equal(getattr(stores[0].cache, name), getattr(stores[1].cache, name))
               for name in ("seq_floor", "floor", "warm_entries"))


def test_apply_takes_exactly_what_the_newer_rule_says_and_unites_knowledge(layout):
    """An apply takes exactly the versions `newer` (time, then origin, then counter) says are
    newer than those held, on keys with a row and on warm keys without one; knowledge is united
    entry by entry (a compiled loop), and only the holdings whose knowledge grew, or that took a
    key, move their shard versions."""
    rng = np.random.default_rng(3)
    store = make_store(60, 3, [0, 2], layout, warm=4, n_origins=3)  # holdings 0, 1: shards 0, 2
    store.write(1, np.array([0, 2, 3, 5, 6, 8]), np.arange(6.0), now=1.0)
    for _ in range(20):
        keys = rng.choice(np.array([k for k in range(60) if k % 3 != 1]), size=8, replace=False)
        time = rng.choice([0.0, 1.0, 2.0], size=8)  # ties on time are common, as on warm keys
        origin, counter = rng.integers(0, 3, size=8).astype(np.int16), rng.integers(0, 4, size=8)
        _, t, o, c = store.versions(keys)
        expected = newer(time, origin, counter, t, o, c)
        knowledge = rng.integers(0, 6, size=(2, 3))
        before, version = store.knowledge.copy(), store.version.copy()
        change = store.apply(store.holdings_of(keys), keys, time, origin, counter, keys * 1.0, np.zeros(8, bool),
                             np.array([0, 1]), knowledge)
        assert change.keys.tolist() == keys[expected].tolist()
        assert change.prev_counter.tolist() == c[expected].tolist()
        assert change.prev_origin.tolist() == o[expected].tolist()
        assert change.prev_time.tolist() == t[expected].tolist()
        assert store.values(keys[expected]).tolist() == (keys[expected] * 1.0).tolist()
        assert np.array_equal(store.knowledge, np.maximum(before, knowledge))
        grown = (knowledge > before).any(axis=1)
        moved = grown.copy()
        moved[store.holdings_of(change.keys)] = True
        assert ((store.version != version) == moved).all()


def test_rewriting_every_held_key_at_once_is_read_back_whole(layout):
    """A rollback's republication: one write of every key the store holds (none new), the
    largest apply a run makes. Every reader sees it: the rows' versions and values, and the
    journal's entries after the last clock."""
    store = make_store(600, 3, [0, 2], layout, cache=1000, n_origins=2)
    keys = np.array([k for k in range(600) if k % 3 != 1][:12])
    store.write(1, keys, np.zeros(12), now=1.0)
    before = store.clock
    again = np.concatenate([keys, np.array([k for k in range(600) if k % 3 != 1][12:50])])  # and some new
    for written in (keys, again):
        store.write(1, written, written * 2.0, now=2.0 + written.size)
        assert store.values(written).tolist() == (written * 2.0).tolist()
        assert store.versions(written)[1].tolist() == [2.0 + written.size] * written.size
        rows, _ = store.since(store.clock - 1)
        assert sorted(store.keys[rows].tolist()) == sorted(written.tolist())
    assert store.clock == before + 2
    room = store.rows.room[0].size
    store.write(1, keys, keys * 3.0, now=99.0)  # held keys only: no new row, so no more room
    assert store.rows.room[0].size == room and store.values(keys).tolist() == (keys * 3.0).tolist()


def test_an_apply_grows_the_rows_only_for_the_keys_it_takes_that_have_none():
    """Versions no newer than the held ones (here the warm start's own, which no row stands
    for) are not taken: the rows, the index and the journal keep their room."""
    store = make_store(3000, 3, [0, 2], "sparse", cache=5000, warm=1000, n_origins=2)
    keys = np.array([k for k in range(3000) if k % 3 != 1])
    time, origin, counter = store.base_version(keys)
    room = (store.rows.room[0].size, store.index.table[0].size, store.journal.links[1].size)
    change = store.apply(store.holdings_of(keys), keys, time, origin, counter, np.ones(keys.size), np.zeros(keys.size, bool))
    assert change.keys.size == 0 and len(store) == 0
    assert (store.rows.room[0].size, store.index.table[0].size, store.journal.links[1].size) == room


def test_a_full_journal_drops_the_entries_an_apply_made_stale_before_it_grows():
    """Entries whose row changed again are stale (readers skip them): when the journal is full
    and at least a fifth of it stale, an apply drops them, its own superseded ones included,
    rather than grow."""
    store = make_store(6000, 3, [0, 2], "sparse", cache=10**6, n_origins=2)
    keys = np.array([k for k in range(6000) if k % 3 != 1])  # 4000 keys
    for now in (1.0, 2.0, 3.0):
        store.write(1, keys, np.full(keys.size, now), now=now)
    live, _ = store.since(0)
    assert store.journal.n == live.size == keys.size


def test_a_columns_reserve_shows_its_new_room_through_the_views():
    """Growing the room replaces the arrays: the views of the rows move to the new ones."""
    from ekkosim.ps.store import _Columns

    columns = _Columns()
    columns.extend(3)
    columns.time[:] = [1.0, 2.0, 3.0]
    columns.reserve(100)
    columns.room[1][0] = 7.0  # (the time column, written where a compiled writer writes)
    assert columns.room[1].size >= 103 and columns.time.tolist() == [7.0, 2.0, 3.0]


def test_inputs_that_do_not_fit_the_store_raise_rather_than_reach_past_its_arrays():
    """The compiled loops check no bounds of their own: what does not fit raises."""
    store = make_store(12, 3, [0, 2], "sparse", cache=4, n_origins=2)
    keys, zero = np.array([0, 2]), np.zeros(2, dtype=np.int64)
    with pytest.raises(ValueError, match="a version for each key"):
        store.apply(zero, keys, np.ones(1), np.zeros(2, np.int16), np.ones(2, np.int64), np.ones(2), np.zeros(2, bool))
    with pytest.raises(ValueError, match="knowledge row for each holding"):
        store.apply(zero[:0], keys[:0], np.ones(0), np.zeros(0, np.int16), zero[:0], np.ones(0), np.zeros(0, bool),
                    np.array([0, 1]), np.ones((1, 2), dtype=np.int64))
    with pytest.raises(IndexError, match="a holding beyond"):
        store.apply(zero[:0], keys[:0], np.ones(0), np.zeros(0, np.int16), zero[:0], np.ones(0), np.zeros(0, bool),
                    np.array([2]), np.ones((1, 2), dtype=np.int64))
    with pytest.raises(IndexError, match="an origin beyond"):
        store.write(2, keys, np.ones(2), now=1.0)
    store.write(1, keys, np.ones(2), now=1.0)
    with pytest.raises(IndexError, match="beyond the rows' clocks"):
        store.journal.of_holdings(np.array([0]), np.array([0]), np.zeros(0, dtype=np.int64))
    assert store.knowledge.tolist() == [[0, 1], [0, 1]]  # only the write that fitted counted
    clock, rows, entries = store.clock, len(store), store.journal.n
    with pytest.raises(IndexError, match="a holding beyond its holdings"):  # checked before anything is written
        store.apply(np.array([0, 5]), np.array([0, 5]), np.full(2, 2.0), np.ones(2, np.int16), np.ones(2, np.int64),
                    np.ones(2), np.zeros(2, bool))
    assert (store.clock, len(store), store.journal.n, store.index.find(np.array([5])).tolist()) == (clock, rows, entries, [-1])
    with pytest.raises(IndexError, match="a holding beyond the journal's"):
        store.journal.append(np.array([0]), np.array([7]), 9)


def test_a_write_takes_a_time_and_values_of_any_number_type():
    """The compiled writes take float64 columns: a write converts an int time and int values."""
    store = make_store(12, 3, [0, 2], "sparse", cache=4, n_origins=2)
    change = store.write(1, np.array([0, 2]), [3, 4], now=2)
    assert change.time.tolist() == [2.0, 2.0] and store.values(np.array([0, 2])).tolist() == [3.0, 4.0]
