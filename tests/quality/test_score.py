"""Scoring: the expected log loss, and exact sums per (DC, model, window)."""

import math

import numpy as np
import pytest

from ekkosim.quality import QualityAccumulator, expected_log_loss


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def test_expected_log_loss_is_the_naive_formula_at_moderate_logits():
    served, true = np.meshgrid(np.linspace(-6, 6, 25), np.linspace(-6, 6, 25))
    p, q = sigmoid(served), sigmoid(true)
    naive = -(q * np.log(p) + (1 - q) * np.log(1 - p))
    np.testing.assert_allclose(expected_log_loss(served, true), naive, rtol=1e-12)


def test_expected_log_loss_is_finite_at_extreme_logits():
    served = np.array([800.0, -800.0, 800.0, -800.0, 800.0, 0.0])
    true = np.array([-800.0, 800.0, 800.0, -800.0, 0.0, 800.0])
    with np.errstate(over="raise", divide="raise", invalid="raise"):  # underflow to 0 is exact enough
        loss = expected_log_loss(served, true)
    # Confidently wrong costs the logit; confidently right costs nothing; a coin flip costs half.
    np.testing.assert_allclose(loss, [800.0, 800.0, 0.0, 0.0, 400.0, math.log(2)], atol=1e-12)


@pytest.mark.parametrize("true", [-4.0, -0.3, 0.0, 1.7, 6.0])
def test_expected_log_loss_is_smallest_at_the_truth_where_it_is_the_entropy(true):
    q = sigmoid(true)
    entropy = -(q * math.log(q) + (1 - q) * math.log(1 - q))
    assert expected_log_loss(true, true) == pytest.approx(entropy, rel=1e-12)
    h = 1e-5
    slope = (expected_log_loss(true + h, true) - expected_log_loss(true - h, true)) / (2 * h)
    assert abs(slope) < 1e-9
    offsets = np.array([-3.0, -0.5, -1e-3, 1e-3, 0.5, 3.0])
    assert np.all(expected_log_loss(true + offsets, true) > entropy)


def test_expected_log_loss_slope_is_predicted_minus_true_probability():
    rng = np.random.default_rng(1)
    served, true = rng.normal(0, 3, 200), rng.normal(0, 3, 200)
    h = 1e-6
    slope = (expected_log_loss(served + h, true) - expected_log_loss(served - h, true)) / (2 * h)
    np.testing.assert_allclose(slope, sigmoid(served) - sigmoid(true), atol=1e-8)


def test_accumulator_sums_cells_and_gives_exact_drops():
    acc = QualityAccumulator(n_dcs=2, n_models=2, n_windows=3)
    acc.add(0, 1, 2, np.array([1.0, 2.0]), np.array([1.0, 1.0]))
    acc.add(0, 1, 2, np.array([3.0]), np.array([1.0]))
    acc.add(1, 0, 0, np.array([0.5]), np.array([1.0]))  # a stale value nearer the truth: negative
    acc.add(1, 1, np.array([0, 1, 1]), np.array([2.0, 3.0, 5.0]), np.array([1.0, 2.0, 2.0]))
    drop = acc.slo_drop()
    assert drop.shape == (2, 2, 3)
    assert drop[0, 1, 2] == 1.0  # (6 - 3) / 3
    assert drop[1, 0, 0] == -0.5
    assert drop[1, 1, 0] == 1.0 and drop[1, 1, 1] == 1.0  # (2 - 1) / 1, (8 - 4) / 4
    seen = np.zeros((2, 2, 3), dtype=bool)
    seen[0, 1, 2] = seen[1, 0, 0] = seen[1, 1, 0] = seen[1, 1, 1] = True
    assert np.all(np.isnan(drop[~seen]))
    served, ideal = acc.mean_loss()
    assert served[0, 1, 2] == 2.0 and ideal[0, 1, 2] == 1.0 and served[1, 1, 1] == 4.0
    assert np.all(np.isnan(served[~seen])) and np.all(np.isnan(ideal[~seen]))
    assert acc.requests[0, 1, 2] == 3 and acc.requests[1, 1, 1] == 2 and acc.requests.sum() == 7


def test_accumulator_refuses_mismatched_shapes():
    acc = QualityAccumulator(1, 1, 2)
    with pytest.raises(ValueError):
        acc.add(0, 0, 0, np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError):
        acc.add(0, 0, np.array([0, 1]), np.zeros(3), np.zeros(3))
