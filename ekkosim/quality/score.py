"""Scoring inference requests: the expected log loss of a served logit, summed per DC, model and
time window next to that of an ideal replica, so that the quality drop is exact.

The ideal replica has zero update latency: it serves the trainer's current value. Both are
scored on the very same requests, so the drop carries no sampling noise of its own beyond which
requests arrived.
"""

from __future__ import annotations

import numpy as np


def sigmoid(logit: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-logit), computed as e^-softplus(-logit): no overflow for any finite logit."""
    return np.exp(-np.logaddexp(0.0, -np.asarray(logit, dtype=np.float64)))


def expected_log_loss(served_logit: np.ndarray, true_logit: np.ndarray) -> np.ndarray:
    """The expected log loss of predicting p = sigmoid(served) for a click of probability
    q = sigmoid(true): -(q log p + (1 - q) log(1 - p)) = q softplus(-served) + (1 - q) softplus(served).

    q and 1 - q are each computed from the logit (1 - q = sigmoid(-true)), never one from the
    other, and no logarithm of a rounded probability is taken: the loss stays exact and positive
    for any finite logits, even where q rounds to 1. It is smallest at served == true, where it
    is the binary entropy of q.
    """
    served = np.asarray(served_logit, dtype=np.float64)
    true = np.asarray(true_logit, dtype=np.float64)
    q, not_q = sigmoid(true), sigmoid(-true)
    return q * np.logaddexp(0.0, -served) + not_q * np.logaddexp(0.0, served)


class QualityAccumulator:
    """Sums of served loss, ideal loss and request count per (DC, model, window) cell."""

    def __init__(self, n_dcs: int, n_models: int, n_windows: int):
        shape = (n_dcs, n_models, n_windows)
        self.served_loss = np.zeros(shape, dtype=np.float64)
        self.ideal_loss = np.zeros(shape, dtype=np.float64)
        self.requests = np.zeros(shape, dtype=np.int64)

    def add(
        self, dc: int, model: int, window: int | np.ndarray, served_loss: np.ndarray, ideal_loss: np.ndarray
    ) -> None:
        """Add requests' losses (as served, and as the ideal replica would have served them).

        `window` is one window index for all of them, or one per request (an int array shaped
        as the losses), for requests that straddle a window boundary.
        """
        served_loss = np.asarray(served_loss, dtype=np.float64)
        ideal_loss = np.asarray(ideal_loss, dtype=np.float64)
        if served_loss.shape != ideal_loss.shape:
            raise ValueError(f"served and ideal losses differ in shape: {served_loss.shape} vs {ideal_loss.shape}")
        if np.ndim(window) == 0:
            self.served_loss[dc, model, window] += served_loss.sum()
            self.ideal_loss[dc, model, window] += ideal_loss.sum()
            self.requests[dc, model, window] += served_loss.size
            return
        window = np.asarray(window, dtype=np.int64)
        if window.shape != served_loss.shape:
            raise ValueError(f"windows shaped {window.shape}, losses {served_loss.shape}")
        np.add.at(self.served_loss[dc, model], window, served_loss)
        np.add.at(self.ideal_loss[dc, model], window, ideal_loss)
        np.add.at(self.requests[dc, model], window, 1)

    def mean_loss(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean served loss and mean ideal loss per cell (NaN where no requests)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.served_loss / self.requests, self.ideal_loss / self.requests

    def slo_drop(self) -> np.ndarray:
        """(sum served - sum ideal) / sum ideal per cell: the relative loss increase that update
        latency caused (NaN where no requests, or where the ideal loss is 0). Negative where stale values happened to be
        nearer the truth than the trainer's."""
        drop = np.full(self.served_loss.shape, np.nan)
        seen = (self.requests > 0) & (self.ideal_loss > 0)
        drop[seen] = (self.served_loss[seen] - self.ideal_loss[seen]) / self.ideal_loss[seen]
        return drop
