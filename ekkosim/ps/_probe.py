"""The hash table's probes (`ekkosim.ps.key_index.KeyIndex`), compiled by Numba.

A table of 2^bits slots holds row numbers (or -1, empty), and `row_keys[row]` is the key of a
row. A key's home slot is the Fibonacci hash of the key: its product with 2^64 / golden ratio,
modulo 2^64, shifted right to keep the top `bits` bits; a probe moves to the next slot, wrapping
around, until it meets the key's row or an empty slot.
"""

from __future__ import annotations

import numpy as np

from ekkosim.compiled import INT, UINT64, array, compiled

_EMPTY = -1
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@compiled(INT, UINT64)
def home(key: int, shift: np.uint64) -> int:
    return np.int64((np.uint64(key) * _GOLDEN) >> shift)


@compiled(array(np.int32), array(np.int64), INT, array(np.int64))
def find(slots: np.ndarray, row_keys: np.ndarray, bits: int, keys: np.ndarray) -> np.ndarray:
    """The row of each of `keys` held in the table, -1 for the others."""
    rows = np.full(keys.size, _EMPTY, dtype=np.int64)
    mask = (1 << bits) - 1
    shift = np.uint64(64 - bits)
    for i in range(keys.size):
        key = keys[i]
        slot = home(key, shift)
        while True:
            row = slots[slot]
            if row == _EMPTY:
                break
            if row_keys[row] == key:
                rows[i] = row
                break
            slot = (slot + 1) & mask
    return rows


@compiled(array(np.int32, written=True), array(np.int64), INT, INT, INT)
def place(slots: np.ndarray, row_keys: np.ndarray, bits: int, start: int, end: int) -> None:
    """Put rows `start` to `end - 1` (of distinct keys `row_keys[row]`, none held; the table has
    room) in the table."""
    mask = (1 << bits) - 1
    shift = np.uint64(64 - bits)
    for row in range(start, end):
        slot = home(row_keys[row], shift)
        while slots[slot] != _EMPTY:
            slot = (slot + 1) & mask
        slots[slot] = row


@compiled(array(np.int32, written=True), array(np.int64, written=True), INT, INT, array(np.int64),
          array(np.int64, written=True))
def place_missing(slots: np.ndarray, row_keys: np.ndarray, bits: int, size: int, keys: np.ndarray,
                  rows: np.ndarray) -> int:
    """Give each of `keys` (distinct) whose row is -1 in `rows` the next row, from `size` on in
    order: its key in `row_keys`, the row in the table and in `rows`. Returns how many. The
    caller makes room (`row_keys` long enough, the table at most half full after)."""
    if rows.size != keys.size:  # (Numba checks no bounds)
        raise ValueError("a row for each key")
    mask = (1 << bits) - 1
    shift = np.uint64(64 - bits)
    row = size
    for i in range(keys.size):
        if rows[i] >= 0:
            continue
        if row >= row_keys.size or 2 * (row + 1) > slots.size:
            raise IndexError("no room for the rows given")
        row_keys[row] = keys[i]
        slot = home(keys[i], shift)
        while slots[slot] != _EMPTY:
            slot = (slot + 1) & mask
        slots[slot] = row
        rows[i] = row
        row += 1
    return row - size


@compiled(array(np.int32), array(np.int64), INT, array(np.int64), array(np.int64), array(np.int64), array(np.int64))
def group_entries(slots: np.ndarray, row_keys: np.ndarray, bits: int, keys: np.ndarray, first: np.ndarray,
                  count: np.ndarray, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(at, entries) of the keys that have a row, each row standing for a group of entries
    (`order[first[row]]` to `order[first[row] + count[row] - 1]`): per such key i, in order, i
    repeated for each entry of its group, and those entries. A lookup and a gather in two passes,
    the first counting, so nothing is allocated for keys without a row (most lookups)."""
    if first.size != count.size:  # (Numba checks no bounds)
        raise ValueError("a first entry and a count for each group")
    rows = find(slots, row_keys, bits, keys)
    total = 0
    for i in range(keys.size):
        row = rows[i]
        if row >= 0:
            if not (row < first.size and 0 <= first[row] and first[row] + count[row] <= order.size):
                raise IndexError("a group beyond the entries")
            total += count[row]
    at = np.empty(total, dtype=np.int64)
    entries = np.empty(total, dtype=np.int64)
    k = 0
    for i in range(keys.size):
        row = rows[i]
        if row >= 0:
            for j in range(first[row], first[row] + count[row]):
                at[k], entries[k] = i, order[j]
                k += 1
    return at, entries
