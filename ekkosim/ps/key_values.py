"""One value per key of a model, stored only for the keys written: the rest hold a base value.

The quality model's trainer copy and the state manager's lagged copies (baseline, witness) each
hold a value for every key of a model, but a run writes only some of them; every other key holds
its value at the start, which a function of the keys gives on demand (the truth of time 0, a
counter-based hash: O(keys asked)). So, as a parameter server's store does (`ekkosim.ps.store`),
this keeps a row only for the keys written since the run began, found through the store's hash
index (`KeyIndex`), and memory and cost follow the keys written, not the model's size.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ekkosim.arrays import with_room
from ekkosim.ps.key_index import KeyIndex

# Bytes a written key costs at most: the index keeps its table at most half full and between
# growths at least a quarter full (4 B a slot, a row number), so 16 B a key just after it
# doubles; the index's keys and the values are 8 B each, with up to a quarter more room
# (`ekkosim.arrays.GROWTH`, past 4,096 keys; fewer double): 16 + 2 x 10 = 36 B.
# `tests/ps/test_key_values.py` measures 34.6 B a key at 2^19 + 1 keys, just after the table doubled.
KEY_BYTES = 40


class KeyValues:
    """float64 values of every key of a model (int64 keys >= 0): `base(keys)` for the keys never
    set, the last value set for the others."""

    def __init__(self, base: Callable[[np.ndarray], np.ndarray]):
        self.base = base
        self._index = KeyIndex()
        self._values = np.zeros(16, dtype=np.float64)

    def __len__(self) -> int:
        """How many keys hold a value of their own (were ever set)."""
        return self._index.size

    def get(self, keys: np.ndarray) -> np.ndarray:
        """The value of each of `keys` (any order, repeats allowed): a new array."""
        keys = np.asarray(keys, dtype=np.int64)
        rows = self._index.find(keys)
        set_ = rows >= 0
        if set_.all():
            return self._values[rows]
        values = np.empty(keys.shape)
        values[set_] = self._values[rows[set_]]
        values[~set_] = self.base(keys[~set_])  # only the keys never set: the base may cost a hash a key
        return values

    def set(self, keys: np.ndarray, values: np.ndarray) -> None:
        """Give `keys` `values` (where a key repeats, its last value wins, as `a[keys] = values` does)."""
        keys = np.asarray(keys, dtype=np.int64)
        values = np.broadcast_to(np.asarray(values, dtype=np.float64), keys.shape)
        rows = self._index.find(keys)
        new = rows < 0
        if new.any():
            held = self._index.size
            self._index.add_missing(keys[new])
            self._values = with_room(self._values, held, self._index.size)
            rows = self._index.find(keys)
        self._values[rows] = values
