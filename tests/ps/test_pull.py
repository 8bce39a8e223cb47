"""One pull: which keys the peer sends per pair, and what the puller's knowledge becomes. Every
test runs on both store layouts (a row per key, or rows for written keys only)."""

import numpy as np
import pytest

from ekkosim.ps import pull
from ekkosim.ps.pull import answer_cursor, answer_knowledge, apply_answer
from tests.ps.stores import answer_table, make_store, same_state, sorted_keys, state

ONE = np.array([0])  # the only holding of a one-shard store


@pytest.fixture
def origin(layout):
    """One shard of 6 keys, a cache of 4."""
    store = make_store(6, 1, [0], layout, cache=4)
    store.write(0, np.array([0, 3]), np.array([1.0, 2.0]), now=1.0)  # counters 1, 2; shard version 1
    store.write(0, np.array([3, 5]), np.array([3.0, 4.0]), now=2.0)  # counters 3, 4; shard version 2
    return store


def test_first_pull_by_cursor_sends_every_key_written(origin, layout):
    answer = answer_cursor(origin, ONE, np.array([0]), use_cache=True)
    assert sorted_keys(answer) == [0, 3, 5] and answer.pair.tolist() == [0, 0, 0]
    assert answer.moved.tolist() == [0] and answer.version.tolist() == [2] and answer.knowledge.tolist() == [[4]]
    assert answer.full_scans == 0 and answer.scanned == 0 and answer.cache_entries == 3
    puller = make_store(6, 1, [0], layout, cache=4)
    change = apply_answer(puller, ONE, answer)
    assert sorted(change.keys.tolist()) == [0, 3, 5] and change.holding.tolist() == [0, 0, 0]
    assert change.prev_counter.tolist() == [0, 0, 0]
    _, _, _, counter, value, _ = state(puller)
    assert value.tolist() == [1.0, 0, 0, 3.0, 0, 4.0]
    assert counter.tolist() == [1, 0, 0, 3, 0, 4]
    assert puller.knowledge.tolist() == [[4]]
    assert same_state(puller, origin)
    assert puller.version.tolist() == [1]  # one change to the puller's store


def test_unmoved_shard_is_skipped_and_moved_one_sends_only_the_new(origin):
    skipped = answer_cursor(origin, ONE, np.array([2]), use_cache=True)
    assert len(skipped) == 0 and skipped.moved.size == 0 and skipped.cache_entries == 0 and skipped.full_scans == 0
    answer = answer_cursor(origin, ONE, np.array([1]), use_cache=True)
    assert sorted_keys(answer) == [3, 5] and answer.cache_entries == 2 and answer.full_scans == 0


@pytest.mark.parametrize("cache", [4, None])
def test_without_cache_the_shard_is_scanned(layout, cache):
    store = make_store(6, 1, [0], layout, cache=cache)
    store.write(0, np.array([0, 3]), np.array([1.0, 2.0]), now=1.0)
    store.write(0, np.array([3, 5]), np.array([3.0, 4.0]), now=2.0)
    answer = answer_cursor(store, ONE, np.array([1]), use_cache=False)
    assert answer.full_scans == 1 and answer.scanned == 6 and answer.cache_entries == 0
    assert sorted_keys(answer) == [3, 5]
    # a store without a cache scans even when the puller may use caches
    answer = answer_cursor(store, ONE, np.array([1]), use_cache=True)
    assert answer.full_scans == (1 if cache is None else 0) and sorted_keys(answer) == [3, 5]


def test_knowledge_pull_sends_what_the_knowledge_lacks(origin):
    answer = answer_knowledge(origin, ONE, np.array([[2]]), use_cache=True)
    assert sorted_keys(answer) == [3, 5]  # key 0 has counter 1 <= 2; key 3 now counter 3
    assert answer.cache_entries == 3 and answer.full_scans == 0  # every live cache entry (keys 0, 3, 5)
    scanned = answer_knowledge(origin, ONE, np.array([[2]]), use_cache=False)
    assert scanned.full_scans == 1 and scanned.scanned == 6 and sorted_keys(scanned) == [3, 5]
    assert scanned.version.tolist() == [2] and scanned.knowledge.tolist() == [[4]]


