"""Property tests of the sync protocol over random trees, writes and pull interleavings.

Each replica is a store holding some shards of one model (the origin all of them, every other
store some of its parent's) and pulls them from its parent in a random tree rooted at the
origin, one pull at a time, in three steps that other replicas' steps may interleave with: ask
(its cursors or knowledge are fixed), answer (the parent's snapshot is taken), apply. Writes are
of random priority, and cursor pulls may go in two lanes (high-priority keys only; the rest,
skipping what the express lane brought), each a pull of its own. Stores may be warm-started and
have small caches, so trims and full scans happen. Every replica exists in both layouts (a row
per key; rows for written keys only), which must answer alike. After every apply: knowledge
never claims a version whose effect the store does not hold, and no key's version goes
backwards. After the writes stop and pulls drain, every replica equals the origin, key by key.
"""

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ekkosim.ps.pull import answer_cursor, answer_knowledge, apply_answer
from ekkosim.ps.version import newer
from tests.ps.stores import LAYOUTS, answer_table, make_store, same_state, state


@st.composite
def worlds(draw):
    shards = draw(st.integers(1, 3))
    keys = draw(st.integers(shards, 4 * shards))
    n_replicas = draw(st.integers(2, 5))
    parents = [None] + [draw(st.integers(0, i - 1)) for i in range(1, n_replicas)]
    holds = [tuple(range(shards))]
    for i in range(1, n_replicas):
        above = holds[parents[i]]
        holds.append(tuple(sorted(draw(st.lists(st.sampled_from(above), min_size=1, max_size=len(above), unique=True)))))
    cache = draw(st.one_of(st.none(), st.integers(1, 4)))
    warm = draw(st.sampled_from([0, 0, 1, 2]))
    by_cursor = draw(st.booleans())
    lanes = ("all", "high") if by_cursor and draw(st.booleans()) else ("all",)
    steps = draw(st.lists(
        st.one_of(
            st.tuples(st.just("write"), st.lists(st.tuples(st.integers(0, keys - 1), st.booleans()),
                                                  min_size=1, max_size=4, unique_by=lambda kh: kh[0])),
            st.tuples(st.just("pull"), st.tuples(st.integers(1, n_replicas - 1), st.integers(0, len(lanes) - 1))),
        ),
        max_size=40,
    ))
    return keys, shards, parents, holds, cache, warm, by_cursor, lanes, steps


