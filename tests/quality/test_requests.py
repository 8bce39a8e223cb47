"""Inference requests: Poisson counts, uniform sorted times, keys by the workload's popularity."""

import math

import numpy as np
import pytest

from ekkosim.quality import RequestSampler
from ekkosim.workload import BoundedZipf


def identity(ranks, t):
    return ranks - 1


def test_counts_are_poisson_with_mean_rate_times_length():
    sampler = RequestSampler(np.random.default_rng(1), rate=40.0, zipf=1.0, n_keys=1000, keys_of_ranks=identity)
    counts = np.array([sampler.sample(i * 0.5, (i + 1) * 0.5)[0].size for i in range(4000)])
    mean = 40.0 * 0.5
    assert abs(counts.mean() - mean) < 4 * math.sqrt(mean / counts.size)
    # A Poisson count's variance is its mean (the variance estimate's own error is about mean * sqrt(2 / n)).
    assert abs(counts.var() - mean) < 4 * mean * math.sqrt(2 / counts.size)


def test_times_are_sorted_uniform_and_inside_the_half_open_interval():
    sampler = RequestSampler(np.random.default_rng(2), rate=100_000.0, zipf=1.0, n_keys=10, keys_of_ranks=identity)
    times, keys = sampler.sample(3.0, 4.0)
    assert times.size == keys.size and times.dtype == np.float64
    assert np.all(np.diff(times) >= 0) and times[0] >= 3.0 and times[-1] < 4.0
    halves = np.mean(times < 3.5)
    assert abs(halves - 0.5) < 4 * math.sqrt(0.25 / times.size)


@pytest.mark.parametrize("s", [0.8, 1.05])
def test_keys_follow_the_bounded_zipf(s):
    n = 50_000
    sampler = RequestSampler(np.random.default_rng(3), rate=400_000.0, zipf=s, n_keys=n, keys_of_ranks=identity)
    _, keys = sampler.sample(0.0, 1.0)
    assert keys.dtype == np.int64 and keys.min() >= 0 and keys.max() < n
    zipf = BoundedZipf(s)
    for cell in [np.array([1]), np.array([2]), np.arange(3, 101), np.arange(2000, n + 1)]:
        p = zipf.pmf(n, cell).sum()
        observed = np.isin(keys, cell - 1).mean()
        assert abs(observed - p) < 4 * math.sqrt(p * (1 - p) / keys.size), (cell[0], observed, p)


def test_ranks_are_mapped_at_the_interval_start():
    seen = []

    def shifted(ranks, t):
        seen.append(t)
        return ranks - 1 + 1000 * int(t)

    sampler = RequestSampler(np.random.default_rng(4), rate=1000.0, zipf=1.0, n_keys=5, keys_of_ranks=shifted)
    _, keys = sampler.sample(7.0, 7.9)
    assert seen == [7.0] and keys.min() >= 7000 and keys.max() < 7005


def test_raising_n_keys_lets_requests_reach_created_keys():
    sampler = RequestSampler(np.random.default_rng(5), rate=1000.0, zipf=0.0, n_keys=1, keys_of_ranks=identity)
    assert np.all(sampler.sample(0.0, 1.0)[1] == 0)
    sampler.n_keys = 2
    assert set(sampler.sample(1.0, 2.0)[1].tolist()) == {0, 1}


def test_same_generator_seed_same_requests():
    make = lambda: RequestSampler(np.random.default_rng(6), rate=500.0, zipf=1.1, n_keys=10**6, keys_of_ranks=identity)
    a, b = make(), make()
    for t0 in [0.0, 0.1, 0.2]:
        (ta, ka), (tb, kb) = a.sample(t0, t0 + 0.1), b.sample(t0, t0 + 0.1)
        assert np.array_equal(ta, tb) and np.array_equal(ka, kb)


def test_an_empty_interval_or_zero_rate_gives_no_requests():
    sampler = RequestSampler(np.random.default_rng(7), rate=0.0, zipf=1.0, n_keys=10, keys_of_ranks=identity)
    times, keys = sampler.sample(0.0, 5.0)
    assert times.size == 0 and keys.size == 0 and keys.dtype == np.int64
    sampler.rate = 100.0
    assert sampler.sample(2.0, 2.0)[0].size == 0


@pytest.mark.parametrize("rate", [-1.0, math.inf, math.nan])
def test_invalid_rates_are_refused(rate):
    with pytest.raises(ValueError):
        RequestSampler(np.random.default_rng(0), rate=rate, zipf=1.0, n_keys=10, keys_of_ranks=identity)


def test_a_reversed_interval_is_refused():
    sampler = RequestSampler(np.random.default_rng(0), rate=1.0, zipf=1.0, n_keys=10, keys_of_ranks=identity)
    with pytest.raises(ValueError):
        sampler.sample(2.0, 1.0)
