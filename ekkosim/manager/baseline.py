"""A lagged copy of a model's published values: the baseline model, and the witness's healthy
state that a rollback republishes (docs/manager.md).

Every value the origin publishes is recorded with its time; the copy takes a recorded write once
it is `delay_s` old, so at time t it holds the published model as of t - delay_s. Cost follows
the written keys, not the model size. While the model is suspected the copy is frozen: it keeps
the last state that was known healthy, and the writes since wait in order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import numpy as np

from ekkosim.arrays import distinct
from ekkosim.ps.key_values import KeyValues


class LaggedCopy:
    """Values of every key of one model (global key ids), `delay_s` behind the published ones;
    `start(keys)`: the values published at time 0 (only the keys written since are stored)."""

    def __init__(self, start: Callable[[np.ndarray], np.ndarray], delay_s: float):
        if not delay_s > 0:
            raise ValueError(f"a lagged copy needs a delay > 0, got {delay_s}")
        self.value = KeyValues(start)
        self.delay_s = float(delay_s)
        self.frozen = False
        self.state_time_s = -self.delay_s  # the published model's time this copy holds
        self._pending: deque[tuple[float, np.ndarray, np.ndarray]] = deque()

    def record(self, keys: np.ndarray, values: np.ndarray, time_s: float) -> None:
        """The origin published `values` for `keys` at `time_s` (times never go back)."""
        if keys.size:
            self._pending.append((float(time_s), np.array(keys, dtype=np.int64), np.array(values, dtype=np.float64)))

    def advance(self, now_s: float) -> None:
        """Take, in order, every recorded write at least `delay_s` old, unless frozen."""
        if self.frozen:
            return
        horizon = now_s - self.delay_s
        self.state_time_s = max(self.state_time_s, horizon)
        while self._pending and self._pending[0][0] <= horizon:
            _, keys, values = self._pending.popleft()
            self.value.set(keys, values)

    def unapplied_keys(self) -> np.ndarray:
        """The keys published since the copy's state (sorted, distinct): where the published model
        may differ from it."""
        if not self._pending:
            return np.zeros(0, dtype=np.int64)
        return distinct(np.concatenate([keys for _, keys, _ in self._pending]))

    def discard_after(self, time_s: float) -> None:
        """Forget the writes published after `time_s`: a rollback to that time replaced them."""
        self._pending = deque(write for write in self._pending if write[0] <= time_s)

    def discard_pending(self, now_s: float) -> None:
        """Forget the writes not taken yet: a rollback at `now_s` republishes this copy's values in
        their place, so from then on the published model is this copy's state."""
        self._pending.clear()
        self.state_time_s = max(self.state_time_s, now_s)
