"""The high/low split at a running percentile of past priorities."""

import math

import numpy as np
import pytest

from ekkosim.scheduler.priority import Features, PriorityClassifier, ekko_priority
from ekkosim.scheduler.quantile import P2Quantile
from ekkosim.scheduler.sampler import MagnitudeSampler


def test_first_batch_is_all_high():
    classifier = PriorityClassifier(top_percent=10)
    assert math.isnan(classifier.threshold)
    assert classifier.classify(np.array([0.1, 5.0, 0.0])).tolist() == [True, True, True]


def test_a_batch_is_judged_by_earlier_batches_only():
    classifier = PriorityClassifier(top_percent=10)
    classifier.classify(np.array([1.0, 2.0, 3.0, 4.0]))
    assert classifier.threshold == pytest.approx(3.7)  # exact 0.9-quantile of 1..4 (under 5 seen)
    assert classifier.classify(np.array([3.5, 3.8, 4.0])).tolist() == [False, True, True]
    # large priorities are all high: they are compared with the history, not with each other
    classifier = PriorityClassifier(top_percent=10)
    classifier.classify(np.array([1.0, 2.0]))
    assert classifier.classify(np.array([100.0, 200.0, 300.0])).all()


def test_equal_to_the_threshold_is_low():
    classifier = PriorityClassifier(top_percent=50)
    classifier.classify(np.array([2.0]))
    assert classifier.classify(np.array([2.0, 2.5])).tolist() == [False, True]


def test_estimator_is_fed_every_mth_priority_from_the_middle_of_the_first_stride():
    classifier = PriorityClassifier(top_percent=50, max_feed=2)
    classifier.classify(np.arange(6.0))  # stride 3 from index 1: feeds 1 and 4
    assert classifier.threshold == 2.5


@pytest.mark.parametrize(("size", "stride"), [(256, 1), (257, 2), (1_000, 4), (1_024, 4), (1_025, 5)])
def test_at_most_max_feed_priorities_per_batch(size, stride):
    batches = np.random.default_rng(size).lognormal(size=(3, size))
    classifier, expected = PriorityClassifier(top_percent=10, max_feed=256), P2Quantile(0.9)
    for batch in batches:
        classifier.classify(batch)
        fed = batch[stride // 2 :: stride]
        assert fed.size <= 256
        expected.add_many(fed)
    assert classifier.threshold == expected.value


@pytest.mark.parametrize(("top_percent", "points"), [(1, 0.2), (10, 1.0), (30, 2.0)])
def test_share_of_high_priority_approaches_top_percent(top_percent, points):
    # a stationary stream like the synthetic workload's: lognormal magnitudes, 1% new keys,
    # batches of varying size, the mean from a sampler
    rng = np.random.default_rng(11)
    sampler = MagnitudeSampler(np.random.default_rng(12), sample_rate=0.01, window=4096)
    classifier = PriorityClassifier(top_percent)
    high = total = 0
    for i in range(300):
        n = int(rng.poisson(2_000))
        batch = Features(rng.lognormal(size=n), rng.random(n) < 0.01, sampler.mean, 0.7, "m", 0.1 * i)
        sampler.observe(batch.magnitude)
        is_high = classifier.classify(ekko_priority(batch, new_key_priority=10.0))
        if i >= 30:  # past the warm-up
            high += int(is_high.sum())
            total += n
    assert abs(100 * high / total - top_percent) < points


@pytest.mark.parametrize("top_percent", [0, 100, -1])
def test_top_percent_must_be_inside_0_100(top_percent):
    with pytest.raises(ValueError, match="top_percent"):
        PriorityClassifier(top_percent)
