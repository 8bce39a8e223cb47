"""The array helpers: exact results against the plain NumPy they stand for."""

import numpy as np

from ekkosim.arrays import distinct, present, ranges


def test_ranges_concatenates_each_start_s_run_of_its_length():
    starts, lengths = np.array([3, 10, 0, 7]), np.array([2, 0, 3, 1])
    assert ranges(starts, lengths).tolist() == [3, 4, 0, 1, 2, 7]
    assert ranges(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)).size == 0


def test_ranges_is_the_loop_it_replaces():
    rng = np.random.default_rng(5)
    starts, lengths = rng.integers(0, 1000, 200), rng.integers(0, 6, 200)
    expected = np.concatenate([np.arange(s, s + n) for s, n in zip(starts, lengths)])
    assert ranges(starts, lengths).tolist() == expected.tolist()


def test_distinct_and_present_are_unique():
    values = np.array([5, 1, 5, 3, 1, 0])
    assert distinct(values).tolist() == np.unique(values).tolist()
    assert present(values, 7).tolist() == np.unique(values).tolist()
