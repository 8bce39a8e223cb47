"""Progressive filling compiled by Numba (`ekkosim.compiled`; loaded by `ekkosim.net.kernels`): the
weighted max-min rates of flows given in CSR form, bitwise those of the NumPy reference
(`maxmin._allocate_numpy`), at a cost per bottleneck level of the links the flows cross.

Every float that decides a rate comes from the same IEEE operations in the same order as in
the reference: per freeze batch, the rates (and weights) leaving a link are summed from 0.0 in
batch order (as ``np.bincount`` sums them) and the sum is subtracted once; a link no batch
touches keeps its values and its level. Where the reference's results could differ from these
loops' (a weight sum or a rate that is not finite, a weight sum left at or below 0 by
rounding), the kernel says so and the caller takes the reference.
"""

from __future__ import annotations

import numpy as np

from ekkosim.compiled import array, compiled


@compiled(array(np.float64), array(np.int64), array(np.int64), array(np.float64), array(np.float64))
def fill(capacity: np.ndarray, lengths: np.ndarray, indices: np.ndarray, weights: np.ndarray,
         bounds: np.ndarray) -> tuple[np.ndarray, bool]:
    """(rates, True), or (anything, False) where the NumPy reference must decide. Flow f
    crosses the `lengths[f]` links that follow the previous flows' in `indices`. Empty
    `weights`: all 1; empty `bounds`: none."""
    inf = np.inf
    n_flows = lengths.size
    indptr = np.zeros(n_flows + 1, dtype=np.int64)
    for f in range(n_flows):
        indptr[f + 1] = indptr[f] + lengths[f]
    unit_weights, bounded = weights.size == 0, bounds.size > 0
    if unit_weights:
        weights = np.ones(n_flows)
    # the links the flows cross, numbered locally in ascending order (a link's floats depend on
    # its flows only, so the numbering changes none)
    by_link = np.argsort(indices)
    route = np.empty(indices.size, dtype=np.int64)
    n_links = 0
    for i in range(indices.size):
        if i == 0 or indices[by_link[i]] != indices[by_link[i - 1]]:
            n_links += 1
        route[by_link[i]] = n_links - 1
    remaining = np.empty(n_links)
    for e in range(indices.size):
        remaining[route[e]] = capacity[indices[e]]
    count = np.zeros(n_links, dtype=np.int64)  # unfrozen crossings
    weight_sum = np.zeros(n_links)
    for f in range(n_flows):
        for e in range(indptr[f], indptr[f + 1]):
            count[route[e]] += 1
            weight_sum[route[e]] += weights[f]
    level = np.empty(n_links)  # at which each link still crossed by an unfrozen flow saturates
    for link in range(n_links):
        x = remaining[link] if remaining[link] > 0.0 else 0.0
        if unit_weights:
            level[link] = x / count[link]
        else:
            if not weight_sum[link] < inf:
                return np.zeros(n_flows), False
            level[link] = x / weight_sum[link]

    rates = np.zeros(n_flows)
    frozen = np.zeros(n_flows, dtype=np.bool_)
    by_bound = np.arange(n_flows)
    sorted_bound_level = np.zeros(0)
    if bounded:
        bound_level = bounds.copy() if unit_weights else bounds / weights
        by_bound = np.argsort(bound_level, kind="mergesort")  # stable
        sorted_bound_level = bound_level[by_bound]
    next_bound = 0
    batch = np.empty(n_flows, dtype=np.int64)
    batch_count = np.zeros(n_links, dtype=np.int64)
    batch_rate = np.zeros(n_links)
    batch_weight = np.zeros(n_links)
    saturated = np.zeros(n_links, dtype=np.bool_)

    while True:
        lowest = inf
        for link in range(n_links):
            if count[link] > 0 and level[link] < lowest:
                lowest = level[link]
        if lowest == inf:
            # Nothing finite limits the flows left: each runs at its bound, or infinitely fast.
            for f in range(n_flows):
                if not frozen[f]:
                    rates[f] = bounds[f] if bounded else inf
            return rates, True
        # This round freezes the unfrozen flows whose bound is at or below the level, at their
        # bounds, or else those crossing a saturated link (ascending), at the level times
        # their weights.
        n_batch = 0
        if bounded:
            stop = np.searchsorted(sorted_bound_level, lowest, side="right")
            for i in range(next_bound, stop):
                if not frozen[by_bound[i]]:
                    batch[n_batch] = by_bound[i]
                    n_batch += 1
            next_bound = stop
        if n_batch:
            for i in range(n_batch):
                rates[batch[i]] = bounds[batch[i]]
        else:
            for link in range(n_links):
                saturated[link] = count[link] > 0 and level[link] == lowest
            for f in range(n_flows):
                if frozen[f]:
                    continue
                for e in range(indptr[f], indptr[f + 1]):
                    if saturated[route[e]]:
                        batch[n_batch] = f
                        n_batch += 1
                        rates[f] = lowest if unit_weights else weights[f] * lowest
                        break
        # Freeze them: take their rates (and weights) off every link they cross.
        for i in range(n_batch):
            f = batch[i]
            frozen[f] = True
            for e in range(indptr[f], indptr[f + 1]):
                link = route[e]
                batch_count[link] += 1
                batch_rate[link] += rates[f]
                batch_weight[link] += weights[f]
        for i in range(n_batch):
            for e in range(indptr[batch[i]], indptr[batch[i] + 1]):
                link = route[e]
                k = batch_count[link]
                if k == 0:
                    continue  # done: a flow crossing it earlier in the batch
                if batch_rate[link] == inf:
                    return rates, False
                x = remaining[link] - batch_rate[link]
                remaining[link] = x
                c = count[link] - k
                count[link] = c
                ws = weight_sum[link] - batch_weight[link]
                weight_sum[link] = ws
                if c:
                    x = x if x > 0.0 else 0.0
                    if unit_weights:
                        level[link] = x / c
                    else:
                        if not (0.0 < ws < inf):
                            return rates, False
                        level[link] = x / ws
                batch_count[link] = 0
                batch_rate[link] = 0.0
                batch_weight[link] = 0.0
