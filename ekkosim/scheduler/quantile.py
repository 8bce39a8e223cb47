"""A streaming quantile estimate in constant memory: the P-square (P2) algorithm.

R. Jain and I. Chlamtac, "The P2 algorithm for dynamic calculation of quantiles and histograms
without storing observations", Communications of the ACM 28(10), October 1985, pp. 1076-1085,
doi:10.1145/4372.4378.

Five markers track the minimum, the p/2-, p-, (1+p)/2-quantiles and the maximum of what was seen.
Each marker has a height (its value estimate) and a position (how many observations are at or
below it). After n observations marker i should be at position 1 + (n - 1) f_i, with
f = (0, p/2, p, (1+p)/2, 1): the rank of the f_i-quantile, interpolated linearly between order
statistics. A new observation moves the positions of the markers above it by one; a middle marker
that has drifted a whole position or more from where it should be (and has room to move) steps one
position towards it, and its height follows a parabola through it and its neighbours (or a line,
when the parabola would leave the neighbours' interval, which keeps heights sorted). The estimate
is the middle marker's height.

Why P2 and not a DDSketch or a t-digest: one quantile is all the scheduler needs, and P2 needs five
numbers of state, no tuning parameter, and its estimate of a smooth distribution converges to the
true quantile.
"""

from __future__ import annotations

import bisect
import math

import numpy as np

# The markers that step towards their desired positions; the extremes only stretch to new data.
_MIDDLE = (1, 2, 3)


class P2Quantile:
    """The running p-quantile of a stream of floats, in O(1) memory and time per observation."""

    def __init__(self, p: float):
        if not 0.0 < p < 1.0:
            raise ValueError(f"P2Quantile needs 0 < p < 1, got {p}")
        self.p = p
        self._shares = (0.0, p / 2, p, (1 + p) / 2, 1.0)  # marker i belongs at rank 1 + (n - 1) * share
        self._count = 0
        self._heights: list[float] = []  # the first observations, sorted, until there are 5
        self._positions = [1, 2, 3, 4, 5]

    @property
    def count(self) -> int:
        """Observations seen."""
        return self._count

    @property
    def markers(self) -> tuple[tuple[float, ...], tuple[int, ...]]:
        """The markers' heights and positions (once 5 observations are in; before, the sorted
        observations and their ranks)."""
        return tuple(self._heights), tuple(self._positions[: len(self._heights)])

    @property
    def value(self) -> float:
        """The estimate of the p-quantile: NaN with no observation; the exact sample quantile
        (linear between order statistics at rank 1 + (n - 1) p, the rule of the markers' desired
        positions) with fewer than 5; the middle marker's height from then on (at exactly 5, the
        median of the five whatever p: the algorithm's start, which later observations correct)."""
        n = self._count
        if n == 0:
            return math.nan
        if n >= 5:
            return self._heights[2]
        rank = (n - 1) * self.p  # 0-based
        below = math.floor(rank)
        if below + 1 >= n:
            return self._heights[below]
        low, high = self._heights[below], self._heights[below + 1]
        return low + (rank - below) * (high - low)

    def add(self, x: float) -> None:
        """Take one observation (finite)."""
        if not math.isfinite(x):
            raise ValueError(f"P2Quantile observations must be finite, got {x}")
        self._add(float(x))

    def add_many(self, xs: np.ndarray) -> None:
        """Take observations in order; the same result as calling `add` on each."""
        xs = np.asarray(xs, dtype=np.float64).ravel()
        if not np.all(np.isfinite(xs)):
            raise ValueError("P2Quantile observations must be finite")
        add = self._add
        for x in xs.tolist():
            add(x)

    def _add(self, x: float) -> None:
        self._count += 1
        q = self._heights
        if self._count <= 5:
            bisect.insort(q, x)
            return
        pos = self._positions
        # The cell [q[k], q[k+1]) that x falls in; the extremes stretch to take it.
        if x < q[0]:
            q[0] = x
            k = 0
        elif x >= q[4]:
            q[4] = x
            k = 3
        else:
            k = 0
            while x >= q[k + 1]:
                k += 1
        for i in range(k + 1, 5):
            pos[i] += 1
        last = self._count - 1
        for i in _MIDDLE:
            drift = 1 + last * self._shares[i] - pos[i]
            if drift >= 1 and pos[i + 1] - pos[i] > 1:
                step = 1
            elif drift <= -1 and pos[i - 1] - pos[i] < -1:
                step = -1
            else:
                continue
            height = _parabolic(q, pos, i, step)
            if not q[i - 1] < height < q[i + 1]:
                height = q[i] + step * (q[i + step] - q[i]) / (pos[i + step] - pos[i])
            q[i] = height
            pos[i] += step


def _parabolic(q: list[float], pos: list[int], i: int, step: int) -> float:
    """Height of marker i moved `step` (+1 or -1) positions, on the parabola through it and its
    neighbours (the piecewise-parabolic prediction of the P2 paper)."""
    left, right = pos[i] - pos[i - 1], pos[i + 1] - pos[i]
    return q[i] + step / (pos[i + 1] - pos[i - 1]) * (
        (left + step) * (q[i + 1] - q[i]) / right + (right - step) * (q[i] - q[i - 1]) / left
    )
