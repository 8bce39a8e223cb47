"""The CUSUM detector: hand-computed steps, the classical run lengths, and the manager's cases.

Run lengths are judged against the CUSUM's integral equation (Page 1954), solved here by
Gauss-Legendre (Nystrom) quadrature, independently of the code under test; the solver is itself
checked against Montgomery's ARL table and Siegmund's approximation.
"""

import math
from statistics import NormalDist

import numpy as np
import pytest

from ekkosim.manager.detector import (
    Cusum,
    cusum_path,
    estimate_scale,
    level_of,
    standardise,
)
from ekkosim.manager.health import DAMAGED, HEALTHY, UNCERTAIN

# A realistic window of one model in one DC (docs/manager.md, "The anomaly detector"): 2,000 requests to the
# online model, 20 to the baseline (1%), and a per-request coefficient of variation of the log
# loss of 0.28 (the quality model's defaults), so one window's gap has this standard error.
N_ONLINE, N_BASELINE, PER_REQUEST_SCALE = 2000, 20, 0.28
SE = PER_REQUEST_SCALE * math.sqrt(1 / N_ONLINE + 1 / N_BASELINE)
# The online model's usual advantage: 15% less loss than a baseline 5 minutes behind, in SEs.
USUAL_GAP_SE = -2.4


# --- the analytic reference -------------------------------------------------------------------


def _kernel(k: float, h: float, shift: float, nodes: int = 48) -> np.ndarray:
    """One step of S -> max(0, S + z - k), z ~ Normal(shift, 1), from the states {0} + the
    Gauss-Legendre nodes of [0, h): column 0 is the atom at 0, the others density x weight."""
    x, w = np.polynomial.legendre.leggauss(nodes)
    x, w = (x + 1) * h / 2, w * h / 2
    start = np.concatenate([[0.0], x])
    kernel = np.empty((nodes + 1, nodes + 1))
    kernel[:, 0] = [NormalDist(shift).cdf(k - u) for u in start]
    d = x[None, :] + k - start[:, None] - shift
    kernel[:, 1:] = w * np.exp(-d * d / 2) / math.sqrt(2 * math.pi)
    return kernel


def arl(k: float, h: float, shift: float) -> tuple[float, float]:
    """Mean and standard deviation of the one-sided CUSUM's run length from S_0 = 0."""
    kernel = _kernel(k, h, shift)
    a = np.eye(len(kernel)) - kernel
    mean = np.linalg.solve(a, np.ones(len(kernel)))
    second = np.linalg.solve(a, 2 * mean - 1)
    return float(mean[0]), math.sqrt(second[0] - mean[0] ** 2)


def run_length_cdf(k: float, h: float, shift: float, longest: int) -> np.ndarray:
    """P(run length <= n) for n = 1..longest (Brook and Evans' chain, in continuous form)."""
    kernel = _kernel(k, h, shift)
    survival = np.ones(len(kernel))
    cdf = np.empty(longest)
    for n in range(longest):
        survival = kernel @ survival
        cdf[n] = 1 - survival[0]
    return cdf


def siegmund(k: float, h: float, shift: float) -> float:
    """Siegmund's approximation of the one-sided ARL (as quoted by Montgomery)."""
    delta, b = shift - k, h + 1.166
    if delta == 0:
        return b * b  # the limit as delta -> 0
    return (math.exp(-2 * delta * b) + 2 * delta * b - 1) / (2 * delta * delta)


def simulated_run_lengths(seed: int, shift: float, k: float, h: float, runs: int) -> np.ndarray:
    """Run lengths of `runs` charts on Normal(shift, 1) data, from S_0 = 0, all stepped together
    in chunks (cusum_path's `start` carries each chart over)."""
    rng = np.random.default_rng(seed)
    lengths = np.zeros(runs, dtype=np.int64)
    active, start, elapsed, chunk = np.arange(runs), np.zeros(runs), 0, 400
    while active.size:
        path = cusum_path(rng.standard_normal((active.size, chunk)) + shift, k, start=start)
        alarmed = path >= h
        hit = alarmed.any(axis=1)
        lengths[active[hit]] = elapsed + alarmed[hit].argmax(axis=1) + 1
        active, start, elapsed = active[~hit], path[~hit, -1], elapsed + chunk
    return lengths


