"""The trainer's step: geometric convergence toward the truth, and magnitudes that are real moves."""

import numpy as np
import pytest

from ekkosim.quality import GroundTruth, train_step

TRUTH = GroundTruth(seed=3, drift_amplitude=1.0, drift_period_s=60.0, spread=2.0)
KEYS = np.array([0, 1, 99, 10**9, 10**12 - 1], dtype=np.int64)


@pytest.mark.parametrize("learning_rate", [0.05, 0.3, 0.9])
def test_repeated_steps_at_a_fixed_time_close_the_gap_geometrically(learning_rate):
    target = TRUTH.value(KEYS, 12.0)
    values = np.zeros(KEYS.size)
    for n in range(1, 31):
        values, _ = train_step(TRUTH, KEYS, values, 12.0, learning_rate)
        # Rounding leaves a residue of about one unit in the last place of the target.
        np.testing.assert_allclose(np.abs(target - values), (1 - learning_rate) ** n * np.abs(target), rtol=1e-9, atol=1e-14)


def test_magnitude_is_how_far_the_copy_moved():
    current = np.array([0.0, 5.0, -5.0, 0.25, 0.0])
    new, magnitudes = train_step(TRUTH, KEYS, current, 3.0, 0.25)
    assert np.array_equal(magnitudes, np.abs(new - current))
    np.testing.assert_allclose(magnitudes, 0.25 * np.abs(TRUTH.value(KEYS, 3.0) - current), rtol=1e-12)
    # A key never written starts at 0: its first update moves it a quarter of the way to its truth.
    np.testing.assert_allclose(new[0], 0.25 * TRUTH.value(KEYS[:1], 3.0)[0], rtol=1e-12)


def test_a_learning_rate_of_one_lands_on_the_truth():
    new, magnitudes = train_step(TRUTH, KEYS, np.ones(KEYS.size), 8.0, 1.0)
    np.testing.assert_allclose(new, TRUTH.value(KEYS, 8.0), rtol=1e-15, atol=1e-15)  # 1 + (x - 1), rounded
    assert np.array_equal(magnitudes, np.abs(new - 1.0))


def test_a_key_at_its_truth_emits_a_zero_update():
    at_truth = TRUTH.value(KEYS, 4.0)
    new, magnitudes = train_step(TRUTH, KEYS, at_truth, 4.0, 0.5)
    assert np.array_equal(new, at_truth) and np.all(magnitudes == 0)


@pytest.mark.parametrize("learning_rate", [0.0, -0.1, 1.5, float("nan")])
def test_learning_rates_outside_zero_one_are_refused(learning_rate):
    with pytest.raises(ValueError):
        train_step(TRUTH, KEYS, np.zeros(KEYS.size), 0.0, learning_rate)
