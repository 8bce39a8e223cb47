"""The hash table's probes (`ekkosim.ps.key_index.KeyIndex`), compiled by Numba.

A table of 2^bits slots holds a key (or -1, empty) and its row. A key's home slot is the
Fibonacci hash of the key: its product with 2^64 / golden ratio, modulo 2^64, shifted right to
keep the top `bits` bits; a probe moves to the next slot, wrapping around.
"""

from __future__ import annotations

import numba
import numpy as np

_EMPTY = -1
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@numba.njit(cache=True, nogil=True)
def home(key: int, shift: np.uint64) -> int:
    return np.int64((np.uint64(key) * _GOLDEN) >> shift)


@numba.njit(cache=True, nogil=True)
def find(table_keys: np.ndarray, table_rows: np.ndarray, bits: int, keys: np.ndarray, rows: np.ndarray) -> None:
    """Write into `rows` the row of each of `keys` held in the table (leave the others)."""
    mask = (1 << bits) - 1
    shift = np.uint64(64 - bits)
    for i in range(keys.size):
        key = keys[i]
        slot = home(key, shift)
        while True:
            held = table_keys[slot]
            if held == key:
                rows[i] = table_rows[slot]
                break
            if held == _EMPTY:
                break
            slot = (slot + 1) & mask


@numba.njit(cache=True, nogil=True)
def place(table_keys: np.ndarray, table_rows: np.ndarray, bits: int, keys: np.ndarray, rows: np.ndarray) -> None:
    """Put each of `keys` (distinct, none held; the table has room) in the table with its row."""
    mask = (1 << bits) - 1
    shift = np.uint64(64 - bits)
    for i in range(keys.size):
        slot = home(keys[i], shift)
        while table_keys[slot] != _EMPTY:
            slot = (slot + 1) & mask
        table_keys[slot] = keys[i]
        table_rows[slot] = rows[i]
