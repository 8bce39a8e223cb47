"""The trainer's step: SGD on the log loss of the examples behind each update, whose magnitudes
are the real steps (exact with given clicks; in expectation and spread with drawn ones)."""

import numpy as np
import pytest

from ekkosim.quality import GroundTruth, train_step
from ekkosim.quality.score import sigmoid

TRUTH = GroundTruth(seed=3, drift_amplitude=1.0, drift_period_s=60.0, spread=2.0)
KEYS = np.array([0, 1, 99, 10**9, 10**12 - 1], dtype=np.int64)


class GivenClicks:
    """A stand-in for the label generator: the clicks are given, not drawn."""

    def __init__(self, clicks):
        self.clicks = np.asarray(clicks)

    def binomial(self, n, p):
        assert np.all(self.clicks <= n)
        return self.clicks


def test_step_is_the_learning_rate_times_the_summed_log_loss_gradient():
    current = np.array([0.0, 2.0, -1.0, 0.5, 0.0])
    examples = np.array([1, 4, 10, 3, 7])
    clicks = np.array([1, 0, 10, 2, 3])
    new, magnitudes = train_step(TRUTH, KEYS, current, 3.0, 0.1, examples, GivenClicks(clicks))
    expected = current - 0.1 * (examples / (1 + np.exp(-current)) - clicks)
    np.testing.assert_allclose(new, expected, rtol=1e-14, atol=1e-15)
    assert np.array_equal(magnitudes, np.abs(new - current))
    # A key never written (value 0, p = 1/2) with one example and a click moves up by lr / 2.
    assert new[0] == pytest.approx(0.05, rel=1e-14)


def test_expected_step_is_toward_the_truth_and_its_spread_is_binomial():
    # Many independent steps from the same copy: mean lr * n (q - p), standard deviation lr sqrt(n q (1 - q)).
    keys = np.full(200_000, 99, dtype=np.int64)
    n, lr, current = 25, 0.02, np.zeros(keys.size)
    new, _ = train_step(TRUTH, keys, current, 5.0, lr, np.full(keys.size, n), np.random.default_rng(0))
    q = sigmoid(TRUTH.value(keys[:1], 5.0))[0]
    sd = lr * np.sqrt(n * q * (1 - q))
    assert (new.mean() - lr * n * (q - 0.5)) == pytest.approx(0.0, abs=4 * sd / np.sqrt(keys.size))
    assert new.std() == pytest.approx(sd, rel=0.01)


def test_magnitude_grows_as_the_square_root_of_the_examples_at_the_truth():
    # At the truth the gradient is pure label noise: E|step| = lr E|Binomial(n, q) - n q| ~ lr sqrt(2 n q (1 - q) / pi).
    keys = np.full(100_000, 1, dtype=np.int64)
    at_truth = TRUTH.value(keys, 7.0)
    rng = np.random.default_rng(1)
    few = train_step(TRUTH, keys, at_truth, 7.0, 0.01, np.full(keys.size, 100), rng)[1].mean()
    many = train_step(TRUTH, keys, at_truth, 7.0, 0.01, np.full(keys.size, 10_000), rng)[1].mean()
    assert many / few == pytest.approx(10.0, rel=0.03)
    q = sigmoid(at_truth[:1])[0]
    assert many == pytest.approx(0.01 * np.sqrt(2 * 10_000 * q * (1 - q) / np.pi), rel=0.02)


def test_repeated_steps_at_a_fixed_time_reach_the_truth_up_to_label_noise():
    target = TRUTH.value(KEYS, 12.0)
    values, rng = np.zeros(KEYS.size), np.random.default_rng(2)
    examples = np.full(KEYS.size, 10_000)  # lr * n = 2: contracting; the noise left is ~ lr sqrt(n) / 2 = 0.01
    for _ in range(200):
        values, _ = train_step(TRUTH, KEYS, values, 12.0, 2e-4, examples, rng)
    np.testing.assert_allclose(values, target, atol=0.1)


def test_same_label_generator_seed_same_step():
    args = (TRUTH, KEYS, np.zeros(KEYS.size), 1.0, 0.05, np.arange(1, 6))
    a = train_step(*args, np.random.default_rng(9))
    b = train_step(*args, np.random.default_rng(9))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


@pytest.mark.parametrize("learning_rate", [0.0, -0.1, 1.5, float("nan")])
def test_learning_rates_outside_zero_one_are_refused(learning_rate):
    with pytest.raises(ValueError):
        train_step(TRUTH, KEYS, np.zeros(KEYS.size), 0.0, learning_rate, np.ones(KEYS.size, dtype=np.int64),
                   np.random.default_rng(0))
