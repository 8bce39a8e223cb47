"""The synthetic workload: bounded-Zipf popularity, Poisson counts, new keys, drift, merging, memory."""

import math
import tracemalloc

import numpy as np
import pytest

from ekkosim.schema import Model
from ekkosim.workload import BoundedZipf, SyntheticWorkload, UpdateBatch, spread_multiplier


def make_model(keys: int, **workload) -> Model:
    return Model(name="m", keys=keys, workload=workload)


def exact_zipf(n: int, s: float) -> np.ndarray:
    weights = np.arange(1, n + 1, dtype=np.float64) ** -s
    return weights / weights.sum()


def run(workload: SyntheticWorkload, step: float, batches: int, start: float = 0.0) -> list[UpdateBatch]:
    return [workload.batch(start + i * step, start + (i + 1) * step) for i in range(batches)]


# --- bounded Zipf ------------------------------------------------------------------------------


@pytest.mark.parametrize("s", [0.0, 0.5, 0.8, 1.0 - 1e-9, 1.0, 1.0 + 1e-9, 1.2, 2.0, 5.0])
@pytest.mark.parametrize("n", [1, 7, 1024, 1025, 200_000])
def test_sampler_pmf_is_the_bounded_zipf_within_its_stated_error(n, s):
    ranks = np.arange(1, n + 1)
    pmf = BoundedZipf(s).pmf(n, ranks)
    assert pmf.sum() == pytest.approx(1.0, abs=1e-12)
    # The tail's midpoint rule is off by about s(s + 1) / (24 r^2) per rank; r > 1024 in the tail.
    assert np.max(np.abs(pmf / exact_zipf(n, s) - 1)) < 1.3e-6


@pytest.mark.parametrize("s", [0.0, 0.8, 1.0, 1.2])
def test_empirical_rank_frequencies_match_the_exact_pmf(s):
    n, draws = 5000, 400_000
    ranks = BoundedZipf(s).sample(np.random.default_rng(11), n, draws)
    assert ranks.dtype == np.int64 and ranks.min() >= 1 and ranks.max() <= n
    expected = exact_zipf(n, s)
    # The top ranks one by one, then bins over the head and the continuous tail.
    cells = [np.array([r]) for r in range(1, 11)] + [
        np.arange(11, 101), np.arange(101, 1025), np.arange(1025, 2001), np.arange(2001, n + 1)
    ]
    for cell in cells:
        p = expected[cell - 1].sum()
        observed = np.isin(ranks, cell).mean()
        assert abs(observed - p) < 4 * math.sqrt(p * (1 - p) / draws), (s, cell[0], observed, p)


def test_uniform_popularity_is_exact():
    zipf = BoundedZipf(0.0)
    assert np.all(zipf.pmf(7, np.arange(1, 8)) == 1 / 7)
    ranks = zipf.sample(np.random.default_rng(2), 7, 70_000)
    assert np.array_equal(np.unique(ranks), np.arange(1, 8))
    counts = np.bincount(ranks, minlength=8)[1:]
    assert np.all(np.abs(counts - 10_000) < 4 * math.sqrt(70_000 * (1 / 7) * (6 / 7)))


def test_exponent_near_one_is_continuous():
    ranks = np.array([1, 2, 1024, 1025, 10**6, 10**9])
    at_one = BoundedZipf(1.0).pmf(10**9, ranks)
    for s in (1.0 - 1e-12, 1.0 + 1e-12):
        assert BoundedZipf(s).pmf(10**9, ranks) == pytest.approx(at_one, rel=1e-9)


# --- the rank-to-key map ----------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 10, 64, 1000, 999_983, 10**12])
def test_spread_multiplier_is_coprime_and_near_the_golden_ratio(n):
    a = spread_multiplier(n)
    assert 1 <= a and (a < n or n <= 2)
    assert math.gcd(a, n) == 1
    assert n <= 2 or abs(a - 0.6180339887498949 * n) < 20


def test_ranks_map_to_keys_by_a_bijection_with_created_keys_last():
    workload = SyntheticWorkload(make_model(200, initial_keys=0.5, new_keys=1.0, rate=1000), np.random.default_rng(0))
    workload.batch(0.0, 0.05)  # creates about 50 keys
    n0, existing = workload.initial_keys, workload.existing_keys
    assert n0 == 100 and existing > n0
    keys = workload.keys_of_ranks(np.arange(1, existing + 1), t=0.0)
    assert np.array_equal(np.sort(keys[:n0]), np.arange(n0))
    assert np.array_equal(keys[n0:], np.arange(n0, existing))
    a = spread_multiplier(n0)
    assert np.array_equal(keys[:n0], (a * np.arange(n0)) % n0)


