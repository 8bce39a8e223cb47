"""Bytes carried per link per fixed time window.

The network reports every interval during which link rates were constant; the meter adds
rate x overlap to each window the interval touches, so an interval crossing a window boundary
is split at the boundary exactly (up to float rounding). Window k covers [k * window_s,
(k + 1) * window_s). Bytes moved in no time (a flow over unlimited links) are reported as
an impulse at one instant.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence

__all__ = ["LinkMeter"]


class LinkMeter:
    """Accumulates bytes per (window, link); links are ids 0, 1, ... and may grow over time."""

    def __init__(self, window_s: float):
        if not (math.isfinite(window_s) and window_s > 0):
            raise ValueError(f"window_s must be finite and > 0, got {window_s!r}")
        self.window_s = float(window_s)
        # window index -> bytes per link id (an array of doubles: Python floats in, no NumPy
        # scalar per element, the same sums)
        self._bytes: dict[int, array] = {}

    def _window_of(self, t: float) -> int:
        """Index k of the window holding t, consistent with the float boundaries k * window_s."""
        k = math.floor(t / self.window_s)
        while (k + 1) * self.window_s <= t:
            k += 1
        while k * self.window_s > t:
            k -= 1
        return k

    def _row(self, k: int, n_links: int) -> array:
        row = self._bytes.get(k)
        if row is None:
            self._bytes[k] = row = array("d", bytes(8 * n_links))
        elif len(row) < n_links:
            row.frombytes(bytes(8 * (n_links - len(row))))
        return row

    def record(self, t0: float, t1: float, links: Sequence[int], rates_Bps: Sequence[float]) -> None:
        """Add bytes for ``links[j]`` (distinct) carrying ``rates_Bps[j]`` (constant, finite,
        > 0) over [t0, t1)."""
        if not (math.isfinite(t0) and math.isfinite(t1)):
            raise ValueError(f"an interval's ends must be finite, got [{t0!r}, {t1!r})")
        if t1 <= t0 or len(links) == 0:
            return
        n_links = int(max(links)) + 1
        w = self.window_s
        k = self._window_of(t0)
        while True:  # every window from t0's to the one holding the instant just before t1
            end = (k + 1) * w
            overlap = min(t1, end) - max(t0, k * w)
            if overlap > 0:
                row = self._row(k, n_links)
                for link, rate in zip(links, rates_Bps):
                    row[link] += rate * overlap
            if end >= t1:
                return
            k += 1

    def record_impulse(self, t: float, links: Sequence[int], nbytes: float) -> None:
        """Add ``nbytes`` to each of ``links`` (repeats count again) in the window holding t."""
        if nbytes <= 0 or len(links) == 0:
            return
        row = self._row(self._window_of(t), int(max(links)) + 1)
        for link in links:
            row[link] += nbytes

    def rows(self) -> list[tuple[float, int, float]]:
        """Non-zero entries as (window_start_s, link_id, bytes), ordered by window then link."""
        out = []
        for k in sorted(self._bytes):
            start = k * self.window_s
            out.extend((start, link, nbytes) for link, nbytes in enumerate(self._bytes[k]) if nbytes)
        return out
