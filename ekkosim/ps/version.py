"""Versions of keys, and which of two is newer.

A version is (time, origin, counter): the physical time it was produced, the replica that
produced it, and that origin's counter for the shard. The newest time wins; ties go to the
larger origin id, then the larger counter, so every replica picks the same winner. All zeros
means "no version": counters start at 1 and times are >= 0, so it is older than any version.
"""

from __future__ import annotations

import numpy as np


def newer(t_a, o_a, c_a, t_b, o_b, c_b) -> np.ndarray:
    """Element-wise: is version a strictly newer than version b?"""
    result = t_a > t_b
    tie = np.equal(t_a, t_b)
    if np.count_nonzero(tie):  # rare outside warm-started keys: skip the tie-break otherwise
        result = result | (tie & ((o_a > o_b) | ((o_a == o_b) & (c_a > c_b))))
    return result
