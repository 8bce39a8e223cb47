"""Biased updates: harmful values published in place of the trainer's (a training bug, poisoned
data), injected by a scenario's `quality.biased_updates` bursts (docs/manager.md).

During a burst of model m, each key of a write is biased with probability `share` (drawn from
the model's own stream, in write order): its published value is the trainer's clean value moved
`strength` logits away from the key's truth at that instant (upward where the two are equal).
The trainer keeps its clean copy; only what is published, and so synced and served, is harmed.
"""

from __future__ import annotations

import numpy as np

from ekkosim.ps.key_index import KeyIndex


class Bias:
    """The bursts of one model and the random stream that picks the keys they bias."""

    def __init__(self, bursts: list, rng: np.random.Generator):
        self.bursts = sorted(bursts, key=lambda b: (b.start, b.end))
        self.rng = rng
        # the keys ever published biased (`touched.keys`, for tests and reports), as a store's
        # keys are held: a set of Python ints would cost about three times as much a key
        self.touched = KeyIndex()

    def active(self, now_s: float):
        """The burst in force at `now_s` (the first listed if several overlap), or None."""
        return next((b for b in self.bursts if b.start <= now_s < b.end), None)

    def apply(self, keys: np.ndarray, clean: np.ndarray, truth: np.ndarray, now_s: float) -> np.ndarray:
        """Published values of `keys`, given their clean values and true logits now."""
        burst = self.active(now_s)
        if burst is None or keys.size == 0:
            return clean
        biased = self.rng.random(keys.size) < burst.share
        direction = np.where(clean >= truth, 1.0, -1.0)
        self.touched.add_missing(keys[biased])
        return np.where(biased, clean + burst.strength * direction, clean)
