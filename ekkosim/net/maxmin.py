"""Weighted max-min fair bandwidth allocation (progressive filling), without SimPy.

This is the sharing model of SimGrid's flow-level networks (its LMM solver): every flow i has a
weight w_i > 0 and an optional rate bound; all unfrozen flows grow at rates w_i * level as one
common level rises; a link whose capacity is used up freezes the flows crossing it, and a flow
that reaches its bound freezes there, releasing the rest of its links' capacity to the others.
SimGrid states weights as penalties p_i = 1 / w_i (rate = level / penalty).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from itertools import chain

import numpy as np

from ekkosim.arrays import distinct

__all__ = ["allocate"]

# Inputs with at most this many route entries are allocated in pure Python (_allocate_py):
# for the few dozen flows of a typical recomputation, per-call NumPy overhead dominates.
_PY_MAX_NNZ = 1024
_INF = math.inf


class _Fallback(Exception):
    """The pure-Python path met a case whose NumPy semantics it does not reproduce (a weight
    sum left <= 0 or non-finite by rounding, a sum of rates overflowing to inf)."""


def _gather_ranges(starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(starts[j], stops[j])`` over j, without a Python loop."""
    lengths = stops - starts
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.intp)
    offsets = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    return offsets + np.arange(total, dtype=np.intp)


def allocate(
    capacity: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    weights: np.ndarray | None = None,
    bounds: np.ndarray | None = None,
) -> np.ndarray:
    """Return the weighted max-min fair rate of every flow.

    Args:
        capacity: capacity of each link (>= 0; ``inf`` never constrains; 0 gives rate 0 to
            every flow crossing it).
        indptr, indices: the flows' routes in CSR form: flow i crosses links
            ``indices[indptr[i]:indptr[i + 1]]``. A link listed twice in a route is crossed
            twice and consumes the flow's rate twice. An empty route never constrains.
        weights: per-flow weight, > 0 and finite (default 1). On a link that limits them,
            flows get rates proportional to their weights.
        bounds: per-flow upper bound on the rate, >= 0 (default ``inf``).

    Returns:
        Rates (float64, one per flow). A flow meets no finite limit only if every link on its
        route is unlimited and it has no bound; its rate is then ``inf``.

    Cost: O(nnz log nnz) setup plus O(links) per distinct bottleneck level, so it grows with
    the number of bottlenecks, not with the square of the number of flows.
    """
    capacity = np.asarray(capacity, dtype=np.float64)
    indptr = np.asarray(indptr, dtype=np.intp)
    indices = np.asarray(indices, dtype=np.intp)
    n_links = capacity.size
    if indptr.ndim != 1 or indptr.size == 0 or indptr[0] != 0 or indptr[-1] != indices.size:
        raise ValueError("indptr must start at 0 and end at len(indices)")
    if np.any(np.diff(indptr) < 0):
        raise ValueError("indptr must be non-decreasing")
    n_flows = indptr.size - 1
    unit_weights, no_bounds = weights is None, bounds is None
    weights = np.ones(n_flows) if weights is None else np.asarray(weights, dtype=np.float64)
    bounds = np.full(n_flows, np.inf) if bounds is None else np.asarray(bounds, dtype=np.float64)
    if indices.size and (indices.min() < 0 or indices.max() >= n_links):
        raise ValueError("route link index out of range")
    if not np.all(capacity >= 0):  # also rejects NaN
        raise ValueError("capacities must be >= 0")
    if weights.shape != (n_flows,) or not np.all((weights > 0) & np.isfinite(weights)):
        raise ValueError("weights must be finite and > 0, one per flow")
    if bounds.shape != (n_flows,) or not np.all(bounds >= 0):
        raise ValueError("bounds must be >= 0, one per flow")

    if n_flows == 0:
        return np.zeros(0)
    if indices.size <= _PY_MAX_NNZ:
        try:
            ptr, links = indptr.tolist(), indices.tolist()
            return _allocate_py(
                capacity.tolist(),
                [links[ptr[i] : ptr[i + 1]] for i in range(n_flows)],
                None if unit_weights else weights.tolist(),
                None if no_bounds else bounds.tolist(),
            )
        except _Fallback:
            pass
    return _allocate_numpy(capacity, indptr, indices, weights, bounds, n_flows)


