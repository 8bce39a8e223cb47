"""Ekko's priority formula and the features it reads."""

import math

import numpy as np
import pytest

from ekkosim.scheduler.priority import Features, ekko_priority


def features(mean_magnitude: float) -> Features:
    return Features(
        magnitude=np.array([0.5, 1.0, 3.0]),
        is_new=np.array([False, True, False]),
        mean_magnitude=mean_magnitude,
        traffic_share=0.25,
        model="ranking",
        time_s=12.0,
    )


def test_priority_is_significance_plus_freshness_times_importance():
    # p_g = [0.25, 0.5, 1.5], p_u = [0, 10, 0], p_m = 0.25
    assert ekko_priority(features(2.0), new_key_priority=10.0).tolist() == [0.0625, 2.625, 0.375]


@pytest.mark.parametrize("mean", [math.nan, 0.0])
def test_significance_is_one_while_the_mean_is_unknown(mean):
    assert ekko_priority(features(mean), new_key_priority=10.0).tolist() == [0.25, 2.75, 0.25]


def test_empty_batch_has_no_priorities():
    empty = Features(np.empty(0), np.empty(0, dtype=bool), 1.0, 1.0, "m", 0.0)
    assert ekko_priority(empty, 10.0).shape == (0,)


def test_features_are_read_only_views():
    magnitude = np.array([1.0, 2.0])
    batch = Features(magnitude, np.array([False, False]), 1.0, 1.0, "m", 0.0)
    with pytest.raises(ValueError):
        batch.magnitude[0] = 5.0
    magnitude[0] = 5.0  # the owner's array stays writable
    assert batch.magnitude[0] == 5.0


@pytest.mark.parametrize(
    ("magnitude", "is_new", "message"),
    [
        (np.array([1, 2]), np.array([False, True]), "magnitude must be a 1-D float64"),
        (np.array([1.0, 2.0]), np.array([0, 1]), "is_new must be a 1-D bool"),
        (np.array([1.0, 2.0]), np.array([False]), "is_new has 1 entries, magnitude has 2"),
    ],
)
def test_features_check_their_arrays(magnitude, is_new, message):
    with pytest.raises(ValueError, match=message):
        Features(magnitude, is_new, 1.0, 1.0, "m", 0.0)
