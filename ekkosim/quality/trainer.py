"""The trainer: one step of its copy of some keys toward their truth, and the updates it emits.

An update's magnitude is how far the trainer's copy moved, so the scheduler's significance
(magnitude over the model's mean magnitude) measures something real: large for new keys and
for keys whose truth drifted far since the trainer last saw them.
"""

from __future__ import annotations

import numpy as np

from ekkosim.quality.truth import GroundTruth


def train_step(
    truth: GroundTruth, keys: np.ndarray, current: np.ndarray, t: float, learning_rate: float
) -> tuple[np.ndarray, np.ndarray]:
    """The new values of `keys` (unique) after one step at time `t`, and each update's magnitude.

    new = current + learning_rate * (truth(t) - current), magnitude = |new - current|: gradient
    descent on the squared error with step `learning_rate` in (0, 1]. A key never written has
    current value 0.0.
    """
    if not 0 < learning_rate <= 1:
        raise ValueError(f"learning_rate must be in (0, 1], got {learning_rate}")
    current = np.asarray(current, dtype=np.float64)
    new = current + learning_rate * (truth.value(keys, t) - current)
    return new, np.abs(new - current)
