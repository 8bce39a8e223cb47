"""Versions and knowledge on tiny hand-made arrays."""

import numpy as np

from ekkosim.ps import knowledge as kn
from ekkosim.ps.version import newer


def test_newest_time_wins_then_origin_then_counter():
    t = np.array([2.0, 1.0, 1.0, 1.0, 1.0])
    o = np.array([0, 1, 0, 0, 0])
    c = np.array([1, 1, 5, 3, 0])
    # each against version (time 1.0, origin 0, counter 3)
    assert newer(t, o, c, 1.0, 0, 3).tolist() == [True, True, True, False, False]


def test_no_version_is_older_than_any_version():
    assert newer(0.0, 0, 1, 0.0, 0, 0)
    assert not newer(0.0, 0, 0, 0.0, 0, 1)


def test_contains_and_union():
    k = np.array([5, 2])
    assert kn.contains(k, np.array([0, 0, 1, 1, 0]), np.array([5, 6, 2, 3, 0])).tolist() == [True, False, True, False, True]
    assert kn.union(k, np.array([3, 7])).tolist() == [5, 7]
    assert kn.covers(k, np.array([5, 2])) and not kn.covers(k, np.array([6, 0]))
