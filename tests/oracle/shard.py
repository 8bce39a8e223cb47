"""A shard replica: every key's version and value in NumPy arrays, its knowledge, its shard
version and its update cache.

Keys are local indices 0..n-1 (the model's key k lives in shard k mod shards at index
k div shards). Arrays start as zeros ("no version", value 0). The state is dense: about 34
bytes per key per copy once the workload has touched the key's memory page, which a workload
spread over the key space soon does; the scenario checks refuse runs that would need more
than 16 GiB.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from tests.oracle import knowledge as kn
from tests.oracle.update_cache import UpdateCache
from tests.oracle.version import newer


def rows_by_shard(keys: np.ndarray, shards: int) -> dict[int, np.ndarray]:
    """Where each shard's keys are in `keys` (model keys; key k is in shard k mod `shards`): the
    positions of each shard that has any, shards ascending, each shard's positions ascending."""
    shard_of = keys % shards
    by_shard = shard_of.argsort(kind="stable")
    touched, starts = np.unique(shard_of[by_shard], return_index=True)
    return dict(zip(touched.tolist(), np.split(by_shard, starts[1:])))


class Change(NamedTuple):
    """What an apply changed: the keys, the versions (and classes) now held for them, and their
    versions before (to measure latency)."""

    keys: np.ndarray
    time: np.ndarray
    origin: np.ndarray
    counter: np.ndarray
    high: np.ndarray
    prev_time: np.ndarray
    prev_origin: np.ndarray
    prev_counter: np.ndarray


class ShardReplica:
    """One replica of one shard. `version` grows by one on every change to it. `high` is each
    key's priority class, set by the scheduler where the version was produced and carried with
    it."""

    def __init__(self, n_keys: int, n_origins: int, cache_capacity: int | None):
        self.n_keys = n_keys
        self.time = np.zeros(n_keys, dtype=np.float64)
        self.origin = np.zeros(n_keys, dtype=np.int16)
        self.counter = np.zeros(n_keys, dtype=np.int64)
        self.value = np.zeros(n_keys, dtype=np.float64)
        self.seq = np.zeros(n_keys, dtype=np.int64)  # shard version of each key's last change here
        self.high = np.zeros(n_keys, dtype=bool)
        self.knowledge = kn.empty(n_origins)
        self.version = 0
        self.cache = UpdateCache(cache_capacity, n_origins) if cache_capacity else None

    def write(self, origin: int, keys: np.ndarray, values: np.ndarray, now: float, high: np.ndarray | bool = False) -> Change:
        """Produce new versions of `keys` (unique) at this replica, as their origin: the next
        counters of `origin`, time `now`, priority class `high`. This is where trainer updates
        and rollbacks enter."""
        counters = self.knowledge[origin] + 1 + np.arange(keys.size, dtype=np.int64)
        change = self.apply(keys, np.full(keys.size, now), np.full(keys.size, origin, dtype=np.int16), counters, values,
                            np.full(keys.size, high, dtype=bool))
        self.knowledge[origin] += keys.size
        return change

    def apply(self, keys, time, origin, counter, value, high, knowledge: np.ndarray | None = None) -> Change:
        """Take each given version that is newer than the one held (newest wins) and, given a
        peer's `knowledge` (from an answer that held every key this replica may lack), the union
        of the two knowledges. Either change is one step of the shard version: a cursor puller
        must hear of grown knowledge too. Return the keys that changed. Keys must be unique."""
        held = self.time[keys], self.origin[keys], self.counter[keys]
        if keys.size:  # an answer may hold nothing of its lane's class
            take = newer(time, origin, counter, *held)
            if not take.all():  # usually every key is news: no copies then
                keys, time, origin, counter, value, high = (
                    keys[take], time[take], origin[take], counter[take], value[take], high[take])
                held = tuple(column[take] for column in held)
        grown = knowledge is not None and not kn.covers(self.knowledge, knowledge)
        if grown:
            self.knowledge = kn.union(self.knowledge, knowledge)
        if keys.size or grown:
            self.version += 1
        if keys.size:
            self.time[keys] = time
            self.origin[keys] = origin
            self.counter[keys] = counter
            self.value[keys] = value
            self.high[keys] = high
            self.seq[keys] = self.version
            if self.cache is not None:
                self.cache.record(keys, self.version, self)
        return Change(keys, time, origin, counter, high, *held)

    def state_equals(self, other: ShardReplica) -> bool:
        """Same version and value for every key."""
        return (
            np.array_equal(self.time, other.time)
            and np.array_equal(self.origin, other.origin)
            and np.array_equal(self.counter, other.counter)
            and np.array_equal(self.value, other.value)
        )
