"""Per-key values stored only for the keys written: against a dense array, and their memory."""

import tracemalloc

import numpy as np
import pytest

from ekkosim.ps.key_values import KEY_BYTES, KeyValues


def base(keys: np.ndarray) -> np.ndarray:
    """A base value that differs per key (and is no plain copy of the key)."""
    return np.sin(np.asarray(keys, dtype=np.float64)) * 3.0 - 1.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_values_equal_a_dense_array_under_random_writes(seed):
    rng = np.random.default_rng(seed)
    n = 50_000
    dense, sparse = base(np.arange(n)), KeyValues(base)
    for size in [0, 1, 5, 300, 2_000, 7_000, 1, 4_000]:  # the index starts at 1,024 slots: grows
        keys = rng.integers(0, n, size)  # repeats within a batch: the last value wins in both
        values = rng.normal(size=size)
        dense[keys] = values
        sparse.set(keys, values)
        asked = rng.integers(0, n, 3_000)
        assert np.array_equal(sparse.get(asked), dense[asked])
    assert np.array_equal(sparse.get(np.arange(n)), dense)
    assert len(sparse) == np.count_nonzero(dense != base(np.arange(n))) <= 14_306


def test_keys_never_written_hold_their_base_and_asking_stores_nothing():
    values = KeyValues(base)
    far = np.array([3, 2**40, 10**12, 3], dtype=np.int64)  # a key space of 10^12: nothing dense
    assert np.array_equal(values.get(far), base(far))
    assert len(values) == 0
    values.set(np.array([2**40]), np.array([7.5]))
    assert values.get(far).tolist() == [base(far[:1])[0], 7.5, base(far[2:3])[0], base(far[:1])[0]]
    assert len(values) == 1
    assert values.get(np.zeros(0, dtype=np.int64)).size == 0


def test_a_scalar_value_is_given_to_every_key():
    values = KeyValues(np.zeros_like)
    values.set(np.array([4, 9]), 2.0)
    assert values.get(np.arange(10)).tolist() == [0, 0, 0, 0, 2, 0, 0, 0, 0, 2]


def test_a_written_key_costs_at_most_its_stated_bytes():
    """The arrays of 2^19 + 1 written keys, as NumPy reports them to tracemalloc: at most
    KEY_BYTES a key (the footprint estimate counts that much). One key more than 2^19
    is the worst case: the index has just doubled to 2^21 slots, four per key."""
    rng = np.random.default_rng(5)
    keys = rng.integers(0, 4 * 10**8, 2**19 + 2**12)  # scattered over 4 x 10^8 keys, as a large model's are
    keys = rng.permutation(np.unique(keys))[: 2**19 + 1]
    KeyValues(base).set(keys[:1], 1.0)  # Numba and the compiled probes loaded before measuring
    tracemalloc.start()
    try:
        values = KeyValues(base)
        for batch in np.array_split(keys, 100):
            values.set(batch, 1.0)
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(values) == keys.size
    assert 30 <= held / keys.size <= KEY_BYTES