def test_apply_keeps_newer_local_versions(layout):
    older = make_store(2, 1, [0], layout)
    older.write(0, np.array([0, 1]), np.array([1.0, 1.0]), now=1.0)
    newer = make_store(2, 1, [0], layout)
    newer.write(0, np.array([0, 1]), np.array([1.0, 1.0]), now=1.0)
    newer.write(0, np.array([1]), np.array([9.0]), now=5.0)
    change = apply_answer(newer, ONE, answer_knowledge(older, ONE, np.array([[0]]), use_cache=False))
    assert change.keys.size == 0 and newer.values(np.array([0, 1])).tolist() == [1.0, 9.0]
    assert newer.knowledge.tolist() == [[3]]
    assert newer.version.tolist() == [2]  # nothing taken, knowledge not grown: no change


def test_knowledge_covering_the_peers_skips_the_shard(origin):
    answer = answer_knowledge(origin, ONE, np.array([[4]]), use_cache=True)
    assert answer.moved.size == 0 and len(answer) == 0 and answer.cache_entries == 0


def test_knowledge_alone_moves_the_puller_shard_version(origin, layout):
    """A whole answer that brings no key but more knowledge is a change a cursor puller downstream
    must hear of."""
    puller = make_store(6, 1, [0], layout, cache=4)
    apply_answer(puller, ONE, answer_cursor(origin, ONE, np.array([0]), True))
    puller.knowledge[0, 0] = 3  # as if it had learnt less (say, from another peer)
    change = apply_answer(puller, ONE, answer_knowledge(origin, ONE, np.array([[3]]), True))
    assert change.keys.size == 0 and puller.knowledge.tolist() == [[4]] and puller.version.tolist() == [2]


@pytest.fixture
def prioritised(layout):
    """Keys 0 and 1 written low priority (shard version 1), then keys 2 and 1 high (version 2)."""
    store = make_store(4, 1, [0], layout, cache=8)
    store.write(0, np.array([0, 1]), np.array([1.0, 1.0]), now=1.0)
    store.write(0, np.array([2, 1]), np.array([2.0, 2.0]), now=2.0, high=True)
    return store


@pytest.mark.parametrize("use_cache", [True, False])
def test_the_high_lane_sends_only_high_priority_keys_and_brings_no_knowledge(prioritised, layout, use_cache):
    high = answer_cursor(prioritised, ONE, np.array([0]), use_cache, lane="high")
    assert sorted_keys(high) == [1, 2] and high.high.all()
    puller = make_store(4, 1, [0], layout, cache=8)
    apply_answer(puller, ONE, high, whole=False)
    assert puller.knowledge.tolist() == [[0]] and state(puller)[5].tolist() == [False, True, True, False]
    every = answer_cursor(prioritised, ONE, np.array([0]), use_cache)  # the "all" lane
    assert sorted_keys(every) == [0, 1, 2]
    change = apply_answer(puller, ONE, every)
    assert change.keys.tolist() == [0]  # keys 1 and 2 came by the express lane already
    assert same_state(puller, prioritised) and puller.knowledge.tolist() == [[4]]
    assert answer_cursor(prioritised, ONE, np.array([2]), use_cache, lane="high").moved.size == 0


@pytest.mark.parametrize("use_cache", [True, False])
def test_the_all_lane_skips_what_the_express_lane_brought(prioritised, use_cache):
    answer = answer_cursor(prioritised, ONE, np.array([0]), use_cache, express=np.array([2]))
    assert sorted_keys(answer) == [0] and answer.knowledge.tolist() == [[4]]
    # an express cursor no further than the all lane's skips nothing
    prioritised.write(0, np.array([3]), np.array([5.0]), now=3.0, high=True)  # shard version 3
    answer = answer_cursor(prioritised, ONE, np.array([2]), use_cache, express=np.array([2]))
    assert sorted_keys(answer) == [3]


