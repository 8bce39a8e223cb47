"""The update cache and its floors, on a shard of 10 keys with a cache of 2 keys."""

import numpy as np

from ekkosim.ps.shard import ShardReplica


def _origin_with_writes(*batches):
    shard = ShardReplica(10, n_origins=1, cache_capacity=2)
    for t, keys in enumerate(batches, start=1):
        keys = np.array(keys)
        shard.write(0, keys, np.full(keys.size, float(t)), now=float(t))
    return shard


def test_cache_answers_since_a_cursor_from_its_tail():
    shard = _origin_with_writes([1], [2], [3])  # shard versions 1, 2, 3; buffer holds 3 <= 2*2 entries
    keys, examined = shard.cache.since(1, shard)
    assert keys.tolist() == [2, 3] and examined == 2
    keys, examined = shard.cache.since(3, shard)
    assert keys.tolist() == [] and examined == 0


def test_stale_entries_are_skipped():
    shard = _origin_with_writes([1], [2], [1])  # key 1 changed again at version 3
    keys, _ = shard.cache.since(0, shard)
    assert keys.tolist() == [2, 1]


def test_eviction_raises_both_floors():
    # five single-key writes: the buffer (2 x 2 entries) is full at the fifth, so it first keeps
    # the newest 2 of the 4 it holds, then takes the fifth
    shard = _origin_with_writes([1], [2], [3], [4], [5])
    assert shard.cache.keys.tolist() == [3, 4, 5]
    assert shard.cache.seq_floor == 2  # keys 1 and 2 left, changed at shard versions 1 and 2
    assert shard.cache.floor.tolist() == [2]  # their versions: origin 0, counters 1 and 2
    assert shard.cache.since(1, shard) is None  # the cache no longer covers cursor 1
    assert shard.cache.since(2, shard)[0].tolist() == [3, 4, 5]


def test_knowledge_answers_need_knowledge_above_the_floor():
    shard = _origin_with_writes([1], [2], [3], [4], [5])
    assert shard.cache.unknown_to(np.array([1]), shard) is None
    keys, examined = shard.cache.unknown_to(np.array([4]), shard)
    assert keys.tolist() == [5] and examined == 3