def gaps_of(mean_se: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gaussian gaps with the given means (in SEs of a realistic window) and that SE."""
    return (np.asarray(mean_se) + rng.standard_normal(np.shape(mean_se))) * SE


def first_alarm(detector: Cusum, gaps: np.ndarray) -> int | None:
    """Index of the first window the detector calls damaged, at realistic request counts."""
    for t, gap in enumerate(gaps):
        if detector.observe(gap, N_ONLINE, N_BASELINE) == DAMAGED:
            return t
    return None


def test_the_integral_equation_reproduces_montgomerys_table_and_siegmund():
    # Montgomery tabulates the two-sided chart (an upper and a lower one-sided chart):
    # 1/ARL = 1/ARL+ + 1/ARL-, and the lower chart at shift d is the upper one at -d.
    def two_sided(h, shift):
        return 1 / (1 / arl(0.5, h, shift)[0] + 1 / arl(0.5, h, -shift)[0])

    assert two_sided(5, 0) == pytest.approx(465, abs=0.5)
    assert two_sided(5, 1) == pytest.approx(10.4, abs=0.05)
    assert two_sided(4, 0) == pytest.approx(168, abs=0.5)
    assert two_sided(4, 1) == pytest.approx(8.38, abs=0.005)
    # so the one-sided in-control ARL at k = 0.5, h = 5 is twice 465: about 931
    assert arl(0.5, 5, 0)[0] == pytest.approx(930.9, abs=0.05)
    for shift in (0.0, 0.5, 1.0):
        assert arl(0.5, 5, shift)[0] == pytest.approx(siegmund(0.5, 5, shift), rel=0.01)


# --- the recursion, by hand -------------------------------------------------------------------


def test_hand_computed_steps():
    detector = Cusum(k=0.5, h=5.0, warmup=3, uncertain_at=0.5)
    # warm-up: gaps -0.25, -0.5, -0.75 at 2 + 2 requests (weight 1 each): mean -0.5,
    # scale^2 = (0.25^2 + 0 + 0.25^2) / 2 = 0.0625, scale 0.25
    for gap in (-0.25, -0.5, -0.75):
        assert detector.warming_up
        assert detector.observe(gap, 2, 2) == HEALTHY and detector.statistic == 0.0
    assert not detector.warming_up and detector.mean == -0.5 and detector.scale == 0.25
    # (gap, online requests, baseline requests, S after, level); SE = 0.25 sqrt(1/2 + 1/2) = 0.25
    # at 2 + 2 requests, 0.25 sqrt(1/8 + 1/8) = 0.125 at 8 + 8; S = max(0, S + z - 0.5)
    steps = [
        (0.25, 2, 2, 0.5, HEALTHY),  # z = 1
        (0.75, 2, 2, 3.0, UNCERTAIN),  # z = 3: 0.5 + 3 - 0.5, at or above h/2 = 2.5
        (-0.5, 2, 2, 0.5, HEALTHY),  # z = -2: 3 - 2 - 0.5
        (0.25, 8, 8, 2.0, HEALTHY),  # z = 2 (more requests, smaller SE): 0.5 + 2 - 0.5
        (0.5, 8, 8, 5.5, DAMAGED),  # z = 4: 2 + 4 - 0.5, at or above h = 5
        (math.nan, 2000, 0, 5.5, DAMAGED),  # no baseline request: no gap, nothing changes
        (-1.0, 2, 2, 1.0, HEALTHY),  # z = -4: 5.5 - 4 - 0.5; the level is not latched
        (-2.0, 2, 2, 0.0, HEALTHY),  # z = -8: the statistic stops at 0
    ]
    for gap, n_on, n_base, expected, level in steps:
        assert detector.observe(gap, n_on, n_base) == level
        assert detector.statistic == expected and detector.level == level


def test_levels_at_the_thresholds():
    assert level_of(2.4999, 5.0, 0.5) == HEALTHY
    assert level_of(2.5, 5.0, 0.5) == UNCERTAIN
    assert level_of(4.9999, 5.0, 0.5) == UNCERTAIN
    assert level_of(5.0, 5.0, 0.5) == DAMAGED
    assert level_of(4.0, 5.0, 1.0) == HEALTHY  # uncertain_at = 1: no uncertain level
    assert list(level_of(np.array([0.0, 2.5, 7.0]), 5.0, 0.5)) == [HEALTHY, UNCERTAIN, DAMAGED]


def test_warm_up_weights_windows_by_their_requests():
    # weights 1 / (1/n_on + 1/n_base): 1, 2, 1; the window without baseline requests is left out
    mean, scale = estimate_scale([0.0, 3.0, 0.0, 99.0], [2, 4, 2, 5], [2, 4, 2, 0])
    # mean = (0 + 2*3 + 0) / 4 = 1.5; scale^2 = (1.5^2 + 2 * 1.5^2 + 1.5^2) / (3 - 1) = 4.5
    assert mean == 1.5
    assert scale == pytest.approx(math.sqrt(4.5), rel=1e-15)


def test_warm_up_scale_is_unbiased_with_unequal_request_counts():
    # 4,000 warm-ups of 5 windows, baseline counts 5 to 40, true per-request scale 0.28:
    # E[scale^2] = 0.28^2; one estimate's sd is 0.28^2 sqrt(2/4), so the mean's is 1.1% of it
    rng = np.random.default_rng(11)
    estimates = []
    for _ in range(4000):
        n_base = rng.integers(5, 41, size=5)
        se = PER_REQUEST_SCALE * np.sqrt(1 / N_ONLINE + 1 / n_base)
        gaps = -0.1 + se * rng.standard_normal(5)
        estimates.append(estimate_scale(gaps, np.full(5, N_ONLINE), n_base)[1] ** 2)
    tolerance = 4 * math.sqrt(2 / 4) / math.sqrt(4000)
    assert np.mean(estimates) == pytest.approx(PER_REQUEST_SCALE**2, rel=tolerance)


def test_standardised_gaps_are_standard_normal_whatever_the_request_counts():
    # baseline counts vary (Poisson, mean 20), the gap's noise with them; dividing by the
    # window's own SE makes every z ~ Normal(0, 1): check mean, variance and the 2-sigma tail
    rng = np.random.default_rng(12)
    n = 100_000
    n_base = rng.poisson(N_BASELINE, size=n)
    n_on = rng.poisson(N_ONLINE, size=n)
    noise = PER_REQUEST_SCALE * np.sqrt(1 / n_on + 1 / n_base) * rng.standard_normal(n)
    z = standardise(noise, n_on, n_base, scale=PER_REQUEST_SCALE)
    assert abs(z.mean()) < 4 / math.sqrt(n)
    assert z.var() == pytest.approx(1.0, abs=4 * math.sqrt(2 / n))
    tail = 2 * NormalDist().cdf(-2)  # 4.55%
    assert np.mean(np.abs(z) > 2) == pytest.approx(tail, abs=4 * math.sqrt(tail * (1 - tail) / n))


def test_standardise_marks_windows_without_requests():
    z = standardise([0.5, 0.5, 0.5], [2, 0, 2], [2, 2, 0], scale=0.25, ceiling=0.25)
    assert z[0] == 1.0 and np.isnan(z[1:]).all()


# --- cusum_path and Cusum agree ---------------------------------------------------------------


def test_cusum_path_is_the_detectors_recursion():
    rng = np.random.default_rng(3)
    gaps = gaps_of(np.where(np.arange(300) < 200, -1.0, 0.8), rng)
    n_base = rng.poisson(N_BASELINE, size=300)
    n_base[[70, 250]] = 0  # windows without baseline requests
    detector = Cusum(warmup=60)
    statistics, levels = [], []
    for gap, nb in zip(gaps, n_base, strict=True):
        levels.append(detector.observe(gap, N_ONLINE, nb))
        statistics.append(detector.statistic)
    z = standardise(gaps[60:], N_ONLINE, n_base[60:], detector.scale)
    path = cusum_path(z, detector.k)
    assert np.array_equal(path, statistics[60:])  # bit for bit
    assert list(level_of(path, detector.h, detector.uncertain_at)) == levels[60:]
    assert path.max() >= detector.h  # the shift at 200 was found


def test_cusum_path_steps_leading_axes_independently():
    z = np.random.default_rng(4).normal(0.3, 1.0, size=(3, 2, 50))
    z[1, 0, 10:20] = np.nan
    start = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 0.5]])
    path = cusum_path(z, 0.5, start=start)
    for i in range(3):
        for j in range(2):
            assert np.array_equal(path[i, j], cusum_path(z[i, j], 0.5, start=start[i, j]))
    assert (path[1, 0, 10:20] == path[1, 0, 9]).all()  # NaN: no observation, no step


# --- run lengths: the classical ARL -----------------------------------------------------------

RUNS = 2000
# Dvoretzky-Kiefer-Wolfowitz: P(sup |F_N - F| > eps) <= 2 exp(-2 N eps^2) = 1e-3 at this eps
DKW_EPS = math.sqrt(math.log(2 / 1e-3) / (2 * RUNS))


@pytest.mark.parametrize(("shift", "seed"), [(0.0, 21), (0.5, 22), (1.0, 23), (2.0, 24)])
def test_run_lengths_follow_the_classical_distribution(shift, seed):
    # k = 0.5, h = 5 on Normal(shift, 1): in control (shift 0) the one-sided ARL is 930.9
    # (Montgomery's 465 is the two-sided chart's), after a 1-sigma shift 10.38
    lengths = simulated_run_lengths(seed, shift, 0.5, 5.0, RUNS)
    mean, sd = arl(0.5, 5.0, shift)
    # the sample mean within 4 of its standard errors
    assert abs(lengths.mean() - mean) < 4 * sd / math.sqrt(RUNS)
    # and the whole distribution within the DKW band
    cdf = run_length_cdf(0.5, 5.0, shift, int(lengths.max()))
    empirical = np.searchsorted(np.sort(lengths), np.arange(1, lengths.max() + 1), side="right")
    assert np.max(np.abs(empirical / RUNS - cdf)) < DKW_EPS


def test_detection_delay_after_a_harmful_update():
    # the detector as deployed: default parameters, scale estimated by each run's own warm-up.
    # 100 windows of the usual advantage (-2.4 SE), then the online model turns 1 SE worse than
    # the baseline. The chart is at ~0 when it happens (at -2.4 SE it leaves 0 with probability
    # 0.2% a window), so the delay is the zero-state ARL at a 1-sigma shift: 10.38 (sd 5.45);
    # the scale's estimation error (9% sd after 60 windows) moves that by under 0.2.
    change, runs = 100, 500
    delays, to_uncertain = [], []
    for seed in range(runs):
        gaps = gaps_of(
            np.where(np.arange(change + 200) < change, USUAL_GAP_SE, 1.0),
            np.random.default_rng(seed),
        )
        detector = Cusum()
        levels = [detector.observe(g, N_ONLINE, N_BASELINE) for g in gaps]
        assert DAMAGED not in levels[:change] and UNCERTAIN not in levels[:change]
        delays.append(levels.index(DAMAGED) - change + 1)
        # S >= 2.5 first (a large step may skip "uncertain" and land on "damaged")
        to_uncertain.append(next(t for t, lv in enumerate(levels) if lv != HEALTHY) - change + 1)
    mean, sd = arl(0.5, 5.0, 1.0)
    assert abs(np.mean(delays) - mean) < 4 * sd / math.sqrt(runs) + 0.2
    # "uncertain" (S >= 2.5) comes about half-way: the ARL of a chart with h = 2.5
    mean, sd = arl(0.5, 2.5, 1.0)
    assert abs(np.mean(to_uncertain) - mean) < 4 * sd / math.sqrt(runs) + 0.2


def test_no_false_alarm_over_a_long_in_control_series():
    # 100,000 windows (28 hours at 1 s) at default parameters; request counts vary (Poisson);
    # the online model only 1 SE better than its baseline, a smaller advantage than usual.
    # Analytic false-alarm rate: ARL at shift -1 is 2.0e7 windows, so 0.005 alarms expected
    # here (at the ceiling itself, shift 0, it would be one per 931 windows).
    assert arl(0.5, 5.0, -1.0)[0] == pytest.approx(2.0e7, rel=0.01)
    rng = np.random.default_rng(2022)
    n = 100_000
    n_on, n_base = rng.poisson(N_ONLINE, size=n), rng.poisson(N_BASELINE, size=n)
    gaps = -SE + PER_REQUEST_SCALE * np.sqrt(1 / n_on + 1 / n_base) * rng.standard_normal(n)
    detector = Cusum()
    highest = 0.0
    for gap, a, b in zip(gaps.tolist(), n_on.tolist(), n_base.tolist(), strict=True):
        assert detector.observe(gap, a, b) != DAMAGED
        highest = max(highest, detector.statistic)
    assert highest < detector.h


def test_staleness_under_congestion_does_not_alarm_but_would_against_the_warm_up_mean():
    # WAN congestion makes the online replicas staler: the gap rises from the usual -2.4 SE to
    # -0.5 SE (about 14 s of staleness against a 5-minute-old baseline, in the quality model)
    # over 300 windows, stays 300, recovers over 100. Still better than the baseline, so no
    # alarm: at -0.5 SE the chart's ARL is 1.07e5 windows (P(alarm) ~ 0.4% over the episode).
    assert arl(0.5, 5.0, -0.5)[0] == pytest.approx(1.07e5, rel=0.01)
    t = np.arange(1300)
    mean_se = np.interp(
        t,
        [0, 300, 600, 900, 1000, 1300],
        [USUAL_GAP_SE, USUAL_GAP_SE, -0.5, -0.5, USUAL_GAP_SE, USUAL_GAP_SE],
    )
    gaps = gaps_of(mean_se, np.random.default_rng(7))
    detector = Cusum()
    assert first_alarm(detector, gaps) is None
    # the design not taken: a chart centred at the warm-up mean sees the same plateau as a shift
    # of 1.9 SE (ARL about 4 windows) and calls the stale model damaged through it
    assert arl(0.5, 5.0, 1.9)[0] < 4.5
    z = (gaps - detector.mean) / SE
    path = cusum_path(z[detector.warmup :], 0.5)
    assert np.mean(path[600 - detector.warmup : 900 - detector.warmup] >= 5.0) > 0.95


def test_a_model_damaged_during_warm_up_is_found_right_after_it():
    # the chart is anchored at the ceiling (0), not at the warm-up mean, so a model already
    # worse than its baseline (+1 SE) through the warm-up is called damaged soon after it
    # (zero-state ARL 10.4; P(run length > 60) = 1.5e-5 by the same chain)
    assert 1 - run_length_cdf(0.5, 5.0, 1.0, 60)[-1] < 2e-5
    detector = Cusum()
    alarm = first_alarm(detector, gaps_of(np.full(200, 1.0), np.random.default_rng(8)))
    assert alarm is not None and detector.warmup <= alarm < detector.warmup + 60
    assert detector.mean > 0


# --- warm-up edge cases, reset, bad input -----------------------------------------------------


def test_warm_up_slides_on_until_the_gaps_show_a_spread():
    # at a run's start the baseline is not yet behind and, scored on the same requests, would
    # give gaps of exactly 0: no scale can be estimated from them
    detector = Cusum(warmup=3)
    for _ in range(5):
        detector.observe(0.0, 10, 10)
    assert detector.warming_up and detector.statistic == 0.0
    detector.observe(0.3, 10, 10)
    # the last three windows, 0, 0, 0.3, weight 5 each: mean 0.1,
    # scale^2 = 5 (0.1^2 + 0.1^2 + 0.2^2) / (3 - 1) = 0.15
    assert not detector.warming_up
    assert detector.mean == pytest.approx(0.1, rel=1e-12)
    assert detector.scale == pytest.approx(math.sqrt(0.15), rel=1e-12)


def test_reset_restarts_the_chart_and_keeps_the_scale():
    detector = Cusum(k=0.5, h=5.0, warmup=3)
    for gap in (-0.25, -0.5, -0.75):
        detector.observe(gap, 2, 2)
    for _ in range(3):
        detector.observe(1.0, 2, 2)  # z = 4 each: S = 3.5, 7, 10.5
    assert detector.level == DAMAGED and detector.statistic == 10.5
    detector.reset()  # after a rollback
    assert detector.statistic == 0.0 and detector.level == HEALTHY and detector.scale == 0.25
    assert detector.observe(0.25, 2, 2) == HEALTHY and detector.statistic == 0.5  # charted at once
    detector.reset(rewarm=True)
    assert detector.warming_up and math.isnan(detector.scale) and math.isnan(detector.mean)
    for gap in (0.0, 1.0, 2.0):  # a new warm-up: mean 1, scale 1
        assert detector.observe(gap, 2, 2) == HEALTHY
    assert detector.mean == 1.0 and detector.scale == 1.0 and detector.statistic == 0.0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"k": -0.1}, "k >= 0"),
        ({"k": math.nan}, "k >= 0"),
        ({"h": 0.0}, "h > 0"),
        ({"h": math.inf}, "h > 0"),
        ({"warmup": 1}, "warmup >= 2"),
        ({"warmup": 10.0}, "warmup >= 2"),
        ({"warmup": True}, "warmup >= 2"),
        ({"uncertain_at": 0.0}, "0 < uncertain_at <= 1"),
        ({"uncertain_at": 1.5}, "0 < uncertain_at <= 1"),
        ({"ceiling": math.nan}, "finite ceiling"),
    ],
)
def test_bad_parameters_are_refused(arguments, message):
    with pytest.raises(ValueError, match=message):
        Cusum(**arguments)


def test_bad_observations_are_refused():
    detector = Cusum(warmup=2)
    with pytest.raises(ValueError, match="baseline_requests must be finite counts >= 0"):
        detector.observe(0.1, 100, -1)
    with pytest.raises(ValueError, match="online_requests must be finite counts >= 0"):
        detector.observe(0.1, math.nan, 1)
    with pytest.raises(ValueError, match="finite gap"):
        detector.observe(math.inf, 100, 1)
    assert detector.warming_up and detector.statistic == 0.0  # nothing was taken
    with pytest.raises(ValueError, match="at least 2 windows"):
        estimate_scale([0.1, 0.2], [5, 5], [5, 0])
    with pytest.raises(ValueError, match="scale > 0"):
        standardise([0.1], [5], [5], scale=0.0)
    with pytest.raises(ValueError, match="k >= 0"):
        cusum_path([0.1], k=-1.0)
    with pytest.raises(ValueError, match="start >= 0"):
        cusum_path([0.1], k=0.5, start=-1.0)
