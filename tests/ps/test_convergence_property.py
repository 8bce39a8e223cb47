"""Property tests of the sync protocol over random trees, writes and pull interleavings.

Each replica pulls from its parent in a random tree rooted at the origin, one pull at a time,
in three steps that other replicas' steps may interleave with: ask (its cursor or knowledge is
fixed), answer (the parent's snapshot is taken), apply. Writes are of random priority, and cursor pulls may
go in two lanes (high-priority keys only; the rest, skipping what the express lane brought), each
a pull of its own. After every apply: knowledge never
claims a version whose effect the replica does not hold, and no key's version goes backwards.
After the writes stop and pulls drain, every replica equals the origin, key by key.
"""

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ekkosim.ps.pull import answer_cursor, answer_knowledge, apply_answer
from ekkosim.ps.shard import ShardReplica
from ekkosim.ps.version import newer


@st.composite
def worlds(draw):
    n_keys = draw(st.integers(1, 10))
    n_replicas = draw(st.integers(2, 5))
    parents = [None] + [draw(st.integers(0, i - 1)) for i in range(1, n_replicas)]
    cache = draw(st.one_of(st.none(), st.integers(1, 4)))
    by_cursor = draw(st.booleans())
    lanes = ("all", "high") if by_cursor and draw(st.booleans()) else ("all",)
    steps = draw(st.lists(
        st.one_of(
            st.tuples(st.just("write"), st.lists(st.tuples(st.integers(0, n_keys - 1), st.booleans()),
                                                  min_size=1, max_size=4, unique_by=lambda kh: kh[0])),
            st.tuples(st.just("pull"), st.tuples(st.integers(1, n_replicas - 1), st.integers(0, len(lanes) - 1))),
        ),
        max_size=40,
    ))
    return n_keys, parents, cache, by_cursor, lanes, steps


class World:
    def __init__(self, n_keys, parents, cache, by_cursor, lanes):
        self.parents, self.by_cursor, self.cache, self.lanes = parents, by_cursor, cache is not None, lanes
        self.replicas = [ShardReplica(n_keys, 1, cache) for _ in parents]
        self.cursors = [[0] * len(lanes) for _ in parents]  # per replica and lane
        self.stage = [[None] * len(lanes) for _ in parents]  # None, ("asked", request) or ("answered", answer)
        self.produced = []  # every version ever written: (key, time, origin, counter)
        self.now = 0.0

    def write(self, keys_and_classes):
        self.now += 1.0
        keys = np.array([key for key, _ in keys_and_classes])
        high = np.array([high for _, high in keys_and_classes])
        origin = self.replicas[0]
        origin.write(0, keys, self.now + keys / 100.0, now=self.now, high=high)
        self.produced += [(int(k), self.now, 0, int(origin.counter[k])) for k in keys]

    def step(self, i, lane):
        """Advance replica i's pull in `lane` by one step (ask, answer, apply)."""
        me, parent = self.replicas[i], self.replicas[self.parents[i]]
        stage = self.stage[i][lane]
        if stage is None:
            if not self.by_cursor:
                request = me.knowledge.copy()
            else:  # the all lane sends the express lane's cursor too, if there is one
                express = self.cursors[i][1] if self.lanes[lane] == "all" and len(self.lanes) == 2 else None
                request = (self.cursors[i][lane], express)
            self.stage[i][lane] = ("asked", request)
        elif stage[0] == "asked":
            if self.by_cursor:
                answer = answer_cursor(parent, stage[1][0], self.cache, self.lanes[lane], stage[1][1])
            else:
                answer = answer_knowledge(parent, stage[1], self.cache)
            self.stage[i][lane] = ("answered", answer)
        else:
            answer = stage[1]
            before = (me.time.copy(), me.origin.copy(), me.counter.copy())
            if answer is not None:
                apply_answer(me, answer, whole=self.lanes[lane] == "all")
                self.cursors[i][lane] = answer.version
            self.stage[i][lane] = None
            self.check(me, before)

    def check(self, replica, before):
        assert not newer(*before, replica.time, replica.origin, replica.counter).any(), "a version went backwards"
        for key, t, o, c in self.produced:
            if c <= replica.knowledge[o]:
                held = (replica.time[key], replica.origin[key], replica.counter[key])
                assert not newer(t, o, c, *held), f"knowledge claims ({key}, {c}) but the replica lacks it"

    def drain(self):
        for i in range(1, len(self.replicas)):  # finish pulls under way
            for lane in range(len(self.lanes)):
                while self.stage[i][lane] is not None:
                    self.step(i, lane)
        for _ in range(len(self.replicas)):  # a full pull per replica and lane, parents before children
            for i in range(1, len(self.replicas)):
                for lane in range(len(self.lanes)):
                    for _ in range(3):
                        self.step(i, lane)


@given(worlds())
@example((1, [None, 0, 0, 0, 1], None, True, ("all", "high"),  # knowledge grown without news moves the shard version
          [("pull", (1, 1)), ("write", [(0, True)]), ("pull", (4, 0))]))
@example((2, [None, 0], None, True, ("all", "high"),  # the all lane skips only what the express lane brought
          [("write", [(0, True)])] + [("pull", (1, 1))] * 3 + [("write", [(1, True)])] + [("pull", (1, 0))] * 3))
@settings(max_examples=300, deadline=None)
def test_replicas_converge_and_knowledge_stays_sound(world):
    n_keys, parents, cache, by_cursor, lanes, steps = world
    w = World(n_keys, parents, cache, by_cursor, lanes)
    for kind, arg in steps:
        if kind == "write":
            w.write(arg)
        else:
            w.step(*arg)
    w.drain()
    for replica in w.replicas[1:]:
        assert replica.state_equals(w.replicas[0])
        assert replica.knowledge.tolist() == w.replicas[0].knowledge.tolist()
