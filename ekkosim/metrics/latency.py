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

import numpy as np

from ekkosim.arrays import distinct
from ekkosim.ps import probes
from ekkosim.ps.key_index import KeyIndex
from ekkosim.ps.store import Change
from ekkosim.ps.version import newer

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


class _Pending:
    """Sampled updates of one model that some replica does not hold yet, with a view sorted by
    key (rebuilt when updates are added; delivered ones stay in it, marked by `missing` 0, until
    they are most of it)."""

    FIELDS = ("update", "key", "time", "origin", "counter", "missing")

    def __init__(self) -> None:
        self.update = np.zeros(0, dtype=np.int64)
        self.key = np.zeros(0, dtype=np.int64)
        self.time = np.zeros(0)
        self.origin = np.zeros(0, dtype=np.int16)
        self.counter = np.zeros(0, dtype=np.int64)
        self.missing = np.zeros(0, dtype=np.int64)
        self.waiting = 0  # entries with missing > 0
        self._by_key: tuple[KeyIndex, np.ndarray, np.ndarray, np.ndarray] | None = None

    def extend(self, **columns) -> None:
        if self.waiting < self.key.size // 2:  # mostly delivered: drop those first
            self.keep(self.missing > 0)
        for name in self.FIELDS:
            setattr(self, name, np.concatenate([getattr(self, name), columns[name]]))
        self.waiting += columns["key"].size
        self._by_key = None

    def keep(self, mask: np.ndarray) -> None:
        for name in self.FIELDS:
            setattr(self, name, getattr(self, name)[mask])
        self._by_key = None

    def _grouped(self) -> tuple[KeyIndex, np.ndarray, np.ndarray, np.ndarray]:
        """The entries grouped by key: (the distinct keys' index, each one's first place and
        count in `order`, and `order`: the entries sorted by key, each key's in added order)."""
        if self._by_key is None:
            order = np.argsort(self.key, kind="stable")
            sorted_keys = self.key[order]
            first = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]]) if order.size else order
            index = KeyIndex()
            index.add(sorted_keys[first])
            self._by_key = index, first, np.diff(np.r_[first, order.size]), order
        return self._by_key

    def of_keys(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(positions in `keys`, pending entries) of every pending entry of one of `keys`,
        entries of a key in the order they were added. A key is looked up in a hash table of the
        pending keys, in one compiled pass: most keys applied have no sampled update pending."""
        index, first, count, order = self._grouped()
        at, entries = probes().group_entries(*index.table, np.ascontiguousarray(keys, dtype=np.int64), first, count,
                                             order)
        if not at.size:  # no sampled update of these keys pending (most applies)
            return at, at
        waiting = self.missing[entries] > 0
        return at[waiting], entries[waiting]


class LatencyTracker:
    """Records (update, replica, latency) for the sampled updates."""

    def __init__(self, sample_every: int, holders: list[int]):
        """`holders[m]`: replicas of each shard of model m that must receive an update (all but
        its origin)."""
        self.sample_every = sample_every
        self.holders = holders
        self.pending = [_Pending() for _ in holders]
        self.produced_updates = 0
        self.updates = _Columns()  # (model, key, produced_s, high), per update id
        self.n_sampled = 0
        self._rows = _Columns()  # (update, replica, latency)
        self._delivered_before_crash: dict[int, np.ndarray] = {}  # replica number: update ids

    def produced(self, model: int, change: Change) -> None:
        """A write at the origin produced the versions `change` holds for its keys (update ids
        go by shard, then in write order)."""
        order = np.argsort(change.holding, kind="stable")
        keys, counter = change.keys[order], change.counter[order]
        self.produced_updates += keys.size
        pick = sampled(keys, counter, self.sample_every)
        n = int(pick.sum())
        if n == 0:
            return
        ids = np.arange(self.n_sampled, self.n_sampled + n, dtype=np.int64)
        self.n_sampled += n
        time = change.time[order][pick]
        self.updates.append(np.full(n, model, dtype=np.int32), keys[pick], time, change.high[order][pick])
        self.pending[model].extend(
            update=ids, key=keys[pick], time=time, origin=change.origin[order][pick],
            counter=counter[pick], missing=np.full(n, self.holders[model], dtype=np.int64),
        )

    def applied(self, model: int, store, change: Change, now: float) -> None:
        """`store` applied `change` at time `now` (rows by holding, then update)."""
        pending = self.pending[model]
        if pending.waiting == 0 or change.keys.size == 0:
            return
        at, entries = pending.of_keys(change.keys)
        if entries.size == 0:
            return
        u = (pending.time[entries], pending.origin[entries], pending.counter[entries])
        held_before = ~newer(*u, change.prev_time[at], change.prev_origin[at], change.prev_counter[at])
        held_now = ~newer(*u, change.time[at], change.origin[at], change.counter[at])
        first = ~held_before & held_now
        at, entries = at[first], entries[first]
        replica = store.replica[change.holding[at]]
        if self._delivered_before_crash:
            again = np.zeros(entries.size, dtype=bool)
            for number in distinct(replica):
                if int(number) in self._delivered_before_crash:
                    mine = replica == number
                    again[mine] = np.isin(pending.update[entries[mine]], self._delivered_before_crash[int(number)])
            entries, replica = entries[~again], replica[~again]
        if entries.size == 0:
            return
        order = np.lexsort((pending.update[entries], replica))
        entries, replica = entries[order], replica[order]
        self._rows.append(pending.update[entries], replica.astype(np.int32), now - pending.time[entries])
        pending.missing[entries] -= 1  # an update's key is in one holding of a store: entries are distinct
        pending.waiting -= int((pending.missing[entries] == 0).sum())

    def lost(self, model: int, store) -> None:
        """`store` (every replica it held) was lost in a crash: remember which pending updates
        each replica had been delivered, so that recovering them is not a delivery."""
        pending = self.pending[model]
        live = np.flatnonzero(pending.missing > 0)
        if live.size == 0:
            return
        keys = pending.key[live]
        held_shard, holdings = store.where_held(keys)
        live, keys = live[held_shard], keys[held_shard]
        _, t, o, c = store.versions(keys)
        held = ~newer(pending.time[live], pending.origin[live], pending.counter[live], t, o, c)
        replica = store.replica[holdings[held]]
        updates = pending.update[live[held]]
        for number in distinct(replica):
            before = self._delivered_before_crash.get(int(number), np.zeros(0, dtype=np.int64))
            self._delivered_before_crash[int(number)] = np.union1d(before, updates[replica == number])

    def undelivered(self) -> int:
        """(update, replica) pairs sampled but not delivered when the run stopped."""
        return int(sum(int(p.missing[p.missing > 0].sum()) for p in self.pending))

    def incomplete(self) -> np.ndarray:
        """Ids of the sampled updates some replica has not received."""
        return np.concatenate([p.update[p.missing > 0] for p in self.pending] + [np.zeros(0, dtype=np.int64)])

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