class World:
    def __init__(self, keys, shards, parents, holds, cache, warm, by_cursor, lanes):
        self.parents, self.by_cursor, self.cache, self.lanes = parents, by_cursor, cache is not None, lanes
        # per layout, the replicas' stores
        self.stores = {layout: [make_store(keys, shards, held, layout, cache, warm) for held in holds]
                       for layout in LAYOUTS}
        self.pairs = [None] + [  # (mine, theirs): holdings of each shard pulled, in the store and its parent
            (np.arange(len(holds[i])), np.searchsorted(holds[parents[i]], holds[i])) for i in range(1, len(holds))]
        stores = self.stores["dense"]  # every store starts alike: each has seen its parent's start
        self.cursors = [None] + [[stores[parents[i]].version[self.pairs[i][1]].copy() for _ in lanes]
                                 for i in range(1, len(holds))]
        self.stage = [[None] * len(lanes) for _ in parents]  # None, ("asked", request) or ("answered", answers)
        # every version ever produced: (key, time, origin, counter), the warm start's included
        self.produced = [(k, 0.0, 0, k // shards + 1) for k in range(keys) if k // shards < warm]
        self.now = 0.0

    def write(self, keys_and_classes):
        self.now += 1.0
        keys = np.array([key for key, _ in keys_and_classes])
        high = np.array([high for _, high in keys_and_classes])
        for stores in self.stores.values():
            change = stores[0].write(0, keys, self.now + keys / 100.0, now=self.now, high=high)
        self.produced += [(int(k), self.now, 0, int(c)) for k, c in zip(change.keys, change.counter)]

    def step(self, i, lane):
        """Advance replica i's pull in `lane` by one step (ask, answer, apply)."""
        mine, theirs = self.pairs[i]
        stage = self.stage[i][lane]
        if stage is None:
            if not self.by_cursor:
                request = self.stores["dense"][i].knowledge[mine].copy()
            else:  # the all lane sends the express lane's cursors too, if there is one
                express = self.cursors[i][1].copy() if self.lanes[lane] == "all" and len(self.lanes) == 2 else None
                request = (self.cursors[i][lane].copy(), express)
            self.stage[i][lane] = ("asked", request)
        elif stage[0] == "asked":
            answers = {}
            for layout, stores in self.stores.items():
                parent = stores[self.parents[i]]
                if self.by_cursor:
                    answers[layout] = answer_cursor(parent, theirs, stage[1][0], self.cache, self.lanes[lane], stage[1][1])
                else:
                    answers[layout] = answer_knowledge(parent, theirs, stage[1], self.cache)
            assert answer_table(answers["dense"]) == answer_table(answers["sparse"]), "the layouts answer differently"
            self.stage[i][lane] = ("answered", answers)
        else:
            for layout, stores in self.stores.items():
                me, answer = stores[i], stage[1][layout]
                before = state(me)
                apply_answer(me, mine, answer, whole=self.lanes[lane] == "all")
                self.check(me, before)
            self.cursors[i][lane][answer.moved] = answer.version
            self.stage[i][lane] = None
            assert same_state(self.stores["dense"][i], self.stores["sparse"][i])

    def check(self, store, before):
        after = state(store)
        assert not newer(*before[1:4], *after[1:4]).any(), "a version went backwards"
        for key, t, o, c in self.produced:
            if key % store.model_shards not in store.shards:
                continue
            h = store.holdings_of(np.array([key]))[0]
            if c <= store.knowledge[h, o]:
                at = np.searchsorted(after[0], key)
                held = (after[1][at], after[2][at], after[3][at])
                assert not newer(t, o, c, *held), f"knowledge claims ({key}, {c}) but the store lacks it"

    def drain(self):
        n = len(self.parents)
        for i in range(1, n):  # finish pulls under way
            for lane in range(len(self.lanes)):
                while self.stage[i][lane] is not None:
                    self.step(i, lane)
        for _ in range(n):  # a full pull per replica and lane, parents before children
            for i in range(1, n):
                for lane in range(len(self.lanes)):
                    for _ in range(3):
                        self.step(i, lane)


@given(worlds())
# knowledge grown without news moves the shard version
@example((1, 1, [None, 0, 0, 0, 1], [(0,)] * 5, None, 0, True, ("all", "high"),
          [("pull", (1, 1)), ("write", [(0, True)]), ("pull", (4, 0))]))
# the all lane skips only what the express lane brought
@example((2, 1, [None, 0], [(0,)] * 2, None, 0, True, ("all", "high"),
          [("write", [(0, True)])] + [("pull", (1, 1))] * 3 + [("write", [(1, True)])] + [("pull", (1, 0))] * 3))
# stores of a few shards, a cache of one key per shard copy and a warm start: trims at every change
@example((6, 3, [None, 0, 1], [(0, 1, 2), (0, 2), (2,)], 1, 1, False, ("all",),
          [("write", [(0, False), (2, True), (5, False)]), ("pull", (1, 0)), ("write", [(5, True), (3, False)]),
           ("pull", (1, 0)), ("pull", (2, 0)), ("pull", (1, 0)), ("pull", (2, 0)), ("pull", (2, 0))]))
@settings(max_examples=300, deadline=None)
def test_replicas_converge_and_knowledge_stays_sound(world):
    keys, shards, parents, holds, cache, warm, by_cursor, lanes, steps = world
    w = World(keys, shards, parents, holds, cache, warm, by_cursor, lanes)
    for kind, arg in steps:
        if kind == "write":
            w.write(arg)
        else:
            w.step(*arg)
    w.drain()
    for stores in w.stores.values():
        origin = stores[0]
        for store, held in zip(stores[1:], holds[1:]):
            assert same_state(store, origin, held)
            assert store.knowledge.tolist() == origin.knowledge[list(held)].tolist()
