"""The array helpers: exact results against the plain NumPy they stand for."""

import numpy as np

from ekkosim.arrays import GROWTH, SMALL, distinct, present, ranges, with_room


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


def test_with_room_keeps_the_used_elements_doubles_a_small_array_and_grows_a_large_one_by_a_quarter():
    array = np.arange(20, dtype=np.int32)
    assert with_room(array, 10, 20) is array  # room enough: the array itself
    grown = with_room(array, 10, 40)
    assert grown.dtype == np.int32 and grown.size == 80  # a small array doubles what it needs
    assert grown[:10].tolist() == list(range(10)) and not grown[10:].any()
    large = with_room(grown, 80, SMALL)
    assert large.size == SMALL * GROWTH and large[:10].tolist() == list(range(10)) and not large[10:].any()
    assert with_room(np.zeros(0), 0, 1).size == 16  # never less than 16
