"""Knowledge: a version vector per shard replica, one counter per origin.

`knowledge[o] == c` claims "this replica holds the effect of every version of origin o up to
counter c": for every such version of a key, the replica's version of that key is at least as
new. Pulls are answered whole per shard, so knowledge stays a plain vector (no exceptions).
"""

from __future__ import annotations

import numpy as np


def empty(n_origins: int) -> np.ndarray:
    return np.zeros(n_origins, dtype=np.int64)


def contains(knowledge: np.ndarray, origin: np.ndarray, counter: np.ndarray) -> np.ndarray:
    """Element-wise: does `knowledge` contain version (origin, counter)? "No version" always is."""
    return counter <= knowledge[origin]


def union(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The knowledge of a replica that holds the effects of both: the element-wise maximum."""
    return np.maximum(a, b)


def covers(knowledge: np.ndarray, floor: np.ndarray) -> bool:
    """Is `knowledge` at least `floor` for every origin?"""
    return bool((knowledge >= floor).all())
