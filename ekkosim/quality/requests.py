"""Inference requests of one (DC, model) stream: Poisson arrivals, keys by popularity.

Requests follow the update workload's own popularity (its rank-to-key map is handed in), so
they hit the keys the trainer is updating, and the hot set drifts with it.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ekkosim.workload.synthetic import BoundedZipf


class RequestSampler:
    """Requests at `rate` per second; each asks for the key of a bounded-Zipf(`zipf`) rank in
    [1, n_keys], mapped by `keys_of_ranks(ranks, t)`.

    `n_keys` is a plain attribute: raise it as the workload creates keys for requests to reach
    them. Cost O(requests) per sample.
    """

    def __init__(
        self,
        rng: np.random.Generator,
        rate: float,
        zipf: float,
        n_keys: int,
        keys_of_ranks: Callable[[np.ndarray, float], np.ndarray],
    ):
        if not (math.isfinite(rate) and rate >= 0):
            raise ValueError(f"request rate must be finite and >= 0, got {rate}")
        self._rng = rng
        self.rate = rate
        self._zipf = BoundedZipf(zipf)
        self.n_keys = n_keys
        self._keys_of_ranks = keys_of_ranks

    def sample(self, t0: float, t1: float) -> tuple[np.ndarray, np.ndarray]:
        """The requests arriving in [t0, t1): their times (sorted) and keys (int64).

        Draws, in order: the Poisson count, the times, the ranks. Keys are mapped at `t0`, as
        the workload maps a batch's updates. Times and keys are independent, so sorting the times
        alone leaves a valid sample.
        """
        if not t0 <= t1:
            raise ValueError(f"interval [{t0}, {t1}) is empty or reversed")
        rng = self._rng
        count = int(rng.poisson(self.rate * (t1 - t0)))
        times = np.sort(t0 + (t1 - t0) * rng.random(count))
        if count:  # t0 + (t1 - t0) u may round up to t1 itself; the interval is half-open
            np.minimum(times, np.nextafter(t1, t0), out=times)
        ranks = self._zipf.sample(rng, self.n_keys, count)
        return times, np.asarray(self._keys_of_ranks(ranks, t0), dtype=np.int64)
