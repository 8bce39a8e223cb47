"""The ground truth: SplitMix64 hashing, the per-key distribution, and statelessness."""

import math

import numpy as np
import pytest

from ekkosim.quality import GroundTruth
from ekkosim.quality.truth import splitmix64_output, unit_interval

N = 200_000
KEYS = np.arange(N, dtype=np.int64) * 7919 + 3  # spread over the key space, not just 0..N


def within(observed: float, expected: float, standard_error: float) -> bool:
    return abs(observed - expected) < 4 * standard_error


def test_splitmix64_matches_the_reference_outputs():
    # Vigna's splitmix64.c started from state 1234567: its first five outputs.
    outputs = [int(splitmix64_output(np.uint64(1234567), i)) for i in range(1, 6)]
    assert outputs == [
        6457827717110365317, 3203168211198807973, 9817491932198370423, 4593380528125082431, 16408922859458223821,
    ]


def test_unit_interval_uses_the_top_53_bits_and_stays_below_one():
    bits = np.array([0, (1 << 11) - 1, 1 << 11, (1 << 64) - 1], dtype=np.uint64)
    assert unit_interval(bits).tolist() == [0.0, 0.0, 2.0**-53, 1.0 - 2.0**-53]


def test_means_are_normal_with_the_given_spread():
    spread = 1.5
    mean, _, _ = GroundTruth(seed=5, drift_amplitude=0.7, drift_period_s=60.0, spread=spread).parameters(KEYS)
    assert within(mean.mean(), 0.0, spread / math.sqrt(N))
    assert within(mean.std(), spread, spread / math.sqrt(2 * N))
    for sigmas, share in [(1, 0.682689492), (2, 0.954499736)]:  # normal, not merely of the right variance
        assert within(np.mean(np.abs(mean) < sigmas * spread), share, math.sqrt(share * (1 - share) / N))


def test_periods_and_phases_are_uniform_over_their_ranges():
    period_s = 60.0
    _, period, phase = GroundTruth(seed=5, drift_amplitude=1.0, drift_period_s=period_s, spread=1.0).parameters(KEYS)
    assert period.min() >= period_s / 2 and period.max() < 2 * period_s
    assert phase.min() >= 0 and phase.max() < 2 * math.pi
    width = 1.5 * period_s
    assert within(period.mean(), 1.25 * period_s, width / math.sqrt(12 * N))
    assert within(phase.mean(), math.pi, 2 * math.pi / math.sqrt(12 * N))
    # Each quarter of each range holds a quarter of the keys.
    for values, low, span in [(period, period_s / 2, width), (phase, 0.0, 2 * math.pi)]:
        quarters = np.bincount(((values - low) / span * 4).astype(int), minlength=4)
        assert all(within(q / N, 0.25, math.sqrt(0.25 * 0.75 / N)) for q in quarters)


def test_the_three_parameters_are_uncorrelated_across_and_within_keys():
    mean, period, phase = GroundTruth(seed=5, drift_amplitude=1.0, drift_period_s=60.0, spread=1.0).parameters(KEYS)
    neighbour_mean, _, _ = GroundTruth(seed=5, drift_amplitude=1.0, drift_period_s=60.0, spread=1.0).parameters(KEYS + 1)
    for a, b in [(mean, period), (mean, phase), (period, phase), (mean, neighbour_mean)]:
        assert abs(np.corrcoef(a, b)[0, 1]) < 4 / math.sqrt(N)


def test_value_is_the_mean_plus_a_sinusoid_of_the_key_period():
    amplitude = 0.8
    truth = GroundTruth(seed=9, drift_amplitude=amplitude, drift_period_s=30.0, spread=1.0)
    keys = KEYS[:1000]
    mean, period, phase = truth.parameters(keys)
    t = np.linspace(0.0, 500.0, keys.size)
    np.testing.assert_allclose(truth.value(keys, t + period), truth.value(keys, t), atol=1e-9)
    peak = (math.pi / 2 - phase) * period / (2 * math.pi)  # where the sine is 1
    np.testing.assert_allclose(truth.value(keys, peak), mean + amplitude, atol=1e-12)
    np.testing.assert_allclose(truth.value(keys, peak + period / 2), mean - amplitude, atol=1e-12)


def test_variance_over_keys_is_spread_squared_plus_half_amplitude_squared():
    spread, amplitude = 1.0, 2.0
    value = GroundTruth(seed=2, drift_amplitude=amplitude, drift_period_s=100.0, spread=spread).value(KEYS, 1234.5)
    centred = (value - value.mean()) ** 2
    assert within(value.mean(), 0.0, value.std() / math.sqrt(N))
    assert within(centred.mean(), spread**2 + amplitude**2 / 2, centred.std() / math.sqrt(N))


def test_a_keys_truth_does_not_depend_on_the_other_keys_asked():
    truth = GroundTruth(seed=4, drift_amplitude=1.0, drift_period_s=60.0, spread=1.0)
    keys = np.array([10**12 - 1, 0, 17, 2**40, 5], dtype=np.int64)
    together = truth.value(keys, 42.0)
    order = np.array([3, 1, 4, 0, 2])
    assert np.array_equal(truth.value(keys[order], 42.0), together[order])
    assert [truth.value(np.array([k]), 42.0)[0] for k in keys] == together.tolist()
    assert np.array_equal(truth.value(np.repeat(keys, 3), 42.0), np.repeat(together, 3))
    assert np.all(np.isfinite(together))


def test_same_seed_same_truth_other_seed_other_truth():
    keys = KEYS[:10_000]
    make = lambda seed: GroundTruth(seed=seed, drift_amplitude=1.0, drift_period_s=60.0, spread=1.0).value(keys, 7.0)
    assert np.array_equal(make(1), make(1))
    for a, b in [(1, 2), (0, 1), (-1, 2**64 - 1 - 1)]:
        first, second = make(a), make(b)
        assert not np.any(first == second)
        assert abs(np.corrcoef(first, second)[0, 1]) < 4 / math.sqrt(keys.size)
    assert np.array_equal(make(-1), make(2**64 - 1))  # seeds are taken modulo 2^64


def test_a_seed_is_not_a_relabelling_of_small_keys():
    # Were the state symmetric in (seed, key), seed 0's key 1 would be seed 1's key 0.
    keys = np.arange(1024, dtype=np.int64)
    one = GroundTruth(seed=0, drift_amplitude=0.0, drift_period_s=1.0, spread=1.0).value(keys, 0.0)
    other = GroundTruth(seed=1, drift_amplitude=0.0, drift_period_s=1.0, spread=1.0).value(keys, 0.0)
    assert np.intersect1d(one, other).size == 0


@pytest.mark.parametrize(
    "amplitude, period, spread",
    [(-1.0, 60.0, 1.0), (math.nan, 60.0, 1.0), (1.0, 0.0, 1.0), (1.0, math.inf, 1.0), (1.0, 60.0, -0.1)],
)
def test_invalid_parameters_are_refused(amplitude, period, spread):
    with pytest.raises(ValueError):
        GroundTruth(seed=1, drift_amplitude=amplitude, drift_period_s=period, spread=spread)
