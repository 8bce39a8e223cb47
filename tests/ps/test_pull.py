"""One shard's pull: which keys the peer sends, and what the puller's knowledge becomes."""

import numpy as np
import pytest

from ekkosim.ps.pull import answer_cursor, answer_knowledge, apply_answer
from ekkosim.ps.shard import ShardReplica


@pytest.fixture
def origin():
    shard = ShardReplica(6, n_origins=1, cache_capacity=4)
    shard.write(0, np.array([0, 3]), np.array([1.0, 2.0]), now=1.0)  # counters 1, 2; version 1
    shard.write(0, np.array([3, 5]), np.array([3.0, 4.0]), now=2.0)  # counters 3, 4; version 2
    return shard


def test_first_pull_by_cursor_sends_every_key_written(origin):
    answer = answer_cursor(origin, cursor=0, use_cache=True)
    assert sorted(answer.keys.tolist()) == [0, 3, 5]
    assert answer.version == 2 and answer.knowledge.tolist() == [4] and not answer.full_scan
    puller = ShardReplica(6, 1, 4)
    change = apply_answer(puller, answer)
    assert sorted(change.keys.tolist()) == [0, 3, 5]
    assert puller.value.tolist() == [1.0, 0, 0, 3.0, 0, 4.0]
    assert puller.counter.tolist() == [1, 0, 0, 3, 0, 4]
    assert puller.knowledge.tolist() == [4]
    assert puller.state_equals(origin)
    assert puller.version == 1  # one change to the puller's own replica


def test_unmoved_shard_is_skipped_and_moved_one_sends_only_the_new(origin):
    assert answer_cursor(origin, cursor=2, use_cache=True) is None
    answer = answer_cursor(origin, cursor=1, use_cache=True)
    assert sorted(answer.keys.tolist()) == [3, 5] and answer.examined == 2


def test_without_cache_the_shard_is_scanned(origin):
    answer = answer_cursor(origin, cursor=1, use_cache=False)
    assert answer.full_scan and answer.examined == 6
    assert answer.keys.tolist() == [3, 5]


def test_knowledge_pull_sends_what_the_knowledge_lacks(origin):
    answer = answer_knowledge(origin, np.array([2]), use_cache=True)
    assert sorted(answer.keys.tolist()) == [3, 5]  # key 0 has counter 1 <= 2; key 3 now counter 3
    assert answer.examined == 4  # every cache entry, stale ones included (key 3 twice)
    scanned = answer_knowledge(origin, np.array([2]), use_cache=False)
    assert scanned.full_scan and scanned.examined == 6 and sorted(scanned.keys.tolist()) == [3, 5]


def test_apply_keeps_newer_local_versions():
    older = ShardReplica(2, 1, None)
    older.write(0, np.array([0, 1]), np.array([1.0, 1.0]), now=1.0)
    newer = ShardReplica(2, 1, None)
    newer.write(0, np.array([0, 1]), np.array([1.0, 1.0]), now=1.0)
    newer.write(0, np.array([1]), np.array([9.0]), now=5.0)
    change = apply_answer(newer, answer_knowledge(older, np.array([0]), use_cache=False))
    assert change.keys.size == 0 and newer.value.tolist() == [1.0, 9.0]
    assert newer.knowledge.tolist() == [3]


def test_knowledge_covering_the_peers_skips_the_shard(origin):
    assert answer_knowledge(origin, np.array([4]), use_cache=True) is None


@pytest.fixture
def prioritised():
    """Keys 0 and 1 written low priority (shard version 1), then keys 2 and 1 high (version 2)."""
    shard = ShardReplica(4, n_origins=1, cache_capacity=8)
    shard.write(0, np.array([0, 1]), np.array([1.0, 1.0]), now=1.0)
    shard.write(0, np.array([2, 1]), np.array([2.0, 2.0]), now=2.0, high=True)
    return shard


@pytest.mark.parametrize("use_cache", [True, False])
def test_the_high_lane_sends_only_high_priority_keys_and_brings_no_knowledge(prioritised, use_cache):
    high = answer_cursor(prioritised, 0, use_cache, lane="high")
    assert sorted(high.keys.tolist()) == [1, 2] and high.high.all()
    puller = ShardReplica(4, 1, 8)
    apply_answer(puller, high, whole=False)
    assert puller.knowledge.tolist() == [0] and puller.high.tolist() == [False, True, True, False]
    every = answer_cursor(prioritised, 0, use_cache)  # the "all" lane
    assert sorted(every.keys.tolist()) == [0, 1, 2]
    change = apply_answer(puller, every)
    assert change.keys.tolist() == [0]  # keys 1 and 2 came by the express lane already
    assert puller.state_equals(prioritised) and puller.knowledge.tolist() == [4]
    assert answer_cursor(prioritised, 2, use_cache, lane="high") is None


def test_the_high_lane_answers_empty_when_only_low_priority_keys_moved(prioritised):
    prioritised.write(0, np.array([3]), np.array([5.0]), now=3.0)
    answer = answer_cursor(prioritised, 2, True, lane="high")
    assert answer.keys.size == 0 and answer.version == 3