def test_map_of_a_huge_key_space_does_not_overflow():
    workload = SyntheticWorkload(make_model(10**12, initial_keys=1.0, hot_drift=7.0), np.random.default_rng(0))
    ranks = np.array([1, 2, 3, 10**6, 10**12 - 1, 10**12])
    a, shift = spread_multiplier(10**12), math.floor(7.0 * 123.4)
    expected = [a * ((int(r) - 1 - shift) % 10**12) % 10**12 for r in ranks]
    assert workload.keys_of_ranks(ranks, t=123.4).tolist() == expected


def test_hot_keys_are_spread_over_shards():
    workload = SyntheticWorkload(make_model(10**6, initial_keys=1.0), np.random.default_rng(0))
    shards = workload.keys_of_ranks(np.arange(1, 641), t=0.0) % 64
    assert np.bincount(shards, minlength=64).min() >= 5  # 10 on average


def test_drift_moves_every_key_down_the_ranks_by_hot_drift_times_t():
    model = make_model(1000, initial_keys=1.0, hot_drift=3.5)
    workload = SyntheticWorkload(model, np.random.default_rng(0))
    ranks = np.arange(1, 1001)
    at_zero = workload.keys_of_ranks(ranks, t=0.0)
    assert at_zero[0] == 0
    for t in (1.0, 10.0, 400.0):
        # The key of rank r at time 0 holds rank r + floor(3.5 t) at time t (wrapping to the top).
        assert np.array_equal(workload.keys_of_ranks(ranks, t), np.roll(at_zero, math.floor(3.5 * t)))
    # One step cools the hot set by one rank: the top 100 lose one key and gain one.
    before, after = (set(workload.keys_of_ranks(ranks[:100], t).tolist()) for t in (10.0, 10.0 + 1 / 3.5))
    assert len(before & after) == 99
    # In batches: with s = 5 rank 1 takes 96% of the updates; the hottest key follows the drift.
    hot = SyntheticWorkload(make_model(1000, initial_keys=1.0, hot_drift=3.5, zipf=5.0), np.random.default_rng(1))
    for t0 in (0.0, 10.0, 400.0):
        batch = hot.batch(t0, t0 + 0.1)
        assert batch.keys[np.argmax(batch.magnitudes)] == at_zero[-math.floor(3.5 * t0) % 1000]


# --- batches ----------------------------------------------------------------------------------


def test_update_counts_are_poisson():
    # With sigma = 0 every magnitude is 1, so a batch's summed magnitude counts its updates.
    workload = SyntheticWorkload(make_model(10**6, rate=1000, magnitude_sigma=0.0), np.random.default_rng(5))
    counts = np.array([b.magnitudes.sum() for b in run(workload, 0.05, 400)])
    assert np.all(counts == np.round(counts))
    assert abs(counts.mean() - 50) < 4 * math.sqrt(50 / 400)
    assert counts.var(ddof=1) == pytest.approx(50, rel=0.25)


def test_magnitudes_are_lognormal_with_median_one():
    workload = SyntheticWorkload(make_model(10**12, zipf=0.0, rate=20_000, magnitude_sigma=1.0), np.random.default_rng(3))
    magnitudes = workload.batch(0.0, 1.0).magnitudes  # 10^12 keys: no two updates share one
    assert np.all(magnitudes > 0)
    assert abs(np.mean(np.log(magnitudes))) < 4 / math.sqrt(len(magnitudes))
    assert np.std(np.log(magnitudes)) == pytest.approx(1.0, rel=0.03)


def test_new_keys_are_consecutive_from_the_initial_count():
    model = make_model(10_000, initial_keys=0.1, new_keys=0.3, rate=2000)
    workload = SyntheticWorkload(model, np.random.default_rng(4))
    assert workload.initial_keys == 1000
    next_id = 1000
    for i in range(20):
        batch = workload.batch(0.1 * i, 0.1 * (i + 1))
        created = batch.keys[batch.is_new]
        assert np.array_equal(created, np.arange(next_id, next_id + len(created)))
        assert np.all(batch.keys[~batch.is_new] < next_id)  # popularity only hits older keys
        next_id += len(created)
        assert workload.existing_keys == next_id
    assert next_id - 1000 == pytest.approx(0.3 * 2000 * 2, rel=0.1)


