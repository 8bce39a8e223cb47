"""Where a key's row is: an open-addressing hash table of int64 keys, probed by compiled loops.

A server holds only the keys written since the run began (sparse state), scattered over a key
space of up to 10^11 rows, so a row is found by hashing its key. The table probes linearly from
a Fibonacci hash of the key (multiply by 2^64 / golden ratio, keep the high bits) and is kept at
most half full, so a lookup takes about 1.5 probes. Keys are never removed (a replica never
forgets a key it was sent; a crash replaces the whole table).

The probes are loops compiled by Numba (`_probe`): a lookup or an insertion is a few
nanoseconds a key, where the same probes as rounds of NumPy operations over the keys still
unresolved cost about ten times more (docs/performance.md). Numba is imported when the first
sparse store is made, so runs whose stores are all dense (`DenseIndex`) never load it.
"""

from __future__ import annotations

import numpy as np

_EMPTY = -1  # keys are >= 0 (`_probe` holds the same sentinel)
_MIN_BITS = 10


class KeyIndex:
    """Key to row number, for rows numbered 0, 1, 2, ... in the order keys were added."""

    def __init__(self) -> None:
        from ekkosim.ps import _probe  # compiled on first use: see the module's docstring

        self._probe = _probe
        self._bits = _MIN_BITS
        self._keys = np.full(1 << self._bits, _EMPTY, dtype=np.int64)
        self._rows = np.zeros(1 << self._bits, dtype=np.int64)
        self.size = 0

    def find(self, keys: np.ndarray) -> np.ndarray:
        """The row of each key, -1 where it has none."""
        rows = np.full(keys.size, -1, dtype=np.int64)
        if self.size and keys.size:
            self._probe.find(self._keys, self._rows, self._bits, np.ascontiguousarray(keys, dtype=np.int64), rows)
        return rows

    def add(self, keys: np.ndarray) -> np.ndarray:
        """Give `keys` (distinct, none already held) the next rows; return them."""
        rows = np.arange(self.size, self.size + keys.size, dtype=np.int64)
        if keys.size == 0:
            return rows
        if 2 * (self.size + keys.size) > self._keys.size:
            self._grow(self.size + keys.size)
        self._probe.place(self._keys, self._rows, self._bits, np.ascontiguousarray(keys, dtype=np.int64), rows)
        self.size += keys.size
        return rows

    def _grow(self, need: int) -> None:
        held = self._keys != _EMPTY
        keys, rows = self._keys[held], self._rows[held]
        while (1 << self._bits) < 2 * need:
            self._bits += 1
        self._keys = np.full(1 << self._bits, _EMPTY, dtype=np.int64)
        self._rows = np.zeros(1 << self._bits, dtype=np.int64)
        self._probe.place(self._keys, self._rows, self._bits, keys, rows)


class DenseIndex:
    """Key to row for a store that holds a row for every key of its shards (a small key space,
    where hashing would cost more than the memory it saves): shard copy h's keys are rows
    `offset[h]` to `offset[h] + n_keys[h] - 1`, by local index."""

    def __init__(self, shards: np.ndarray, n_keys: np.ndarray, model_shards: int):
        self.shards, self.model_shards = shards, model_shards
        self.offset = np.concatenate([[0], np.cumsum(n_keys)[:-1]]).astype(np.int64)
        self.size = int(n_keys.sum())
        self._offset_of_shard = np.zeros(model_shards, dtype=np.int64)  # a small key space has few shards
        self._offset_of_shard[shards] = self.offset

    def find(self, keys: np.ndarray) -> np.ndarray:
        return self._offset_of_shard[keys % self.model_shards] + keys // self.model_shards

    def all_keys(self, n_keys: np.ndarray) -> np.ndarray:
        """The key of every row, in row order."""
        holding = np.repeat(np.arange(self.shards.size), n_keys)
        local = np.arange(self.size) - self.offset[holding]
        return local * self.model_shards + self.shards[holding]