def allocate_routes(
    capacity: np.ndarray,
    routes: list[Sequence[int]],
    weights: np.ndarray | None = None,
    bounds: np.ndarray | None = None,
) -> np.ndarray:
    """``allocate`` for routes given as sequences of link ids, with no argument checks.

    For callers whose inputs are valid by construction (``flows.Network``); the rates are
    bitwise those of ``allocate`` on the same routes in CSR form.
    """
    if len(routes) == 1 and len(set(routes[0])) == len(routes[0]):
        rate = _lone_flow_rate(capacity, routes[0], None if weights is None else float(weights[0]),
                               None if bounds is None else float(bounds[0]))
        if rate is not None:
            return np.array([rate])
    if sum(map(len, routes)) <= _PY_MAX_NNZ:
        try:
            return _allocate_py(
                capacity,  # read at the links the routes cross only: no list of every link's
                routes,
                None if weights is None else weights.tolist(),
                None if bounds is None else bounds.tolist(),
            )
        except _Fallback:
            pass
    indptr = np.zeros(len(routes) + 1, dtype=np.intp)
    np.cumsum([len(route) for route in routes], out=indptr[1:])
    indices = np.fromiter(chain.from_iterable(routes), np.intp, count=int(indptr[-1]))
    n_flows = len(routes)
    return _allocate_numpy(
        capacity,
        indptr,
        indices,
        np.ones(n_flows) if weights is None else weights,
        np.full(n_flows, np.inf) if bounds is None else bounds,
        n_flows,
    )


def _allocate_numpy(
    capacity: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    weights: np.ndarray,
    bounds: np.ndarray,
    n_flows: int,
) -> np.ndarray:
    """Progressive filling with NumPy arrays over the links the flows cross (large inputs, and
    the reference for the pure-Python path, which must give bitwise the same rates). A link no
    flow crosses never limits anyone: dropping it changes no float, and a network of thousands
    of links then costs per bottleneck level what its busy links cost."""
    rates = np.zeros(n_flows)
    used, indices = np.unique(indices, return_inverse=True)  # renumbered in the same order
    capacity, n_links = capacity[used], used.size

    entry_flow = np.repeat(np.arange(n_flows, dtype=np.intp), np.diff(indptr))
    # Link -> CSR entries crossing it (a CSC view), to find the flows of a saturated link.
    entries_by_link = np.argsort(indices, kind="stable")
    link_ptr = np.zeros(n_links + 1, dtype=np.intp)
    np.cumsum(np.bincount(indices, minlength=n_links), out=link_ptr[1:])

    remaining = capacity.copy()
    weight_sum = np.bincount(indices, weights=weights[entry_flow], minlength=n_links)
    # Integer count of unfrozen crossings: decides whether a link still limits anyone, which
    # a float weight sum left at 1e-17 by cancellation cannot.
    n_unfrozen = np.bincount(indices, minlength=n_links)
    unfrozen = np.ones(n_flows, dtype=bool)

    bound_level = bounds / weights
    by_bound = np.argsort(bound_level, kind="stable")
    sorted_bound_level = bound_level[by_bound]
    next_bound = 0

    def freeze(flows: np.ndarray) -> None:
        unfrozen[flows] = False
        entries = _gather_ranges(indptr[flows], indptr[flows + 1])
        links, owners = indices[entries], entry_flow[entries]
        remaining[:] -= np.bincount(links, weights=rates[owners], minlength=n_links)
        weight_sum[:] -= np.bincount(links, weights=weights[owners], minlength=n_links)
        n_unfrozen[:] -= np.bincount(links, minlength=n_links)

    while True:
        limiting = n_unfrozen > 0
        link_level = np.full(n_links, np.inf)
        link_level[limiting] = np.maximum(remaining[limiting], 0.0) / weight_sum[limiting]
        level = link_level.min(initial=np.inf)
        if level == np.inf:
            # Nothing finite limits the flows left: each runs at its bound, or infinitely fast.
            rates[unfrozen] = bounds[unfrozen]
            return rates
        # Freezing a flow at a bound below the level can only raise link levels, so every
        # bound at or below the current level freezes in one batch.
        stop = int(np.searchsorted(sorted_bound_level, level, side="right"))
        candidates = by_bound[next_bound:stop]
        next_bound = stop
        at_bound = candidates[unfrozen[candidates]]
        if at_bound.size:
            rates[at_bound] = bounds[at_bound]
            freeze(at_bound)
            continue
        saturated = np.flatnonzero(limiting & (link_level == level))
        entries = entries_by_link[_gather_ranges(link_ptr[saturated], link_ptr[saturated + 1])]
        flows = distinct(entry_flow[entries])
        flows = flows[unfrozen[flows]]
        rates[flows] = weights[flows] * level
        freeze(flows)