def test_all_updates_new_then_the_space_is_full():
    model = make_model(120, initial_keys=0.5, new_keys=1.0, rate=400, magnitude_sigma=0.0)
    workload = SyntheticWorkload(model, np.random.default_rng(6))
    first = workload.batch(0.0, 0.05)  # about 20 updates, all creating keys
    assert np.array_equal(first.keys, np.arange(60, 60 + len(first)))
    assert first.is_new.all() and np.all(first.magnitudes == 1.0)
    batches = run(workload, 0.05, 20, start=0.05)
    assert workload.existing_keys == 120
    created = np.concatenate([first.keys[first.is_new]] + [b.keys[b.is_new] for b in batches])
    assert np.array_equal(created, np.arange(60, 120))
    late = workload.batch(2.0, 2.5)  # full: every update hits an existing key
    assert len(late) > 0 and not late.is_new.any() and late.keys.max() < 120


def test_initial_share_is_taken_as_written():
    assert SyntheticWorkload(make_model(100, initial_keys=0.29), np.random.default_rng(0)).initial_keys == 29
    assert SyntheticWorkload(make_model(10, initial_keys=1e-6), np.random.default_rng(0)).initial_keys == 1


def test_duplicates_are_merged():
    batch = UpdateBatch.merge(
        np.array([5, 3, 5, 3, 9]), np.array([1.0, 2.0, 3.0, 4.0, 5.0]), np.array([False, False, True, False, False])
    )
    assert batch.keys.tolist() == [3, 5, 9]
    assert batch.magnitudes.tolist() == [6.0, 4.0, 5.0]
    assert batch.is_new.tolist() == [False, True, False]
    assert batch.examples.tolist() == [2, 2, 1]
    # Three keys, 1000 updates of magnitude 1: merged counts, which the examples count too.
    workload = SyntheticWorkload(make_model(3, initial_keys=1.0, rate=1000, magnitude_sigma=0.0), np.random.default_rng(0))
    merged = workload.batch(0.0, 1.0)
    assert merged.keys.tolist() == [0, 1, 2]
    assert merged.magnitudes.sum() == pytest.approx(1000, abs=4 * math.sqrt(1000))
    assert np.array_equal(merged.examples, merged.magnitudes.astype(np.int64))


def test_same_seed_same_batches_other_seed_other_batches():
    model = make_model(10**6, new_keys=0.05, hot_drift=100.0)

    def batches(seed):
        return run(SyntheticWorkload(model, np.random.default_rng(seed)), 0.1, 5)

    for a, b in zip(batches(7), batches(7)):
        assert np.array_equal(a.keys, b.keys)
        assert np.array_equal(a.magnitudes, b.magnitudes)
        assert np.array_equal(a.is_new, b.is_new)
    assert not np.array_equal(batches(7)[0].keys, batches(8)[0].keys)


@pytest.mark.parametrize("keys", [10**9, 10**12])
def test_memory_follows_the_updates_not_the_keys(keys):
    tracemalloc.start()
    try:
        workload = SyntheticWorkload(make_model(keys, rate=10_000), np.random.default_rng(0))
        batches = run(workload, 0.5, 4)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert sum(map(len, batches)) > 10_000
    assert peak < 4_000_000  # one int64 per key would be 8 GB


def test_batch_intervals_must_move_forward():
    workload = SyntheticWorkload(make_model(100), np.random.default_rng(0))
    assert len(workload.batch(1.0, 1.0)) == 0
    workload.batch(1.0, 2.0)
    with pytest.raises(ValueError, match="overlaps"):
        workload.batch(1.5, 3.0)
    with pytest.raises(ValueError, match="reversed"):
        workload.batch(4.0, 3.0)
    assert len(workload.batch(5.0, 5.0)) == 0  # a gap is allowed


def test_update_batch_checks_its_invariants():
    empty = UpdateBatch.empty()
    assert len(empty) == 0 and empty.keys.dtype == np.int64
    mags, new, examples = np.ones(2), np.zeros(2, dtype=bool), np.ones(2, dtype=np.int64)
    with pytest.raises(ValueError, match="ascending"):
        UpdateBatch(np.array([2, 1]), mags, new, examples)
    with pytest.raises(ValueError, match="int64"):
        UpdateBatch(np.array([1.0, 2.0]), mags, new, examples)
    with pytest.raises(ValueError, match="entries"):
        UpdateBatch(np.array([1, 2]), np.ones(3), new, examples)
    with pytest.raises(ValueError, match=">= 0"):
        UpdateBatch(np.array([1, 2]), np.array([1.0, -1.0]), new, examples)
    with pytest.raises(ValueError, match=">= 1"):
        UpdateBatch(np.array([1, 2]), mags, new, np.array([1, 0]))
    keys = np.array([1, 2])
    batch = UpdateBatch(keys, mags, new, examples)
    with pytest.raises(ValueError):
        batch.keys[0] = 0
    keys[0] = 0  # the caller's array stays writable
