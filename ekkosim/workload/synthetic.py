"""The synthetic update workload: Poisson updates, bounded-Zipf key popularity that drifts down
the ranks, a share of updates creating brand-new keys, lognormal magnitudes.

Everything is drawn from the generator handed in, and costs O(updates) in time and memory,
never O(keys): a model may have 10^12 keys. docs/workload.md gives the formulas.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from ekkosim.schema import Model
from ekkosim.workload.batch import UpdateBatch

# The golden-ratio conjugate: the multiples of a ~ 0.618 n modulo n are as evenly spread over
# [0, n) as multiples can be (three-distance theorem), so popular keys land far apart.
GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0

# _mulmod splits its factor into two 20-bit halves; every product then stays below 2^63.
_HALF_BITS = 20
_MAX_MODULUS = 1 << (2 * _HALF_BITS)
# Below this modulus the product itself stays below 2^62, so _mulmod need not split.
_DIRECT_MODULUS = 1 << 31


class BoundedZipf:
    """Popularity ranks 1..n with P(r) proportional to r^-s, for s >= 0, sampled by inverse transform.

    The first `HEAD` ranks are sampled exactly (from a table of their cumulative weights). Ranks
    above `HEAD` follow a continuous approximation: the density x^-s over [HEAD + 1/2, n + 1/2],
    inverted and rounded to the nearest rank (the midpoint rule), whose relative error per rank
    is about s(s + 1) / (24 r^2), below 1.3e-6 for every s <= 5. s = 0 is sampled exactly
    uniform. The tail's formulas use expm1 and log1p, which stay accurate as s -> 1; s = 1 is
    their limit, taken exactly. Memory is O(HEAD), whatever n.
    """

    HEAD = 1024

    def __init__(self, s: float):
        if not s >= 0:
            raise ValueError(f"Zipf exponent must be >= 0, got {s}")
        self.s = s
        self._head_cumulative = np.cumsum(np.arange(1, self.HEAD + 1, dtype=np.float64) ** -s)

    def sample(self, rng: np.random.Generator, n: int, size: int) -> np.ndarray:
        """`size` ranks in [1, n] (int64), drawn with one uniform number each."""
        if n < 1:
            raise ValueError(f"need at least one rank, got n = {n}")
        if self.s == 0:
            return rng.integers(1, n, endpoint=True, size=size, dtype=np.int64)
        head, head_mass, tail_mass = self._masses(n)
        u = rng.random(size) * (head_mass + tail_mass)
        ranks = np.empty(size, dtype=np.int64)
        in_head = u < head_mass
        # Positions, not masks: indexing with a mask this mixed is slower.
        head_at, tail_at = np.flatnonzero(in_head), np.flatnonzero(~in_head)
        ranks[head_at] = np.searchsorted(self._head_cumulative[:head], u[head_at], side="right") + 1
        if tail_at.size:
            share = np.minimum((u[tail_at] - head_mass) / tail_mass, 1.0)
            lo, t = head + 0.5, 1.0 - self.s
            x = lo * np.exp(_log1p_over(t, share * _expm1_over(t, math.log((n + 0.5) / lo))))
            # Rounding may put x a hair outside [head + 1/2, n + 1/2]; keep the tail's ranks.
            ranks[tail_at] = np.clip(np.floor(x + 0.5), head + 1, n)
        return ranks

    def pmf(self, n: int, ranks: np.ndarray) -> np.ndarray:
        """The probability that `sample` returns each of `ranks` (all in [1, n])."""
        ranks = np.asarray(ranks, dtype=np.int64)
        if self.s == 0:
            return np.full(ranks.shape, 1.0 / n)
        head, head_mass, tail_mass = self._masses(n)
        total = head_mass + tail_mass
        r = ranks.astype(np.float64)
        below = r - 0.5
        tail = below ** (1.0 - self.s) * _expm1_over(1.0 - self.s, np.log1p(1.0 / below))
        return np.where(ranks <= head, r ** -self.s, tail) / total

    def _masses(self, n: int) -> tuple[int, float, float]:
        """Ranks in the exact head, and the unnormalised masses of the head and the tail."""
        head = min(n, self.HEAD)
        head_mass = float(self._head_cumulative[head - 1])
        if n == head:
            return head, head_mass, 0.0
        lo, t = head + 0.5, 1.0 - self.s
        return head, head_mass, lo**t * _expm1_over(t, math.log((n + 0.5) / lo))


def _expm1_over(t: float, y):
    """(e^(t y) - 1) / t, which is y at t = 0: the integral of x^(t-1) from a to a e^y, over a^t."""
    return np.expm1(t * y) / t if t != 0 else y


def _log1p_over(t: float, z):
    """log(1 + t z) / t, which is z at t = 0: the inverse of `_expm1_over` in y."""
    return np.log1p(t * z) / t if t != 0 else z


def spread_multiplier(n: int) -> int:
    """The integer nearest GOLDEN * n that is coprime to n (searching outwards; 1 for n <= 2).

    Coprime, so that r -> a r mod n is a bijection of [0, n).
    """
    if n <= 2:
        return 1
    nearest = round(GOLDEN * n)
    for step in range(n):
        for candidate in (nearest + step, nearest - step):
            if 1 <= candidate < n and math.gcd(candidate, n) == 1:
                return candidate
    raise AssertionError("1 is always coprime")


def _mulmod(a: int, x: np.ndarray, n: int) -> np.ndarray:
    """(a * x) mod n without int64 overflow, for 0 <= a, x < n <= 2^40."""
    if n <= _DIRECT_MODULUS:  # a * x < 2^62: one product, no split
        return (a * x) % n
    low_mask = (1 << _HALF_BITS) - 1
    high = (a * (x >> _HALF_BITS)) % n
    return ((high << _HALF_BITS) % n + (a * (x & low_mask)) % n) % n


class SyntheticWorkload:
    """The synthetic updates of one model (the scenario's `models[].workload`).

    Keys [0, n0) exist at the start, n0 = max(1, floor(initial_keys * keys)); created keys take
    ids n0, n0 + 1, ... in order until the key space is full. Popularity ranks the existing keys:
    rank r <= n0 is initial key a ((r - 1 - floor(hot_drift t)) mod n0) mod n0, and rank r > n0
    is created key r - 1, so created keys are the least popular and the map of initial keys never
    changes as keys are created (only the drift moves it). The drift is in rank space: each step
    moves every initial key one rank down (it cools gradually) and brings the coldest to rank 1. `batch` must be called with
    non-overlapping intervals in increasing time.
    """

    def __init__(self, model: Model, rng: np.random.Generator):
        if model.keys > _MAX_MODULUS:
            raise ValueError(f"model {model.name!r}: at most 2^40 keys are supported, got {model.keys}")
        if not math.isfinite(model.workload.hot_drift):
            raise ValueError(f"model {model.name!r}: hot_drift must be finite, got {model.workload.hot_drift}")
        self.model = model
        self._rng = rng
        self._zipf = BoundedZipf(model.workload.zipf)
        # Fraction(repr(...)) takes the share as written: floor(0.29 * 100) is 29, not 28.
        written_share = Fraction(repr(model.workload.initial_keys))
        self.initial_keys = min(model.keys, max(1, math.floor(written_share * model.keys)))
        self.existing_keys = self.initial_keys
        self._multiplier = spread_multiplier(self.initial_keys)
        self._last_end = -math.inf

    def keys_of_ranks(self, ranks: np.ndarray, t: float) -> np.ndarray:
        """The keys (int64) holding popularity `ranks` (each in [1, existing_keys]) at time `t`."""
        n0 = self.initial_keys
        index = np.asarray(ranks, dtype=np.int64) - 1
        keys = index.copy()
        initial = index < n0
        shift = math.floor(self.model.workload.hot_drift * t) % n0
        keys[initial] = _mulmod(self._multiplier, (index[initial] - shift) % n0, n0)
        return keys

    def batch(self, t0: float, t1: float) -> UpdateBatch:
        """The updates produced in [t0, t1), merged per key.

        Updates that would create a key once the key space is full update an existing key
        instead. Popularity draws see the keys that existed at t0 and the drift at t0, so a key
        created in this batch is not also drawn by popularity: an entry with `is_new` is exactly
        one creating update.
        """
        if not t0 <= t1:
            raise ValueError(f"interval [{t0}, {t1}) is empty or reversed")
        if t0 < self._last_end:
            raise ValueError(f"interval [{t0}, {t1}) overlaps the previous one, which ended at {self._last_end}")
        self._last_end = t1
        workload, rng = self.model.workload, self._rng
        updates = int(rng.poisson(workload.rate * (t1 - t0)))
        room = self.model.keys - self.existing_keys
        created = min(int(rng.binomial(updates, workload.new_keys)), room)
        ranks = self._zipf.sample(rng, self.existing_keys, updates - created)
        keys = np.concatenate([
            np.arange(self.existing_keys, self.existing_keys + created, dtype=np.int64),
            self.keys_of_ranks(ranks, t0),
        ])
        magnitudes = rng.lognormal(0.0, workload.magnitude_sigma, size=updates)
        is_new = np.arange(updates) < created
        self.existing_keys += created
        return UpdateBatch.merge(keys, magnitudes, is_new)
