"""P-square: accuracy on long streams, its invariants, and the exact start."""

import itertools
import math
from statistics import NormalDist

import numpy as np
import pytest

from ekkosim.scheduler.quantile import P2Quantile

# The true CDF of each distribution drawn from, to judge an estimate by how much probability it misses.
DISTRIBUTIONS = {
    "uniform": (lambda rng, n: rng.uniform(size=n), lambda x: x),
    "normal": (lambda rng, n: rng.normal(size=n), NormalDist().cdf),
    "lognormal": (lambda rng, n: rng.lognormal(size=n), lambda x: NormalDist().cdf(math.log(x))),
    # heavy-tailed: Pareto (Lomax) with tail index 1.5, infinite variance
    "pareto": (lambda rng, n: rng.pareto(1.5, size=n), lambda x: 1.0 - (1.0 + x) ** -1.5),
}


@pytest.mark.parametrize("p", [0.5, 0.9, 0.99])
@pytest.mark.parametrize("distribution", sorted(DISTRIBUTIONS))
def test_estimate_is_close_to_the_true_quantile(distribution, p):
    draw, cdf = DISTRIBUTIONS[distribution]
    estimator = P2Quantile(p)
    estimator.add_many(draw(np.random.default_rng(2022), 100_000))
    # the probability below the estimate misses p by at most about 3 standard errors of an exact
    # sample median of 100,000 draws (0.005), and by at most a fifth of the tail beyond p
    assert abs(cdf(estimator.value) - p) < min(0.005, (1 - p) / 5)


def test_markers_stay_sorted_and_bracket_the_data():
    # ties (small integers) and a heavy tail make the parabolic step overshoot, so the linear
    # fallback must keep the heights in order
    rng = np.random.default_rng(5)
    data = np.where(rng.random(5_000) < 0.5, rng.integers(0, 4, 5_000), rng.lognormal(0, 2, 5_000))
    estimator = P2Quantile(0.9)
    for i, x in enumerate(data, start=1):
        estimator.add(x)
        heights, positions = estimator.markers
        assert list(heights) == sorted(heights)
        if i >= 5:
            assert heights[0] == data[:i].min() and heights[-1] == data[:i].max()
            assert all(b > a for a, b in itertools.pairwise(positions)) and positions[-1] == i


def test_a_linear_stream_keeps_every_marker_on_the_line():
    # data equal to its rank: the parabola through three markers is that line, so each height
    # must equal its position; after 1..8 the hand-computed markers are at 1, 2, 4, 6, 8
    estimator = P2Quantile(0.5)
    estimator.add_many(np.arange(1.0, 9.0))
    assert estimator.markers == ((1.0, 2.0, 4.0, 6.0, 8.0), (1, 2, 4, 6, 8))
    estimator.add_many(np.arange(9.0, 1001.0))
    heights, positions = estimator.markers
    assert heights == pytest.approx(positions, abs=1e-9)


@pytest.mark.parametrize("p", [0.1, 0.25, 0.5, 0.9, 0.99])
def test_fewer_than_five_observations_give_the_exact_sample_quantile(p):
    data = [7.0, -2.0, 3.5, 11.0]
    estimator = P2Quantile(p)
    assert math.isnan(estimator.value) and estimator.count == 0
    for n in range(1, 5):
        estimator.add(data[n - 1])
        assert estimator.count == n
        assert estimator.value == pytest.approx(np.quantile(data[:n], p), rel=1e-12)


def test_add_many_matches_add_one_by_one():
    data = np.random.default_rng(9).lognormal(size=2_000)
    one_by_one, batched = P2Quantile(0.9), P2Quantile(0.9)
    for x in data:
        one_by_one.add(x)
    batched.add_many(data[:3])
    batched.add_many(data[3:1000])
    batched.add_many(data[1000:])
    assert batched.markers == one_by_one.markers and batched.count == one_by_one.count == 2_000


@pytest.mark.parametrize("p", [0.0, 1.0, -0.5, 1.5])
def test_p_must_be_strictly_between_zero_and_one(p):
    with pytest.raises(ValueError, match="0 < p < 1"):
        P2Quantile(p)


def test_non_finite_observations_are_refused():
    estimator = P2Quantile(0.5)
    with pytest.raises(ValueError, match="finite"):
        estimator.add(math.nan)
    with pytest.raises(ValueError, match="finite"):
        estimator.add_many(np.array([1.0, math.inf]))
    assert estimator.count == 0
