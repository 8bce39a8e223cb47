"""The model state manager's anomaly detector: a one-sided tabular CUSUM on the quality gap.

E. S. Page, "Continuous inspection schemes", Biometrika 41(1/2), 1954, pp. 100-115,
doi:10.1093/biomet/41.1-2.100; in the tabular form and notation (reference value k, decision
interval h, both in standard deviations) of D. C. Montgomery, Introduction to Statistical Quality
Control (Wiley), the chapter on cumulative-sum and EWMA control charts.

Each window the manager gives one observation per model: the relative quality gap
g = (online mean log loss - baseline mean log loss) / baseline mean log loss, and the requests
behind each of the two means. The gap is standardised against a fixed ceiling (default 0: the
online model exactly as good as its minutes-old baseline), by its standard error, which shrinks
with both request counts:

    z_t = (g_t - ceiling) / (scale sqrt(1/n_online + 1/n_baseline))
    S_t = max(0, S_{t-1} + z_t - k),  S_0 = 0

and the model is "damaged" once S_t >= h, "uncertain" once S_t >= uncertain_at h. `scale` is the
per-request spread of the gap, estimated from the first `warmup` windows and then frozen. The
chart is anchored at the ceiling, not at the warm-up's mean gap: a WAN congestion episode makes
the online model staler and its gap rises toward 0, which a chart centred on the usual (negative)
gap would call damage. The paper says only "a time-series anomaly detection algorithm"; the
method, the standardisation and every number here are ours (docs/manager.md, "The anomaly detector").
"""

from __future__ import annotations

import math

import numpy as np

from ekkosim.manager.health import DAMAGED, HEALTHY, UNCERTAIN


def estimate_scale(
    gaps: np.ndarray, online_requests: np.ndarray, baseline_requests: np.ndarray
) -> tuple[float, float]:
    """The in-control mean gap and the per-request scale, from warm-up windows.

    A window's gap has variance scale^2 (1/n_online + 1/n_baseline) (the delta method on a ratio
    of two independent means, with the per-request coefficient of variation of the log loss as
    `scale`), so window t gets weight w_t = 1 / (1/n_online + 1/n_baseline) and

        mean = sum w g / sum w,   scale^2 = sum w (g - mean)^2 / (T - 1)

    which is unbiased for scale^2 whatever the weights. Windows where either count is 0 carry no
    gap and are left out; at least two must remain.
    """
    g = np.asarray(gaps, dtype=np.float64).ravel()
    n_on = np.asarray(online_requests, dtype=np.float64).ravel()
    n_base = np.asarray(baseline_requests, dtype=np.float64).ravel()
    if not g.shape == n_on.shape == n_base.shape:
        raise ValueError(
            f"estimate_scale needs one gap and two request counts per window, got "
            f"{g.size} gaps, {n_on.size} online and {n_base.size} baseline counts"
        )
    _check_counts(n_on, n_base)
    used = (n_on > 0) & (n_base > 0)
    g, n_on, n_base = g[used], n_on[used], n_base[used]
    if g.size < 2:
        raise ValueError(
            f"estimate_scale needs at least 2 windows with requests on both models, got {g.size}"
        )
    if not np.all(np.isfinite(g)):
        raise ValueError("estimate_scale needs finite gaps in windows with requests")
    weight = 1.0 / (1.0 / n_on + 1.0 / n_base)
    mean = float(np.sum(weight * g) / np.sum(weight))
    scale = math.sqrt(float(np.sum(weight * (g - mean) ** 2)) / (g.size - 1))
    return mean, scale


