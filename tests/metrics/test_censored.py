"""Latency statistics over delivered and undelivered (update, replica) pairs."""

import numpy as np

from ekkosim.metrics.censored import latency_stats


def test_without_undelivered_pairs_the_statistics_are_the_plain_ones():
    delivered = np.array([0.4, 0.1, 0.3, 0.2])
    stats = latency_stats(delivered, np.zeros(0))
    assert stats == {"count": 4, "mean": 0.25, "p50": 0.25, "p90": np.percentile(delivered, 90),
                     "p99": np.percentile(delivered, 99), "max": 0.4, "undelivered": 0, "undelivered_after_s": None,
                     "mean_censored": False, "p50_censored": False, "p90_censored": False, "p99_censored": False,
                     "max_censored": False}


def test_a_percentile_that_falls_among_the_undelivered_is_censored_the_others_are_exact():
    # 9 delivered, 1 undelivered after 7 s: ranks 0..8 delivered, rank 9 undelivered. p50 sits at
    # rank 4.5 (both neighbours delivered: 0.55 exactly, as if the undelivered one were known),
    # p90 at 8.1 and p99 at 8.91, both leaning on rank 9: undetermined
    delivered = np.arange(1, 10) / 10
    stats = latency_stats(delivered, np.array([7.0]))
    assert stats["count"] == 9 and stats["undelivered"] == 1 and stats["undelivered_after_s"] == 7.0
    assert stats["p50"] == np.percentile(np.append(delivered, 1e9), 50) == 0.55
    assert not stats["p50_censored"]
    for field in ("mean", "p90", "p99", "max"):
        assert stats[field] is None and stats[f"{field}_censored"], field


def test_the_shortest_wait_bounds_every_undelivered_pair():
    stats = latency_stats(np.array([0.1]), np.array([3.0, 2.5, 9.0]))
    assert stats["undelivered"] == 3 and stats["undelivered_after_s"] == 2.5
    assert stats["p50"] is None and stats["p50_censored"]


def test_a_scope_that_got_nothing_is_wholly_censored_and_one_with_no_pair_at_all_is_empty():
    nothing = latency_stats(np.zeros(0), np.array([4.0, 5.0]))
    assert nothing["count"] == 0 and nothing["undelivered"] == 2
    assert all(nothing[f] is None and nothing[f"{f}_censored"] for f in ("mean", "p50", "p90", "p99", "max"))
    empty = latency_stats(np.zeros(0), np.zeros(0))
    assert empty["count"] == 0 and empty["undelivered"] == 0
    assert all(empty[f] is None and not empty[f"{f}_censored"] for f in ("mean", "p50", "p90", "p99", "max"))
