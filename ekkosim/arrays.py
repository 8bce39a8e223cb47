"""Array operations NumPy has, but slowly for the arrays a run holds, and growable arrays.

`np.unique` without `return_*` takes a hash-based path since NumPy 2.3 that is about 20 times
slower than sorting on millions of distinct integers (0.8 s against 0.04 s for 2 x 10^6 keys,
NumPy 2.4); the end-of-run comparisons call it on every store.
"""

from __future__ import annotations

import numpy as np


def distinct(values: np.ndarray) -> np.ndarray:
    """The distinct elements of `values`, ascending (what `np.unique(values)` gives)."""
    ordered = np.sort(values, axis=None)
    if ordered.size == 0:
        return ordered
    keep = np.empty(ordered.size, dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The concatenation of `arange(starts[j], starts[j] + lengths[j])` over j, without a Python
    loop (the rows of some groups stored one after another, a group's places among its keys)."""
    return np.repeat(starts - (np.cumsum(lengths) - lengths), lengths) + np.arange(int(lengths.sum()))


def present(values: np.ndarray, n: int) -> np.ndarray:
    """The integers of [0, n) that occur in `values` (each in [0, n)), ascending: a count, not a sort."""
    return np.flatnonzero(np.bincount(values, minlength=n))


# A growable array, when it must grow, takes this many times the room it needs: each element is
# copied about 1 / (GROWTH - 1) = 4 times as the array grows, and the room held beyond the
# elements is at most a quarter of them (doubling would copy each once and hold up to as many
# again). A server's arrays are small and come from the heap, where room is resident memory.
GROWTH = 1.25
# Below this many elements an array doubles instead: a growth costs an allocation whatever its
# size, and a store's arrays would otherwise grow some 25 times on their way to 4,096 rows,
# for room that is a few kilobytes at most.
SMALL = 4096


def with_room(array: np.ndarray, used: int, need: int) -> np.ndarray:
    """`array` if it has room for `need` elements, else a larger array of its dtype holding its
    first `used` elements and zeros after."""
    if need <= array.size:
        return array
    grown = np.empty(max(2 * need if need < SMALL else int(need * GROWTH), 16), dtype=array.dtype)
    grown[:used] = array[:used]
    grown[used:] = 0  # (each byte written once: zeros first, then the copy, wrote the first `used` twice)
    return grown