def standardise(
    gaps: np.ndarray,
    online_requests: np.ndarray,
    baseline_requests: np.ndarray,
    scale: float,
    ceiling: float = 0.0,
) -> np.ndarray:
    """Each gap in standard errors above the ceiling; NaN where either count is 0 (no gap).

    Vectorised over any matching shapes; `Cusum.observe` computes the very same expression."""
    if not (math.isfinite(scale) and scale > 0.0):
        raise ValueError(f"standardise needs a finite scale > 0, got {scale}")
    g = np.asarray(gaps, dtype=np.float64)
    n_on = np.asarray(online_requests, dtype=np.float64)
    n_base = np.asarray(baseline_requests, dtype=np.float64)
    _check_counts(n_on, n_base)
    seen = (n_on > 0) & (n_base > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (g - ceiling) / (scale * np.sqrt(1.0 / n_on + 1.0 / n_base))
    return np.where(seen, z, np.nan)


def cusum_path(z: np.ndarray, k: float, start: float | np.ndarray = 0.0) -> np.ndarray:
    """The one-sided CUSUM statistic after each observation, along the last axis.

    S_t = max(0, S_{t-1} + z_t - k) from S_0 = `start` (a scalar, or one per series of the
    leading axes). A NaN z_t is a window without an observation: S_t = S_{t-1}. Leading axes are
    independent series, stepped together (the loop is over time only).
    """
    _check_k(k, "cusum_path")
    z = np.asarray(z, dtype=np.float64)
    if z.ndim == 0:
        raise ValueError("cusum_path needs at least one axis (time)")
    statistic = np.array(np.broadcast_to(np.asarray(start, dtype=np.float64), z.shape[:-1]))
    if np.any(~np.isfinite(statistic) | (statistic < 0)):
        raise ValueError("cusum_path needs start >= 0 and finite")
    path = np.empty_like(z)
    for t in range(z.shape[-1]):
        step = z[..., t]
        statistic = np.where(np.isnan(step), statistic, np.maximum(0.0, statistic + step - k))
        path[..., t] = statistic
    return path


def level_of(statistic: float | np.ndarray, h: float, uncertain_at: float) -> str | np.ndarray:
    """healthy below uncertain_at * h, uncertain from there, damaged at h and above.

    A str for a scalar statistic, an array of str for an array."""
    _check_thresholds(h, uncertain_at, "level_of")
    s = np.asarray(statistic, dtype=np.float64)
    levels = np.where(s >= h, DAMAGED, np.where(s >= uncertain_at * h, UNCERTAIN, HEALTHY))
    return str(levels) if levels.ndim == 0 else levels


class Cusum:
    """One model's detector: one observation per window in, a level and the statistic out.

    The first `warmup` windows with requests on both models estimate the scale (and the mean
    gap, for reference); they report healthy with statistic 0, as the chart has no evidence yet.
    If their gaps show no spread at all, the warm-up slides on (it drops its oldest window and
    takes the next) until the last `warmup` windows do. From then on the scale is frozen and every window steps the chart. The level is not latched: it follows the
    statistic, and the state machine that acts on it decides what "damaged" sets in motion.
    """

    def __init__(
        self,
        k: float = 0.5,
        h: float = 5.0,
        warmup: int = 60,
        uncertain_at: float = 0.5,
        ceiling: float = 0.0,
    ):
        _check_k(k, "Cusum")
        _check_thresholds(h, uncertain_at, "Cusum")
        if isinstance(warmup, bool) or not isinstance(warmup, (int, np.integer)) or warmup < 2:
            raise ValueError(
                "Cusum needs warmup >= 2 windows (an int; the scale needs two gaps), "
                f"got {warmup!r}"
            )
        if not math.isfinite(ceiling):
            raise ValueError(f"Cusum needs a finite ceiling (a relative gap), got {ceiling}")
        self.k = float(k)
        self.h = float(h)
        self.warmup = int(warmup)
        self.uncertain_at = float(uncertain_at)
        self.ceiling = float(ceiling)
        self._uncertain = self.uncertain_at * self.h  # as level_of computes it
        self.reset(rewarm=True)

    @property
    def statistic(self) -> float:
        """S_t after the last observation (0 during warm-up and after a reset)."""
        return self._statistic

    @property
    def level(self) -> str:
        """The level of the current statistic: healthy, uncertain or damaged."""
        return self._level

    @property
    def warming_up(self) -> bool:
        """True until the scale is estimated."""
        return math.isnan(self._scale)

    @property
    def scale(self) -> float:
        """The frozen per-request scale of the gap; NaN during warm-up."""
        return self._scale

    @property
    def mean(self) -> float:
        """The warm-up's weighted mean gap (reported, not used by the chart); NaN during warm-up."""
        return self._mean

    def observe(self, gap: float, online_requests: float, baseline_requests: float) -> str:
        """Take one window's gap and request counts; return the level after it.

        A window with no request on either model has no gap (it may be NaN) and changes nothing.
        """
        n_on, n_base = float(online_requests), float(baseline_requests)
        if not (0.0 <= n_on < math.inf and 0.0 <= n_base < math.inf):
            _check_counts(np.array(n_on), np.array(n_base))  # raises, naming the bad count
        if n_on == 0.0 or n_base == 0.0:
            return self._level
        gap = float(gap)
        if not math.isfinite(gap):
            raise ValueError(
                f"Cusum.observe needs a finite gap when both models had requests, got {gap}"
            )
        if self.warming_up:
            self._warm.append((gap, n_on, n_base))
            if len(self._warm) >= self.warmup:
                mean, scale = estimate_scale(*np.array(self._warm).T)
                if scale > 0.0:
                    self._mean, self._scale = mean, scale
                    self._warm = []
                else:  # no spread yet: slide on, so the scale always comes from `warmup` windows
                    self._warm.pop(0)
            return self._level
        z = (gap - self.ceiling) / (self._scale * math.sqrt(1.0 / n_on + 1.0 / n_base))
        self._statistic = max(0.0, self._statistic + z - self.k)
        s = self._statistic  # level_of, without its array machinery (this is the hot path)
        self._level = DAMAGED if s >= self.h else UNCERTAIN if s >= self._uncertain else HEALTHY
        return self._level

    def reset(self, rewarm: bool = False) -> None:
        """Restart the chart at 0 and healthy, as after a rollback. The scale is a property of the
        traffic, not of the model's damage, so it is kept unless `rewarm` asks for a new warm-up."""
        self._statistic = 0.0
        self._level = HEALTHY
        if rewarm:
            self._mean = math.nan
            self._scale = math.nan
            self._warm: list[tuple[float, float, float]] = []


def _check_k(k: float, who: str) -> None:
    if not (math.isfinite(k) and k >= 0.0):
        raise ValueError(
            f"{who} needs a finite reference value k >= 0 (standard deviations), got {k}"
        )


def _check_thresholds(h: float, uncertain_at: float, who: str) -> None:
    if not (math.isfinite(h) and h > 0.0):
        raise ValueError(
            f"{who} needs a finite decision interval h > 0 (standard deviations), got {h}"
        )
    if not 0.0 < uncertain_at <= 1.0:
        raise ValueError(f"{who} needs 0 < uncertain_at <= 1 (a fraction of h), got {uncertain_at}")


def _check_counts(n_online: np.ndarray, n_baseline: np.ndarray) -> None:
    for name, n in (("online_requests", n_online), ("baseline_requests", n_baseline)):
        if np.any(~np.isfinite(n) | (n < 0)):
            raise ValueError(f"{name} must be finite counts >= 0, got {n}")
