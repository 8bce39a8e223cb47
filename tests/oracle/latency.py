"""Update latency (docs/design.md, "The simulator"): for an update u and a replica r, the first time r
holds a version of u's key at least as new as u, minus the time u was produced.

Updates are sampled 1 in N by a hash of (key, counter): deterministic, and independent of
popularity, so the sample is unbiased. A replica's version of a key only grows, so when an
apply moves a key from version `prev` to `new`, r first holds exactly the sampled updates of
that key with prev < u <= new: no per-replica bookkeeping is needed, and each (update,
replica) pair is recorded once. An update is forgotten once every replica of its shard holds it.
A replica that crashes loses what it held; an update it held before the crash counts as
delivered to it then, not again when it recovers the update (`lost`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tests.oracle.shard import Change, ShardReplica
from tests.oracle.version import newer

_GAMMA, _MIX1, _MIX2 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_SHIFT1, _SHIFT2, _SHIFT3 = np.uint64(30), np.uint64(27), np.uint64(31)
# Record pieces (a few rows each, with an array header of about 100 bytes per column) are
# joined into one every this many, so a long run keeps about its rows' bytes, not the headers'.
_CHUNK = 1024


def sampled(keys: np.ndarray, counters: np.ndarray, every: int) -> np.ndarray:
    """Which (key, counter) updates are in the 1-in-`every` sample (a splitmix64 hash)."""
    if every == 1:
        return np.ones(keys.size, dtype=bool)
    with np.errstate(over="ignore"):
        z = keys.astype(np.uint64) * _GAMMA + counters.astype(np.uint64)
        z = (z ^ (z >> _SHIFT1)) * _MIX1
        z = (z ^ (z >> _SHIFT2)) * _MIX2
        z = z ^ (z >> _SHIFT3)
    return z % np.uint64(every) == 0


class _Columns:
    """Rows appended in pieces of columns (arrays), kept joined into chunks of `_CHUNK` pieces."""

    def __init__(self) -> None:
        self.pieces: list[tuple[np.ndarray, ...]] = []
        self.fresh = 0  # pieces appended since the last join

    def append(self, *columns: np.ndarray) -> None:
        self.pieces.append(columns)
        self.fresh += 1
        if self.fresh == _CHUNK:
            self.pieces[-_CHUNK:] = [self._joined(self.pieces[-_CHUNK:])]
            self.fresh = 0

    def joined(self) -> tuple[np.ndarray, ...] | None:
        """Every row, in the order appended; None if there is none."""
        return self._joined(self.pieces) if self.pieces else None

    @staticmethod
    def _joined(pieces: list[tuple[np.ndarray, ...]]) -> tuple[np.ndarray, ...]:
        return tuple(np.concatenate(column) for column in zip(*pieces))


@dataclass
class _Pending:
    """Sampled updates of one shard that some replica does not hold yet."""

    update: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    key: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    time: np.ndarray = field(default_factory=lambda: np.zeros(0))
    origin: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int16))
    counter: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    missing: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    _distinct_keys: np.ndarray | None = field(default=None, init=False, repr=False)  # sorted `key`, distinct

    FIELDS = ("update", "key", "time", "origin", "counter", "missing")

    def extend(self, **columns) -> None:
        for name in self.FIELDS:
            setattr(self, name, np.concatenate([getattr(self, name), columns[name]]))
        self._distinct_keys = None

    def keep(self, mask: np.ndarray) -> None:
        for name in self.FIELDS:
            setattr(self, name, getattr(self, name)[mask])
        self._distinct_keys = None

    def touched_by(self, keys: np.ndarray) -> np.ndarray:
        """Which of `keys` have a pending update (pending keys are few, applied keys many)."""
        if self._distinct_keys is None:
            self._distinct_keys = np.unique(self.key)
        distinct = self._distinct_keys
        where = np.minimum(distinct.searchsorted(keys), distinct.size - 1)
        return distinct[where] == keys


class LatencyTracker:
    """Records (update, replica, latency) for the sampled updates."""

    def __init__(self, sample_every: int, n_shards: list[int], holders: dict[tuple[int, int], int]):
        """`n_shards[m]`: shards of model m; `holders[(m, s)]`: replicas of shard s that must
        receive an update (all but its origin)."""
        self.sample_every = sample_every
        self.n_shards = n_shards
        self.holders = holders
        self.pending: dict[tuple[int, int], _Pending] = {}
        self.produced_updates = 0
        self.updates = _Columns()  # (model, key, produced_s, high), per update id
        self.n_sampled = 0
        self._rows = _Columns()  # (update, replica, latency)
        self._delivered_before_crash: dict[int, np.ndarray] = {}  # replica index: update ids

    def produced(self, model: int, shard: int, change: Change) -> None:
        """A trainer's write at the origin produced the versions `change` holds for its keys."""
        keys = change.keys
        self.produced_updates += keys.size
        global_keys = keys * self.n_shards[model] + shard
        pick = sampled(global_keys, change.counter, self.sample_every)
        n = int(pick.sum())
        if n == 0:
            return
        ids = np.arange(self.n_sampled, self.n_sampled + n, dtype=np.int64)
        self.n_sampled += n
        time = change.time[pick]
        self.updates.append(np.full(n, model, dtype=np.int32), global_keys[pick], time, change.high[pick])
        self.pending.setdefault((model, shard), _Pending()).extend(
            update=ids, key=keys[pick], time=time, origin=change.origin[pick],
            counter=change.counter[pick], missing=np.full(n, self.holders[(model, shard)], dtype=np.int64),
        )

    def applied(self, model: int, shard: int, replica_index: int, change: Change, now: float) -> None:
        """Replica `replica_index` applied `change` at time `now`."""
        pending = self.pending.get((model, shard))
        if pending is None or pending.key.size == 0 or change.keys.size == 0:
            return
        touched = np.flatnonzero(pending.touched_by(change.keys))
        if touched.size == 0:
            return
        order = touched[change.keys[touched].argsort()]  # positions in `change`, by key
        sorted_keys = change.keys[order]
        where = sorted_keys.searchsorted(pending.key)
        hit = where < sorted_keys.size
        hit[hit] = sorted_keys[where[hit]] == pending.key[hit]
        candidates = np.flatnonzero(hit)
        at = order[where[candidates]]
        u = (pending.time[candidates], pending.origin[candidates], pending.counter[candidates])
        held_before = ~newer(*u, change.prev_time[at], change.prev_origin[at], change.prev_counter[at])
        held_now = ~newer(*u, change.time[at], change.origin[at], change.counter[at])
        first = candidates[held_now & ~held_before]
        if replica_index in self._delivered_before_crash:
            first = first[~np.isin(pending.update[first], self._delivered_before_crash[replica_index])]
        if first.size == 0:
            return
        self._rows.append(pending.update[first], np.full(first.size, replica_index, dtype=np.int32), now - pending.time[first])
        pending.missing[first] -= 1
        if (pending.missing[first] == 0).any():
            pending.keep(pending.missing > 0)

    def lost(self, model: int, shard: int, replica_index: int, replica: ShardReplica) -> None:
        """Replica `replica_index` crashed, losing `replica`: remember which pending updates it
        had been delivered, so that recovering them is not a delivery."""
        pending = self.pending.get((model, shard))
        if pending is None or pending.key.size == 0:
            return
        held = ~newer(pending.time, pending.origin, pending.counter,
                      replica.time[pending.key], replica.origin[pending.key], replica.counter[pending.key])
        before = self._delivered_before_crash.get(replica_index, np.zeros(0, dtype=np.int64))
        self._delivered_before_crash[replica_index] = np.union1d(before, pending.update[held])

    def undelivered(self) -> int:
        """(update, replica) pairs sampled but not delivered when the run stopped."""
        return int(sum(int(p.missing.sum()) for p in self.pending.values()))

    def rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(update id, replica index, latency_s) of every delivery, in the order they happened."""
        rows = self._rows.joined()
        return rows if rows is not None else (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32), np.zeros(0))

    def sampled_updates(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(model, global key, produced_s, high priority) of every sampled update, indexed by
        update id."""
        updates = self.updates.joined()
        return updates if updates is not None else (
            np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0, dtype=bool))
