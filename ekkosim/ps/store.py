"""The shard copies of one model that one parameter server holds, in one set of arrays.

Sparse per-key state: a server stores a row (version, value, priority class, the change that
last wrote it) only for the keys written since the run began; every other key of its shards
holds the *base* state, one rule for all of them: "no version" and value 0, or with a warm
start (`sync.warm_start`) the version written at time 0 to the first `cache_size` keys of each
shard, and with the quality model the truth of time 0 (`base_value`). So memory follows the keys
touched, not the model's size, and the model's `keys` is its real key space.

Per shard copy held (a *holding*), the store keeps its shard version, its knowledge (a version
vector, `ekkosim.ps.knowledge`) and its update cache's floors (`ekkosim.ps.update_cache`). Shard
versions are stamps of one clock per store that moves once per change (a write or an apply): a
shard's version is the clock at its last change, so it grows on every change to the shard, and a
puller that saw the clock at c holds everything changed at or before c. Every change is appended
to a journal in clock order (`ekkosim.ps.journal`), linked per holding, so "what holding h
changed since c" costs what it returns, whatever the number of shards.

Keys are model keys; key k lives in shard k mod shards at local index k div shards.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from ekkosim.arrays import ranges, with_room
from ekkosim.ps import kernels
from ekkosim.ps.journal import Journal
from ekkosim.ps.key_index import DenseIndex, KeyIndex
from ekkosim.ps.update_cache import WARM_ORIGIN, WARM_SEQ, UpdateCache
from ekkosim.schema import DENSE_KEYS

_NO_TABLE = (np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int64), 0)  # a dense store's index has none
_NO_HOLDINGS = np.zeros(0, dtype=np.int64)  # an apply that takes no knowledge
_NO_KNOWLEDGE = np.zeros((0, 0), dtype=np.int64)


def rows_by_shard(keys: np.ndarray, shards: int) -> dict[int, np.ndarray]:
    """Where each shard's keys are in `keys` (model keys): the positions of each shard that has
    any, shards ascending, each shard's positions ascending."""
    shard_of = keys % shards
    by_shard = shard_of.argsort(kind="stable")
    touched, starts = np.unique(shard_of[by_shard], return_index=True)
    return dict(zip(touched.tolist(), np.split(by_shard, starts[1:])))


def shard_keys(keys: int, shards: int, shard: np.ndarray | int):
    """Keys of `shard` when key k lives in shard k mod shards."""
    return (keys - shard + shards - 1) // shards


class Change(NamedTuple):
    """What one write or apply changed: per key, its holding, the version (and class) now held,
    and the version held before (to measure latency)."""

    holding: np.ndarray
    keys: np.ndarray
    time: np.ndarray
    origin: np.ndarray
    counter: np.ndarray
    high: np.ndarray
    prev_time: np.ndarray
    prev_origin: np.ndarray
    prev_counter: np.ndarray


class _Columns:
    """Growable per-row columns (`ekkosim.arrays.with_room`); a row's key is in the store's index.
    Each column is an attribute, a view of its first `n` rows, made again when `n` changes (a pull
    reads the columns a dozen times for each time it adds rows)."""

    DTYPES = {"holding": np.int32, "time": np.float64, "origin": np.int16,
              "counter": np.int64, "value": np.float64, "seq": np.int64, "high": np.bool_}
    holding: np.ndarray
    time: np.ndarray
    origin: np.ndarray
    counter: np.ndarray
    value: np.ndarray
    seq: np.ndarray
    high: np.ndarray

    def __init__(self, n: int = 0) -> None:
        """`n` rows of zeros, and no room beyond them (a dense store never grows)."""
        self.n = n
        self._data = {name: np.zeros(max(n, 16), dtype=dtype) for name, dtype in self.DTYPES.items()}
        self._views()

    def _views(self) -> None:
        for name, column in self._data.items():
            setattr(self, name, column[: self.n])

    @property
    def room(self) -> tuple[np.ndarray, ...]:
        """The columns with their room beyond the `n` rows, in `DTYPES`' order: what a compiled
        writer adds rows to (`reserve` first, `extend` after), valid until the next change."""
        return tuple(self._data.values())

    def reserve(self, n: int) -> None:
        """Room for `n` more rows (the columns are then new arrays, and so are their views)."""
        if self.n + n > self._data["holding"].size:
            for name, column in self._data.items():
                self._data[name] = with_room(column, self.n, self.n + n)
            self._views()

    def extend(self, n: int) -> None:
        """`n` more rows (zeros, or what a compiled writer wrote in the room)."""
        self.reserve(n)
        self.n += n
        self._views()


