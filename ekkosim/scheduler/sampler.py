"""The background sampler that estimates a model's mean update magnitude.

Ekko samples each model's updates in the background and divides an update's magnitude by its
model's mean to get the update's significance (the book says no more). Ours: every update is kept
with probability `sample_rate` (a Bernoulli draw each, from the model's own generator), into a
ring of the last `window` kept magnitudes; the mean is the ring's mean, so it follows a model
whose magnitudes drift (roughly the last window / sample_rate updates).
"""

from __future__ import annotations

import math

import numpy as np


class MagnitudeSampler:
    """Mean magnitude of a model's recent updates, from a Bernoulli sample of them."""

    def __init__(self, rng: np.random.Generator, sample_rate: float, window: int):
        if not 0.0 < sample_rate <= 1.0:
            raise ValueError(f"MagnitudeSampler needs 0 < sample_rate <= 1, got {sample_rate}")
        if window < 1:
            raise ValueError(f"MagnitudeSampler needs window >= 1, got {window}")
        self._rng = rng
        self.sample_rate = sample_rate
        self.window = window
        self._ring = np.empty(window, dtype=np.float64)
        self._next = 0  # where the next kept magnitude goes: the oldest one once the ring is full
        self._held = 0

    def __len__(self) -> int:
        """Magnitudes in the ring."""
        return self._held

    def observe(self, magnitudes: np.ndarray) -> None:
        """Offer one batch of update magnitudes: one uniform draw each, O(batch)."""
        magnitudes = np.asarray(magnitudes, dtype=np.float64)
        kept = magnitudes[self._rng.random(magnitudes.size) < self.sample_rate]
        if kept.size >= self.window:
            self._ring[:] = kept[-self.window :]
            self._next = 0
        else:
            slots = (self._next + np.arange(kept.size)) % self.window
            self._ring[slots] = kept
            self._next = (self._next + kept.size) % self.window
        self._held = min(self.window, self._held + kept.size)

    @property
    def mean(self) -> float:
        """Mean of the ring; NaN before any magnitude was kept."""
        if self._held == 0:
            return math.nan
        return float(self._ring[: self._held].mean())
