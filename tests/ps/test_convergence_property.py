"""Property tests of the sync protocol over random trees, writes and pull interleavings.

Each replica pulls from its parent in a random tree rooted at the origin, one pull at a time,
in three steps that other replicas' steps may interleave with: ask (its cursor or knowledge is
fixed), answer (the parent's snapshot is taken), apply. After every apply: knowledge never
claims a version whose effect the replica does not hold, and no key's version goes backwards.
After the writes stop and pulls drain, every replica equals the origin, key by key.
"""

import numpy as np
from hypothesis import given, settings
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
    steps = draw(st.lists(
        st.one_of(
            st.tuples(st.just("write"), st.lists(st.integers(0, n_keys - 1), min_size=1, max_size=4, unique=True)),
            st.tuples(st.just("pull"), st.integers(1, n_replicas - 1)),
        ),
        max_size=40,
    ))
    return n_keys, parents, cache, by_cursor, steps


class World:
    def __init__(self, n_keys, parents, cache, by_cursor):
        self.parents, self.by_cursor, self.cache = parents, by_cursor, cache is not None
        self.replicas = [ShardReplica(n_keys, 1, cache) for _ in parents]
        self.cursors = [0] * len(parents)
        self.stage = [None] * len(parents)  # None, ("asked", request) or ("answered", answer)
        self.produced = []  # every version ever written: (key, time, origin, counter)
        self.now = 0.0

    def write(self, keys):
        self.now += 1.0
        keys = np.array(keys)
        origin = self.replicas[0]
        origin.write(0, keys, self.now + keys / 100.0, now=self.now)
        self.produced += [(int(k), self.now, 0, int(origin.counter[k])) for k in keys]

    def step(self, i):
        """Advance replica i's pull by one step (ask, answer, apply)."""
        me, parent = self.replicas[i], self.replicas[self.parents[i]]
        stage = self.stage[i]
        if stage is None:
            self.stage[i] = ("asked", self.cursors[i] if self.by_cursor else me.knowledge.copy())
        elif stage[0] == "asked":
            ask = answer_cursor if self.by_cursor else answer_knowledge
            answer = ask(parent, stage[1], self.cache)
            self.stage[i] = ("answered", answer)
        else:
            answer = stage[1]
            before = (me.time.copy(), me.origin.copy(), me.counter.copy())
            if answer is not None:
                apply_answer(me, answer)
                self.cursors[i] = answer.version
            self.stage[i] = None
            self.check(me, before)

    def check(self, replica, before):
        assert not newer(*before, replica.time, replica.origin, replica.counter).any(), "a version went backwards"
        for key, t, o, c in self.produced:
            if c <= replica.knowledge[o]:
                held = (replica.time[key], replica.origin[key], replica.counter[key])
                assert not newer(t, o, c, *held), f"knowledge claims ({key}, {c}) but the replica lacks it"

    def drain(self):
        for i in range(1, len(self.replicas)):  # finish pulls under way
            while self.stage[i] is not None:
                self.step(i)
        for _ in range(len(self.replicas)):  # a full pull per replica, parents before children
            for i in range(1, len(self.replicas)):
                for _ in range(3):
                    self.step(i)


@given(worlds())
@settings(max_examples=300, deadline=None)
def test_replicas_converge_and_knowledge_stays_sound(world):
    n_keys, parents, cache, by_cursor, steps = world
    w = World(n_keys, parents, cache, by_cursor)
    for kind, arg in steps:
        if kind == "write":
            w.write(arg)
        else:
            w.step(arg)
    w.drain()
    for replica in w.replicas[1:]:
        assert replica.state_equals(w.replicas[0])
        assert replica.knowledge.tolist() == w.replicas[0].knowledge.tolist()
