"""Where a key's row is: an open-addressing hash table of int64 keys, vectorised with NumPy.

A server holds only the keys written since the run began (sparse state), scattered over a key
space of up to 10^11 rows, so a row is found by hashing its key. The table probes linearly from
a Fibonacci hash of the key (multiply by 2^64 / golden ratio, keep the high bits) and is kept at
most half full, so a lookup takes about 1.5 probes; every probe is one round of array
operations over the keys still unresolved. Keys are never removed (a replica never forgets a
key it was sent; a crash replaces the whole table).
"""

from __future__ import annotations

import numpy as np

_EMPTY = -1  # keys are >= 0
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIN_BITS = 10


class KeyIndex:
    """Key to row number, for rows numbered 0, 1, 2, ... in the order keys were added."""

    def __init__(self) -> None:
        self._bits = _MIN_BITS
        self._keys = np.full(1 << self._bits, _EMPTY, dtype=np.int64)
        self._rows = np.zeros(1 << self._bits, dtype=np.int64)
        self.size = 0

    def _home(self, keys: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            return ((keys.astype(np.uint64) * _GOLDEN) >> np.uint64(64 - self._bits)).astype(np.int64)

    def find(self, keys: np.ndarray) -> np.ndarray:
        """The row of each key, -1 where it has none."""
        rows = np.full(keys.size, -1, dtype=np.int64)
        if self.size == 0 or keys.size == 0:
            return rows
        mask = (1 << self._bits) - 1
        slot = self._home(keys)
        todo = np.arange(keys.size)
        while todo.size:
            held = self._keys[slot[todo]]
            hit = held == keys[todo]
            rows[todo[hit]] = self._rows[slot[todo[hit]]]
            todo = todo[~hit & (held != _EMPTY)]
            slot[todo] = (slot[todo] + 1) & mask
        return rows

    def add(self, keys: np.ndarray) -> np.ndarray:
        """Give `keys` (distinct, none already held) the next rows; return them."""
        rows = np.arange(self.size, self.size + keys.size, dtype=np.int64)
        if keys.size == 0:
            return rows
        if 2 * (self.size + keys.size) > self._keys.size:
            self._grow(self.size + keys.size)
        self._place(keys, rows)
        self.size += keys.size
        return rows

    def _place(self, keys: np.ndarray, rows: np.ndarray) -> None:
        mask = (1 << self._bits) - 1
        slot = self._home(keys)
        todo = np.arange(keys.size)
        while todo.size:
            free = self._keys[slot[todo]] == _EMPTY
            candidates = todo[free]
            # several keys may probe the same free slot: the first of each takes it
            _, first = np.unique(slot[candidates], return_index=True)
            won = candidates[first]
            self._keys[slot[won]] = keys[won]
            self._rows[slot[won]] = rows[won]
            placed = np.zeros(keys.size, dtype=bool)
            placed[won] = True
            todo = todo[~placed[todo]]
            slot[todo] = (slot[todo] + 1) & mask

    def _grow(self, need: int) -> None:
        held = self._keys != _EMPTY
        keys, rows = self._keys[held], self._rows[held]
        while (1 << self._bits) < 2 * need:
            self._bits += 1
        self._keys = np.full(1 << self._bits, _EMPTY, dtype=np.int64)
        self._rows = np.zeros(1 << self._bits, dtype=np.int64)
        self._place(keys, rows)


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
