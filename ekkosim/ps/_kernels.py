"""A pull's per-shard loops, compiled by Numba (imported on first use): what moved, and the
journal's entries of what moved. Each is one pass over its input with no temporary arrays, where
NumPy would make one per step."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def entries_after(newest: np.ndarray, prev: np.ndarray, seqs: np.ndarray, holdings: np.ndarray,
                  after: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(positions, which) of the journal entries of each `holdings[j]` with a clock above
    `after[j]` (`ekkosim.ps.journal.Journal.of_holdings`): from the holding's newest entry, the
    links back to older ones while their clock is above the bound. Two passes, one counting and
    one filling, so the result is allocated once."""
    total = 0
    for j in range(holdings.size):
        i = newest[holdings[j]]
        while i >= 0 and seqs[i] > after[j]:
            total += 1
            i = prev[i]
    positions = np.empty(total, dtype=np.int64)
    which = np.empty(total, dtype=np.int64)
    k = 0
    for j in range(holdings.size):
        i = newest[holdings[j]]
        while i >= 0 and seqs[i] > after[j]:
            positions[k] = i
            which[k] = j
            k += 1
            i = prev[i]
    return positions, which


@numba.njit(cache=True, nogil=True)
def moved_pairs(version: np.ndarray, theirs: np.ndarray, cursors: np.ndarray) -> np.ndarray:
    """The pairs p whose peer shard version `version[theirs[p]]` is not the cursor `cursors[p]`."""
    moved = np.empty(theirs.size, dtype=np.int64)
    k = 0
    for p in range(theirs.size):
        if version[theirs[p]] != cursors[p]:
            moved[k] = p
            k += 1
    return moved[:k].copy()