class Store:
    """One server's copies of one model's shards: `shards[h]` is the shard of holding h (sorted),
    `replica[h]` its replica number in the cluster."""

    def __init__(self, model_keys: int, model_shards: int, shards: np.ndarray, replica: np.ndarray,
                 n_origins: int, cache_size: int | None, warm_keys: int,
                 base_value: Callable[[np.ndarray], np.ndarray] | None = None, dense_keys: int = DENSE_KEYS):
        """`warm_keys`: keys per shard that hold the warm-start version (0: none). A store whose
        shards hold at most `dense_keys` keys in all keeps a row for every key (`DenseIndex`)."""
        self.model_keys, self.model_shards = model_keys, model_shards
        self.shards = np.asarray(shards, dtype=np.int64)
        self.replica = np.asarray(replica, dtype=np.int64)
        self.n_keys = shard_keys(model_keys, model_shards, self.shards)  # keys per holding
        h = self.shards.size
        self.warm = np.minimum(warm_keys, self.n_keys)  # keys per holding holding the warm version
        self.base_value = base_value
        self.version = np.zeros(h, dtype=np.int64)
        self.knowledge = np.zeros((h, n_origins), dtype=np.int64)
        self.knowledge[:, WARM_ORIGIN] = self.warm
        self.clock = 0
        if warm_keys:  # the warm start is the store's first change (of shards with keys)
            self.clock = WARM_SEQ
            self.version[self.warm > 0] = WARM_SEQ
        self.dense = int(self.n_keys.sum()) <= dense_keys
        if self.dense:  # a row for every key, holding the base state
            self.index = DenseIndex(self.shards, self.n_keys, model_shards)
            self.rows = _Columns(self.index.size)
            r = self.rows
            r.holding[:] = np.repeat(np.arange(h), self.n_keys)
            r.time[:], r.origin[:], r.counter[:] = self.base_version(self.keys)
            r.seq[:] = np.where(r.counter > 0, WARM_SEQ, 0)
            r.value[:] = self.base_values(self.keys)
        else:
            self.index = KeyIndex()
            self.rows = _Columns()
        self.journal = Journal(h)
        self.cache = UpdateCache(cache_size, self) if cache_size else None

    def __len__(self) -> int:
        return self.rows.n

    @property
    def keys(self) -> np.ndarray:
        """The key of each row."""
        return self.index.keys

    def held_keys(self) -> np.ndarray:
        """Every key that holds a version here (rows with one, and warm keys without a row)."""
        keys = self.keys[self.rows.counter > 0]
        if self.dense or not self.warm.any():
            return keys
        local = ranges(np.zeros_like(self.warm), self.warm)
        warm = local * self.model_shards + np.repeat(self.shards, self.warm)
        return np.union1d(keys, warm)

    def set_base_value(self, base_value: Callable[[np.ndarray], np.ndarray]) -> None:
        """Keys no one has written hold `base_value(keys)` (set before the run starts)."""
        self.base_value = base_value
        if self.dense:
            self.rows.value[:] = base_value(self.keys)

    def rows_of(self, shards: np.ndarray) -> np.ndarray:
        """The rows of the keys of `shards` (those held here)."""
        _, held = self._held_shards(shards)
        if not held.size:
            return np.zeros(0, dtype=np.int64)
        if self.dense:  # each holding's rows are one range
            starts, lengths = self.index.offset[held], self.n_keys[held]
            return ranges(starts, lengths)
        return np.flatnonzero(np.isin(self.rows.holding, held))

    def holdings_of(self, keys: np.ndarray) -> np.ndarray:
        """The holding of each key's shard (every key's shard must be held here)."""
        return self.shards.searchsorted(keys % self.model_shards)

    def where_held(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(held, holdings): whether each key's shard is held here, and the holding of each of
        those keys."""
        return self._held_shards(keys % self.model_shards)

    def _held_shards(self, shards: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(held, holdings): whether each of `shards` is held here, and the holding of each held one."""
        at = self.shards.searchsorted(shards)
        held = at < self.shards.size
        held[held] = self.shards[at[held]] == shards[held]
        return held, at[held]

    # -- reading -------------------------------------------------------------------------------

    def base_version(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(time, origin, counter) of `keys` (of shards held here) as if they had no row: the
        warm-start version or none."""
        keys = np.ascontiguousarray(keys, dtype=np.int64)
        return self._held(np.full(keys.size, -1, dtype=np.int64), keys)

    def base_values(self, keys: np.ndarray) -> np.ndarray:
        return np.zeros(keys.size) if self.base_value is None else self.base_value(keys)

    def versions(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(rows, time, origin, counter) of `keys` (of shards held here); rows -1 where a key has
        no row, and then its version is the base one (`base_version`)."""
        keys = np.ascontiguousarray(keys, dtype=np.int64)
        rows = self.index.find(keys)
        return (rows, *self._held(rows, keys))

    def _held(self, rows: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        r = self.rows
        return kernels().held_versions(rows, keys, self.shards, self.warm, self.model_shards, WARM_ORIGIN,
                                       r.time, r.origin, r.counter)

    def values(self, keys: np.ndarray) -> np.ndarray:
        rows = self.index.find(keys)
        present = rows >= 0
        values = self.base_values(keys) if not present.all() else np.empty(keys.size)
        values[present] = self.rows.value[rows[present]]
        return values

    # -- changing ------------------------------------------------------------------------------

    def write(self, origin: int, keys: np.ndarray, values: np.ndarray, now: float,
              high: np.ndarray | bool = False) -> Change:
        """Produce new versions of `keys` (distinct) as their origin: each holding's next counters
        of `origin`, time `now`, priority class `high`. Trainer updates and rollbacks enter here."""
        holdings = self.holdings_of(keys)
        counters = kernels().next_counters(self.knowledge, holdings, origin)  # (an apply given no knowledge reads none)
        n = keys.size
        return self.apply(holdings, keys, np.full(n, now, dtype=np.float64), np.full(n, origin, dtype=np.int16),
                          counters, np.ascontiguousarray(values, dtype=np.float64),
                          np.broadcast_to(np.asarray(high, dtype=bool), n).copy())

    def apply(self, holdings, keys, time, origin, counter, value, high,
              knowledge_of: np.ndarray | None = None, knowledge: np.ndarray | None = None) -> Change:
        """Take each given version that is newer than the one held (newest wins) and, for the
        holdings `knowledge_of` (answers that held every key this server may lack), the union
        with the peer's `knowledge` rows. Either change moves the holding's shard version (a
        cursor puller must hear of grown knowledge too). Keys must be distinct, and so must the
        holdings `knowledge_of`."""
        if not keys.size and (knowledge_of is None or not knowledge_of.size):  # nothing: no change
            return Change(holdings, keys, time, origin, counter, high, time, origin, counter)
        n = keys.size
        keys = np.ascontiguousarray(keys, dtype=np.int64)
        rows = self.index.find(keys)
        if knowledge_of is None or not knowledge_of.size:
            knowledge_of, knowledge = _NO_HOLDINGS, _NO_KNOWLEDGE
        knowledge_of = np.ascontiguousarray(knowledge_of, dtype=np.int64)
        knowledge = np.ascontiguousarray(knowledge, dtype=np.int64)
        journaled = self.cache is not None  # without a cache every answer is a full scan
        for _ in range(2):  # (again where the rows had to grow first; a dense store has a row for every key)
            slots, room_keys, bits = _NO_TABLE if self.dense else self.index.table
            newest, prev, seqs, entry_rows, entries = self.journal.links
            need, self.clock, added, taken, appended, take, *held = kernels().apply_versions(
                rows, holdings, keys, time, origin, counter, value, high, knowledge_of, knowledge, self.clock,
                self.shards, self.warm, self.model_shards, WARM_ORIGIN, slots, room_keys, bits, len(self),
                *self.rows.room, self.version, self.knowledge, int(journaled), entry_rows, seqs, newest, prev, entries)
            if not need:
                break
            self.index.reserve(need)  # (as many rows as the index holds keys: room for both)
            self.rows.reserve(need)
        else:
            raise RuntimeError("an apply found no room for its new rows after making it")
        if added:
            self.index.placed(added)
            self.rows.extend(added)
        if taken < n:
            holdings, keys, time, origin, counter, high = (
                a[take] for a in (holdings, keys, time, origin, counter, high))
            held = [column[take] for column in held]
        if journaled and taken:
            if appended:
                self.journal.appended(taken)
            else:  # the journal is full: if at least a fifth of it is stale (a row has one live
                # entry at most), drop what readers skip rather than grow (each drop frees a
                # fifth, so drops stay rare)
                if 4 * self.journal.n >= 5 * len(self):
                    self.journal.drop_stale(self.rows.seq, self.rows.holding, taken)
                self.journal.append(rows if taken == n else rows[take], holdings, self.clock)
            self.cache.changed(taken)
        return Change(holdings, keys, time, origin, counter, high, *held)

    def since(self, clock: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, seqs) of the rows changed after `clock` that the journal still holds, in clock
        order (each row once, at its last change)."""
        return self.journal.since(clock, self.rows.seq)

    def changed_after(self, holdings: np.ndarray, after: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(rows, which) of the rows of each `holdings[j]` (distinct) changed after shard version
        `after[j]` that the journal still holds, in clock order (each row once, at its last
        change); `which` is each row's j. Costs what it returns, whatever the shards."""
        return self.journal.of_holdings(holdings, after, self.rows.seq)
