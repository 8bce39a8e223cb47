"""A batch of key updates of one model, as trainers push it, and the protocol of what produces them.

An update writes one key (an embedding row or a dense block) with a magnitude (the size of the
gradient step, which the SLO-aware scheduler turns into significance). Updates to one key within
a batch are merged, as a parameter server applies them: one entry, the magnitudes summed, and
the number of updates merged kept (the training examples that touched the key in the batch).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


# `merge` counts per key value, without sorting, when the keys span at most this many times their number.
DENSE_SPAN = 4


@dataclass(frozen=True, eq=False)
class UpdateBatch:
    """The updates of one model produced in one interval, merged per key.

    `keys` are int64, unique and ascending; `magnitudes[i]` (float64, finite, >= 0; > 0 from the
    synthetic workload) is the summed magnitude of the updates to `keys[i]`; `is_new[i]` says that
    `keys[i]` did not exist before this batch; `examples[i]` (int64, >= 1) is how many updates
    were merged into the entry. The arrays are read-only views.
    """

    keys: np.ndarray
    magnitudes: np.ndarray
    is_new: np.ndarray
    examples: np.ndarray

    def __post_init__(self) -> None:
        for name, dtype in (("keys", np.int64), ("magnitudes", np.float64), ("is_new", np.bool_), ("examples", np.int64)):
            array = getattr(self, name)
            if not isinstance(array, np.ndarray) or array.dtype != dtype or array.ndim != 1:
                raise ValueError(f"UpdateBatch.{name} must be a 1-D {np.dtype(dtype)} array")
            if len(array) != len(self.keys):
                raise ValueError(f"UpdateBatch.{name} has {len(array)} entries, keys has {len(self.keys)}")
            # A view, so that freezing it leaves the caller's array writable.
            view = array.view()
            view.flags.writeable = False
            object.__setattr__(self, name, view)
        if not np.all(self.keys[1:] > self.keys[:-1]):
            raise ValueError("UpdateBatch.keys must be unique and ascending")
        if not np.all((self.magnitudes >= 0) & np.isfinite(self.magnitudes)):
            raise ValueError("UpdateBatch.magnitudes must be finite and >= 0")
        if not np.all(self.examples >= 1):
            raise ValueError("UpdateBatch.examples must be >= 1")

    def __len__(self) -> int:
        return len(self.keys)

    @classmethod
    def empty(cls) -> UpdateBatch:
        """A batch without updates."""
        return cls(np.empty(0, np.int64), np.empty(0, np.float64), np.empty(0, np.bool_), np.empty(0, np.int64))

    @classmethod
    def merge(cls, keys: np.ndarray, magnitudes: np.ndarray, is_new: np.ndarray) -> UpdateBatch:
        """Merge single updates (any order, keys may repeat) into a batch.

        One entry per distinct key; its magnitude is the sum of its updates' magnitudes (added in
        input order, so the result is deterministic); it is new if any of its updates was; its
        examples are its updates' count.
        """
        keys = np.asarray(keys, dtype=np.int64)
        magnitudes = np.asarray(magnitudes, dtype=np.float64)
        is_new = np.asarray(is_new, dtype=np.bool_)
        if keys.size and keys.min() >= 0 and keys.max() < DENSE_SPAN * keys.size:
            # Keys dense in their range: count per key value, one pass (no sort); the magnitudes
            # are added in input order all the same, so the sums are the sort path's, bit for bit.
            slot, span = keys, int(keys.max()) + 1
        else:
            distinct, slot = np.unique(keys, return_inverse=True)
            span = len(distinct)
        examples = np.bincount(slot, minlength=span)
        summed = np.bincount(slot, weights=magnitudes, minlength=span).astype(np.float64, copy=False)  # int64 if empty
        new = np.zeros(span, dtype=np.bool_)
        new[slot[is_new]] = True
        if slot is keys:
            distinct = np.flatnonzero(examples)
            summed, new, examples = summed[distinct], new[distinct], examples[distinct]
        return cls(distinct, summed, new, examples.astype(np.int64, copy=False))


class UpdateSource(Protocol):
    """What produces one model's updates: the synthetic workload or a trace."""

    def batch(self, t0: float, t1: float) -> UpdateBatch:
        """The updates produced in [t0, t1) (seconds of simulated time), merged per key."""
        ...