def test_the_high_lane_answers_empty_when_only_low_priority_keys_moved(prioritised):
    prioritised.write(0, np.array([3]), np.array([5.0]), now=3.0)
    answer = answer_cursor(prioritised, ONE, np.array([2]), True, lane="high")
    assert answer.keys.size == 0 and answer.moved.tolist() == [0] and answer.version.tolist() == [3]


def _three_shards(layout, cache=None):
    """A peer holding shards 1 and 3 of a model of 4 shards and 16 keys (4 a shard)."""
    peer = make_store(16, 4, [1, 3], layout, cache=cache)
    peer.write(0, np.array([1, 3, 7]), np.array([1.0, 2.0, 3.0]), now=1.0)  # shard 1: key 1; shard 3: keys 3, 7
    peer.write(0, np.array([9]), np.array([4.0]), now=2.0)  # shard 1, clock 2
    return peer


@pytest.mark.parametrize("cache", [8, None])
def test_a_pull_answers_each_pair_of_shard_copies(layout, cache):
    peer = _three_shards(layout, cache)
    assert peer.version.tolist() == [2, 1]  # the clock at each holding's last change
    assert peer.knowledge.tolist() == [[2], [2]]  # counters per shard copy
    puller = make_store(16, 4, [0, 1, 3], layout, cache=cache)  # holds shard 0 too, pulled elsewhere
    mine, theirs = np.array([2, 1]), np.array([1, 0])  # pairs: shard 3, then shard 1
    answer = answer_cursor(peer, theirs, np.array([0, 0]), use_cache=True)
    pairs = dict(zip(answer.keys.tolist(), answer.pair.tolist()))
    assert pairs == {1: 1, 9: 1, 3: 0, 7: 0}
    assert answer.moved.tolist() == [0, 1] and answer.version.tolist() == [1, 2]
    assert answer.knowledge.tolist() == [[2], [2]]
    assert answer.full_scans == (2 if cache is None else 0) and answer.scanned == (8 if cache is None else 0)
    change = apply_answer(puller, mine, answer)
    assert dict(zip(change.keys.tolist(), change.holding.tolist())) == {1: 1, 9: 1, 3: 2, 7: 2}
    assert same_state(puller, peer, [1, 3]) and not state(puller, [0])[3].any()
    assert puller.knowledge.tolist() == [[0], [2], [2]] and puller.version.tolist() == [0, 1, 1]
    # one pair up to date, the other moved: only the moved one is answered
    peer.write(0, np.array([5]), np.array([6.0]), now=3.0)
    answer = answer_cursor(peer, theirs, np.array([1, 2]), use_cache=True)
    assert answer.moved.tolist() == [1] and sorted_keys(answer) == [5] and answer.version.tolist() == [3]
    assert answer.full_scans == (1 if cache is None else 0) and answer.scanned == (4 if cache is None else 0)
    knowing = answer_knowledge(peer, theirs, puller.knowledge[mine], use_cache=True)
    assert answer_table(knowing)[0] == answer_table(answer)[0] and knowing.moved.tolist() == [1]


def test_both_layouts_answer_alike():
    answers = []
    for layout in ("dense", "sparse"):
        peer = _three_shards(layout, cache=1)  # trims: some pulls fall back to full scans
        peer.write(0, np.array([1, 5, 11]), np.array([7.0, 8.0, 9.0]), now=3.0, high=np.array([True, False, True]))
        theirs = np.array([0, 1])
        answers.append([answer_table(a) for a in (
            answer_cursor(peer, theirs, np.array([0, 0]), True),
            answer_cursor(peer, theirs, np.array([2, 1]), True),
            answer_cursor(peer, theirs, np.array([0, 1]), True, lane="high"),
            answer_cursor(peer, theirs, np.array([0, 0]), True, express=np.array([3, 3])),
            answer_knowledge(peer, theirs, np.array([[0], [0]]), True),
            answer_knowledge(peer, theirs, np.array([[4], [1]]), True),
        )])
    assert answers[0] == answers[1]
    assert {a[6] for a in answers[0]} != {0}  # some answers were full scans