def _lone_flow_rate(capacity: np.ndarray, route: Sequence[int], weight: float | None, bound: float | None
                    ) -> float | None:
    """The rate of a flow alone on its links (each crossed once), bitwise ``_allocate_py``'s:
    its first round freezes it, at its bound or at the level of its tightest link times its
    weight. None where ``_allocate_py`` would fall back to NumPy (a weight or rate not finite)."""
    if weight is not None and not 0.0 < weight < _INF:
        return None
    level = _INF
    for link in route:
        x = float(capacity[link])
        x = (x if x > 0.0 else 0.0) if weight is None else (x if x > 0.0 else 0.0) / weight
        if x < level:
            level = x
    if level == _INF:
        return _INF if bound is None else bound
    if bound is not None and (bound if weight is None else bound / weight) <= level:
        return bound
    rate = level if weight is None else weight * level
    return rate if rate < _INF else None


def _allocate_py(
    capacity: Sequence[float] | np.ndarray,
    routes: list[Sequence[int]],
    weights: list[float] | None,
    bounds: list[float] | None,
) -> np.ndarray:
    """``_allocate_numpy`` in plain Python over the links that carry flows, bitwise identical.

    ``routes[i]`` lists the links of flow i; ``weights``/``bounds`` None mean all 1/all inf.
    Every float that decides a rate comes from the same IEEE operations in the same order:
    per freeze batch, the rates (and weights) leaving a link are summed from 0.0 in entry order
    (as ``np.bincount`` does) and the sum is then subtracted once; a link no batch touches keeps
    its values and its level (NumPy subtracts 0.0 from it, which changes no bit). Raises
    _Fallback where NumPy's results could differ (a NaN, or a division by a weight sum <= 0).
    """
    n_flows = len(routes)
    count: dict[int, int] = {}  # unfrozen crossings per link used
    for route in routes:
        for link in route:
            count[link] = count.get(link, 0) + 1
    remaining = {link: float(capacity[link]) for link in count}
    if weights is None:
        weight_sum = count  # a sum of k times 1.0 is exactly k
    else:
        weight_sum = _sums_per_link(range(n_flows), routes, weights, count)
        for s in weight_sum.values():
            if not s < _INF:
                raise _Fallback
    # Level at which each link still crossed by an unfrozen flow saturates.
    link_level = {
        link: (x if x > 0.0 else 0.0) / weight_sum[link] for link, x in remaining.items()
    }
    rates = [0.0] * n_flows
    live = list(range(n_flows))  # unfrozen flows, ascending
    frozen = [False] * n_flows

    if bounds is not None:
        bound_level = bounds if weights is None else [b / w for b, w in zip(bounds, weights)]
        by_bound = sorted(range(n_flows), key=bound_level.__getitem__)  # stable; no NaN
        sorted_bound_level = [bound_level[f] for f in by_bound]
        next_bound = 0

    while True:
        level = min(link_level.values(), default=_INF)
        if level == _INF:
            # Nothing finite limits the flows left: each runs at its bound, or infinitely fast.
            for f in live:
                rates[f] = _INF if bounds is None else bounds[f]
            return np.array(rates, dtype=np.float64)
        # This round freezes `flows`: the unfrozen ones whose bound is at or below the level, at
        # their bounds, or else those crossing a saturated link, at `level` times their weights
        # (`uniform_rate` when every weight is 1).
        flows: list[int] = []
        if bounds is not None:
            stop = bisect_right(sorted_bound_level, level)
            flows = [f for f in by_bound[next_bound:stop] if not frozen[f]]
            next_bound = stop
        if flows:
            uniform_rate = None
            for f in flows:
                rates[f] = bounds[f]
        else:
            # The unfrozen flows crossing a saturated link, ascending (np.unique's order).
            saturated = [link for link, v in link_level.items() if v == level]
            if len(saturated) == 1:
                link = saturated[0]
                flows = [f for f in live if link in routes[f]]
            else:
                saturated = set(saturated)
                flows = [f for f in live if not saturated.isdisjoint(routes[f])]
            if weights is None:
                uniform_rate = level
                for f in flows:
                    rates[f] = level
            else:
                uniform_rate = None
                for f in flows:
                    rates[f] = weights[f] * level

        # Freeze them: take their rates (and weights) off every link they cross.
        batch_count: dict[int, int] = {}  # crossings per link, in order of first crossing
        for f in flows:
            frozen[f] = True
            for link in routes[f]:
                batch_count[link] = batch_count.get(link, 0) + 1
        live = [f for f in live if not frozen[f]]
        if uniform_rate is not None:
            # Every rate of the batch is r: the sum over k crossings is r + r + ... (k times,
            # from 0.0, in order), the same whatever the link, so compute each k once.
            acc = 0.0
            r = uniform_rate
            partial = [0.0] + [acc := acc + r for _ in range(max(batch_count.values()))]
            if acc == _INF:
                raise _Fallback
            batch_rate = {link: partial[k] for link, k in batch_count.items()}
        else:
            batch_rate = _sums_per_link(flows, routes, rates, batch_count)
            if _INF in batch_rate.values():
                raise _Fallback
        if weights is None:
            # Weight sums stay the exact float of the crossing counts.
            for link, k in batch_count.items():
                x = remaining[link] - batch_rate[link]
                remaining[link] = x
                c = count[link] - k
                count[link] = c
                if c:
                    link_level[link] = (x if x > 0.0 else 0.0) / c
                else:
                    del link_level[link]
        else:
            batch_weight = _sums_per_link(flows, routes, weights, batch_count)
            for link, k in batch_count.items():
                x = remaining[link] - batch_rate[link]
                remaining[link] = x
                c = count[link] - k
                count[link] = c
                ws = weight_sum[link] - batch_weight[link]
                weight_sum[link] = ws
                if c:
                    if not 0.0 < ws < _INF:
                        raise _Fallback
                    link_level[link] = (x if x > 0.0 else 0.0) / ws
                else:
                    del link_level[link]


def _sums_per_link(flows: Sequence[int], routes: list[Sequence[int]], values: list[float], links) -> dict[int, float]:
    """Per link of `links`, the sum of `values[f]` over the `flows` crossing it, added from 0.0 in
    flow order (as ``np.bincount`` adds them, so the floats are bitwise NumPy's)."""
    sums = dict.fromkeys(links, 0.0)
    for f in flows:
        value = values[f]
        for link in routes[f]:
            sums[link] += value
    return sums
