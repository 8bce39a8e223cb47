"""The magnitude sampler: Bernoulli sampling from its generator into a ring of recent samples."""

import math

import numpy as np
import pytest

from ekkosim.scheduler.sampler import MagnitudeSampler


def test_mean_is_nan_until_a_magnitude_is_kept():
    sampler = MagnitudeSampler(np.random.default_rng(0), sample_rate=1e-9, window=8)
    assert math.isnan(sampler.mean)
    sampler.observe(np.ones(10))
    assert len(sampler) == 0 and math.isnan(sampler.mean)


def test_ring_keeps_the_last_window_samples():
    sampler = MagnitudeSampler(np.random.default_rng(0), sample_rate=1.0, window=4)
    sampler.observe(np.array([1.0, 2.0, 3.0]))
    assert sampler.mean == 2.0
    sampler.observe(np.array([4.0, 5.0]))  # wraps: holds 2, 3, 4, 5
    assert len(sampler) == 4 and sampler.mean == 3.5
    sampler.observe(np.arange(10.0, 16.0))  # a batch larger than the ring: 12, 13, 14, 15
    assert sampler.mean == 13.5
    sampler.observe(np.array([100.0]))  # the oldest (12) leaves
    assert sampler.mean == (13 + 14 + 15 + 100) / 4


def test_one_uniform_draw_per_magnitude_decides_what_is_kept():
    magnitudes = np.random.default_rng(1).lognormal(size=1_000)
    rng, twin = np.random.default_rng(42), np.random.default_rng(42)
    sampler = MagnitudeSampler(rng, sample_rate=0.3, window=1_000)
    sampler.observe(magnitudes)
    kept = magnitudes[twin.random(magnitudes.size) < 0.3]
    assert len(sampler) == kept.size and sampler.mean == pytest.approx(kept.mean(), rel=1e-12)
    assert rng.random() == twin.random()  # exactly one draw per magnitude was taken


def test_sample_rate_sets_the_share_kept():
    sampler = MagnitudeSampler(np.random.default_rng(3), sample_rate=0.01, window=1_000_000)
    for _ in range(10):
        sampler.observe(np.ones(100_000))
    assert abs(len(sampler) - 10_000) < 300  # 3 standard deviations of Binomial(10^6, 0.01)


@pytest.mark.parametrize(("rate", "window"), [(0.0, 8), (1.5, 8), (0.1, 0)])
def test_parameters_are_checked(rate, window):
    with pytest.raises(ValueError):
        MagnitudeSampler(np.random.default_rng(0), sample_rate=rate, window=window)