@pytest.mark.parametrize("use_cache", [True, False])
def test_warm_started_stores_hold_the_warm_versions_and_send_only_news(layout, use_cache):
    """Every store starts with the warm start's versions of the first `warm` keys of each shard
    (origin 0, counters 1, 2, ..., time 0) at shard version 1."""
    peer = make_store(12, 2, [0, 1], layout, cache=4, warm=2)
    keys, time, origin, counter, _, _ = state(peer)
    assert keys.tolist() == list(range(12)) and not time.any() and not origin.any()
    assert counter.tolist() == [1, 1, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0]  # keys 0, 2 of shard 0; 1, 3 of shard 1
    assert peer.knowledge.tolist() == [[2], [2]] and peer.version.tolist() == [1, 1]
    peer.write(0, np.array([4, 2]), np.array([5.0, 6.0]), now=1.0)  # shard 0: counters 3, 4
    assert peer.knowledge.tolist() == [[4], [2]] and peer.version.tolist() == [2, 1]
    puller = make_store(12, 2, [0, 1], layout, cache=4, warm=2)
    both = np.array([0, 1])
    answer = answer_cursor(peer, both, puller.version.copy(), use_cache)
    assert sorted_keys(answer) == [2, 4] and answer.moved.tolist() == [0]
    apply_answer(puller, both, answer)
    assert same_state(puller, peer) and puller.knowledge.tolist() == peer.knowledge.tolist()
    # a puller that starts over (cursor 0) is sent the warm keys too by a full scan, and takes none of them
    scan = answer_cursor(peer, both, np.array([0, 0]), use_cache=False)
    assert sorted_keys(scan) == [0, 1, 2, 3, 4] and scan.full_scans == 2
    assert apply_answer(puller, both, scan).keys.size == 0
    knowing = answer_knowledge(peer, both, np.array([[2], [2]]), use_cache)
    assert sorted_keys(knowing) == [2, 4]


@pytest.mark.parametrize("seed", range(12))
def test_the_compiled_answer_from_the_caches_is_the_array_operations_answer(layout, seed, monkeypatch):
    """`answer_cursor` answers from the caches in one compiled pass where they cover every moved
    pair (`pull._cached_answer`): the same answer, in the same order, as its array operations
    give, in each lane, with express cursors or not, whether the caches cover every pair or not."""
    rng = np.random.default_rng(seed)
    shards = np.arange(6)
    peer = make_store(600, 6, shards, layout, cache=int(rng.integers(4, 40)) if seed % 2 else 4, n_origins=2)
    for now in range(1, 30):
        keys = rng.choice(600, size=int(rng.integers(1, 25)), replace=False)
        peer.write(int(rng.integers(0, 2)), keys, rng.uniform(size=keys.size), now=float(now),
                   high=rng.uniform(size=keys.size) < 0.3)
    theirs = rng.permutation(shards)[: int(rng.integers(1, 7))]
    compiled_answers, fallbacks = [], []

    def counted(*args):
        answer = cached_answer(*args)
        (fallbacks if answer is None else compiled_answers).append(answer)
        return answer

    cached_answer = pull._cached_answer
    monkeypatch.setattr(pull, "_cached_answer", counted)
    for _ in range(8):
        cursors = peer.clock - rng.integers(0, 3 if seed % 2 else peer.clock + 1, theirs.size)  # recent: covered
        express = np.minimum(cursors + rng.integers(0, 3, theirs.size), peer.clock)
        cursors[0] = cursors[0] if seed % 2 else 0  # a cursor older than a small cache
        for lane, fast in (("all", None), ("high", None), ("all", express), ("high", express)):
            compiled = answer_cursor(peer, theirs, cursors, True, lane, fast)
            with monkeypatch.context() as patch:
                patch.setattr(pull, "_cached_answer", lambda *args: None)
                reference = answer_cursor(peer, theirs, cursors, True, lane, fast)
            for name, column in vars(reference).items():
                assert np.array_equal(getattr(compiled, name), column), name
                assert np.asarray(getattr(compiled, name)).dtype == np.asarray(column).dtype, name
    if seed % 2:  # recent cursors: the compiled pass answers, with keys
        assert any(len(answer) for answer in compiled_answers)
    else:  # any cursor: some the caches left behind
        assert fallbacks
