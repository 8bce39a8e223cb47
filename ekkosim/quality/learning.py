"""The trainer: one step of its copy of some keys toward their truth, and the updates it emits.

Each key's copy is a logit trained by stochastic gradient descent on the log loss of the
examples (requests, with a click or not) that touched it in the batch: an update's magnitude is
the size of that step, the learning rate times the gradient summed over the examples, as in the
book ("the gradient, or the gradient times the learning rate"). So the scheduler's significance
measures something real: it grows with the examples behind an update (their noise alone grows
as the square root of their number) and with how far the copy is from the truth.
"""

from __future__ import annotations

import numpy as np

from ekkosim.quality.score import sigmoid
from ekkosim.quality.truth import GroundTruth


def train_step(
    truth: GroundTruth, keys: np.ndarray, current: np.ndarray, t: float, learning_rate: float,
    examples: np.ndarray, labels: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """The new values of `keys` (unique) after one step at time `t`, and each update's magnitude.

    Key k was touched by `examples[k]` examples, whose clicks are drawn at its true click
    probability q = sigmoid(truth(t)) (`labels.binomial`); the gradient of their summed log loss
    in the logit is g = examples * sigmoid(current) - clicks, and new = current - learning_rate * g,
    magnitude = |new - current|. A key never written has current value 0.0. The step contracts
    toward the truth while learning_rate * examples < 8 (the log loss's curvature is at most 1/4).
    """
    if not 0 < learning_rate <= 1:
        raise ValueError(f"learning_rate must be in (0, 1], got {learning_rate}")
    current = np.asarray(current, dtype=np.float64)
    clicks = labels.binomial(examples, sigmoid(truth.value(keys, t)))
    new = current - learning_rate * (examples * sigmoid(current) - clicks)
    return new, np.abs(new - current)
