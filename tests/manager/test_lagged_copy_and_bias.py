"""The baseline's and witness's lagged copy, and biased updates, on tiny arrays."""

import numpy as np
import pytest

from ekkosim.manager.baseline import LaggedCopy
from ekkosim.quality.bias import Bias
from ekkosim.schema import BiasedUpdates


def values(copy: LaggedCopy, n: int) -> list[float]:
    """The copy's values of keys 0 .. n - 1 (keys never written hold 0, the start given)."""
    return copy.value.get(np.arange(n)).tolist()


def test_a_lagged_copy_holds_the_published_model_delay_ago():
    copy = LaggedCopy(np.zeros_like, delay_s=2.0)
    copy.record(np.array([1]), np.array([1.0]), 1.0)
    copy.record(np.array([1, 2]), np.array([2.0, 5.0]), 2.5)
    copy.advance(2.9)
    assert values(copy, 4) == [0, 0, 0, 0]
    copy.advance(3.0)  # the write of t = 1 is 2 s old
    assert values(copy, 4) == [0, 1, 0, 0]
    copy.advance(10.0)
    assert values(copy, 4) == [0, 2, 5, 0]
    assert copy.unapplied_keys().size == 0


def test_a_frozen_copy_keeps_its_state_and_the_writes_wait_in_order():
    copy = LaggedCopy(np.zeros_like, delay_s=1.0)
    copy.record(np.array([0]), np.array([1.0]), 0.5)
    copy.frozen = True
    copy.record(np.array([0, 2]), np.array([7.0, 7.0]), 0.6)
    copy.advance(5.0)
    assert values(copy, 3) == [0, 0, 0]
    assert copy.unapplied_keys().tolist() == [0, 2]
    copy.frozen = False
    copy.advance(5.0)
    assert values(copy, 3) == [7, 0, 7]


def test_a_rollback_discards_what_it_undid():
    witness, baseline = LaggedCopy(np.zeros_like, 1.0), LaggedCopy(np.zeros_like, 4.0)
    for copy in (witness, baseline):
        copy.record(np.array([0]), np.array([1.0]), 1.0)  # healthy
        copy.record(np.array([1]), np.array([9.0]), 3.0)  # damaged
    witness.advance(2.5)
    witness.frozen = True
    assert witness.state_time_s == 1.5
    baseline.discard_after(witness.state_time_s)
    witness.discard_pending(3.2)
    assert witness.state_time_s == 3.2 and witness.unapplied_keys().size == 0
    baseline.advance(20.0)
    assert values(baseline, 3) == [1, 0, 0]  # the damage never reaches the baseline


def test_biased_values_move_away_from_the_truth_only_during_a_burst():
    burst = BiasedUpdates(model="m", start="10s", end="20s", strength=2.0, share=1.0)
    bias = Bias([burst], np.random.default_rng(0))
    keys, clean, truth = np.arange(3), np.array([0.0, 1.0, -1.0]), np.array([0.5, 0.5, -1.0])
    assert bias.apply(keys, clean, truth, 9.9) is clean
    assert bias.apply(keys, clean, truth, 10.0).tolist() == [-2.0, 3.0, 1.0]
    assert bias.apply(keys, clean, truth, 20.0) is clean
    assert sorted(bias.touched.keys.tolist()) == [0, 1, 2]
    bias.apply(keys, clean, truth, 11.0)  # the same keys again: held once
    assert bias.touched.size == 3


def test_a_burst_biases_its_share_of_keys():
    bias = Bias([BiasedUpdates(model="m", start=0, end="1s", share=0.25)], np.random.default_rng(1))
    published = bias.apply(np.arange(40_000), np.zeros(40_000), np.zeros(40_000), 0.5)
    assert np.mean(published != 0) == pytest.approx(0.25, abs=0.01)


def test_a_burst_must_end_after_it_starts():
    with pytest.raises(ValueError, match="must be after"):
        BiasedUpdates(model="m", start="5s", end="5s")
