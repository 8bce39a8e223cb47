"""Where a key's row is: an open-addressing hash table of row numbers, probed by compiled loops.

A server holds only the keys written since the run began (sparse state), scattered over a key
space of up to 10^11 rows, so a row is found by hashing its key. The index keeps the key of each
row, in row order (the store's key column), and the table only row numbers (int32, 4 B a slot):
a probe compares the key of the row in the slot. The table probes linearly from a Fibonacci hash
of the key (multiply by 2^64 / golden ratio, keep the high bits) and is kept at most half full,
so a lookup takes about 1.5 probes. Keys are never removed (a replica never forgets a key it was
sent; a crash replaces the whole table).

The probes are loops compiled by Numba (`_probe`): a lookup or an insertion is a few
nanoseconds a key, where the same probes as rounds of NumPy operations over the keys still
unresolved cost about ten times more (docs/performance.md). The probes are compiled, or loaded from
Numba's cache, when a simulation is built (`ekkosim.compiled`).
"""

from __future__ import annotations

import numpy as np

from ekkosim.arrays import distinct, with_room
from ekkosim.ps import probes

_EMPTY = -1  # rows are >= 0 (`_probe` holds the same sentinel)
_MIN_BITS = 10
MAX_ROWS = 2**31 - 1  # the table's slots are int32 row numbers


class KeyIndex:
    """Key to row number, for rows numbered 0, 1, 2, ... in the order keys were added; `keys`
    holds the key of each row."""

    def __init__(self) -> None:
        self._probe = probes()
        self._bits = _MIN_BITS
        self._slots = np.full(1 << self._bits, _EMPTY, dtype=np.int32)
        self._keys = np.zeros(16, dtype=np.int64)
        self.size = 0

    @property
    def keys(self) -> np.ndarray:
        """The key of each row."""
        return self._keys[: self.size]

    def find(self, keys: np.ndarray) -> np.ndarray:
        """The row of each key, -1 where it has none."""
        if not (self.size and keys.size):
            return np.full(keys.size, -1, dtype=np.int64)
        return self._probe.find(self._slots, self._keys, self._bits, np.ascontiguousarray(keys, dtype=np.int64))

    def add_missing(self, keys: np.ndarray) -> None:
        """Give the keys among `keys` (repeats allowed) that have no row yet the next rows."""
        keys = np.asarray(keys, dtype=np.int64)
        self.add(distinct(keys[self.find(keys) < 0]))

    def add(self, keys: np.ndarray) -> np.ndarray:
        """Give `keys` (distinct, none already held) the next rows; return them."""
        rows = np.full(keys.size, -1, dtype=np.int64)
        self.add_missing_rows(keys, rows)
        return rows

    def add_missing_rows(self, keys: np.ndarray, rows: np.ndarray) -> int:
        """Give each of `keys` (distinct) whose row in `rows` (`find`'s: int64, written here) is
        -1 the next row, in order, and write it into `rows`; return how many had none. One
        compiled pass."""
        self.reserve(int(np.count_nonzero(rows < 0)))
        added = self._probe.place_missing(self._slots, self._keys, self._bits, self.size,
                                          np.ascontiguousarray(keys, dtype=np.int64), rows)
        self.size += added
        return added

    def reserve(self, n: int) -> None:
        """Room for `n` more rows: in the keys, and in the table, which stays at most half full
        (else every row is hashed again into a larger one first)."""
        end = self.size + n
        if end > MAX_ROWS:
            raise OverflowError(f"a key index holds at most {MAX_ROWS:,} rows")
        self._keys = with_room(self._keys, self.size, end)
        if 2 * end > self._slots.size:
            while (1 << self._bits) < 2 * end:
                self._bits += 1
            self._slots = np.full(1 << self._bits, _EMPTY, dtype=np.int32)
            self._probe.place(self._slots, self._keys, self._bits, 0, self.size)

    @property
    def table(self) -> tuple[np.ndarray, np.ndarray, int]:
        """(slots, keys with their room, bits): what a compiled caller adds rows to with
        `ekkosim.ps._probe.place_missing` (after `reserve`; then `placed`), valid until the next
        change."""
        return self._slots, self._keys, self._bits

    def placed(self, n: int) -> None:
        """A compiled caller placed the next `n` rows in `table`."""
        self.size += n


class DenseIndex:
    """Key to row for a store that holds a row for every key of its shards (a small key space,
    where hashing would cost more than the memory it saves): shard copy h's keys are rows
    `offset[h]` to `offset[h] + n_keys[h] - 1`, by local index; `keys` holds the key of each row."""

    def __init__(self, shards: np.ndarray, n_keys: np.ndarray, model_shards: int):
        self.model_shards = model_shards
        self.offset = np.concatenate([[0], np.cumsum(n_keys)[:-1]]).astype(np.int64)
        self.size = int(n_keys.sum())
        self._offset_of_shard = np.zeros(model_shards, dtype=np.int64)  # a small key space has few shards
        self._offset_of_shard[shards] = self.offset
        holding = np.repeat(np.arange(shards.size), n_keys)
        self.keys = (np.arange(self.size) - self.offset[holding]) * model_shards + shards[holding]  # of each row

    def find(self, keys: np.ndarray) -> np.ndarray:
        return self._offset_of_shard[keys % self.model_shards] + keys // self.model_shards
