"""Weighted max-min fair bandwidth allocation (progressive filling), without SimPy.

This is the sharing model of SimGrid's flow-level networks (its LMM solver): every flow i has a
weight w_i > 0 and an optional rate bound; all unfrozen flows grow at rates w_i * level as one
common level rises; a link whose capacity is used up freezes the flows crossing it, and a flow
that reaches its bound freezes there, releasing the rest of its links' capacity to the others.
SimGrid states weights as penalties p_i = 1 / w_i (rate = level / penalty).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

from ekkosim.arrays import distinct, ranges
from ekkosim.net import kernels

__all__ = ["allocate"]

# Inputs with at most this many route entries are allocated by the compiled loops
# (`ekkosim.net._fill`), whose cost per bottleneck level is the entries; larger ones by NumPy,
# whose cost per level is the links.
_LOOP_MAX_NNZ = 4096
_INF = math.inf


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
    # contiguous arrays of the compiled loops' types (`ekkosim.compiled`), whatever was given
    capacity = np.ascontiguousarray(capacity, dtype=np.float64)
    indptr = np.asarray(indptr, dtype=np.int64)
    indices = np.ascontiguousarray(indices, dtype=np.int64)
    n_links = capacity.size
    if indptr.ndim != 1 or indptr.size == 0 or indptr[0] != 0 or indptr[-1] != indices.size:
        raise ValueError("indptr must start at 0 and end at len(indices)")
    if np.any(np.diff(indptr) < 0):
        raise ValueError("indptr must be non-decreasing")
    n_flows = indptr.size - 1
    unit_weights, no_bounds = weights is None, bounds is None
    weights = np.ones(n_flows) if weights is None else np.ascontiguousarray(weights, dtype=np.float64)
    bounds = np.full(n_flows, np.inf) if bounds is None else np.ascontiguousarray(bounds, dtype=np.float64)
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
    return _allocate(capacity, np.diff(indptr), indices, None if unit_weights else weights, None if no_bounds else bounds)


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
    return _allocate(capacity, *route_arrays(routes), weights, bounds)


def route_arrays(routes: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """(lengths, links) of `routes`: each route's number of links, and every route's links one
    after the other (int64)."""
    lengths = np.fromiter(map(len, routes), np.int64, count=len(routes))
    return lengths, np.fromiter(itertools.chain.from_iterable(routes), np.int64, count=int(lengths.sum()))


_NONE = np.zeros(0)  # no weights (all 1) or no bounds, for the compiled loops


def _allocate(capacity: np.ndarray, lengths: np.ndarray, indices: np.ndarray, weights: np.ndarray | None,
              bounds: np.ndarray | None) -> np.ndarray:
    """The rates of valid inputs (flow f crosses the `lengths[f]` links after the previous
    flows' in `indices`; weights None: all 1; bounds None: all inf), by the compiled loops
    where they reproduce the NumPy reference, else by it: bitwise the same rates."""
    if indices.size <= _LOOP_MAX_NNZ:
        rates, ok = kernels().fill(capacity, lengths, indices, _NONE if weights is None else weights,
                                   _NONE if bounds is None else bounds)
        if ok:
            return rates
    n_flows = lengths.size
    indptr = np.zeros(n_flows + 1, dtype=np.intp)
    np.cumsum(lengths, out=indptr[1:])
    return _allocate_numpy(capacity, indptr, indices, np.ones(n_flows) if weights is None else weights,
                           np.full(n_flows, np.inf) if bounds is None else bounds, n_flows)


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
        entries = ranges(indptr[flows], indptr[flows + 1] - indptr[flows])
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
        entries = entries_by_link[ranges(link_ptr[saturated], link_ptr[saturated + 1] - link_ptr[saturated])]
        flows = distinct(entry_flow[entries])
        flows = flows[unfrozen[flows]]
        rates[flows] = weights[flows] * level
        freeze(flows)


def _lone_flow_rate(capacity: np.ndarray, route: Sequence[int], weight: float | None, bound: float | None
                    ) -> float | None:
    """The rate of a flow alone on its links (each crossed once), bitwise the reference's: its
    first round freezes it, at its bound or at the level of its tightest link times its weight.
    None where the compiled loops would leave it to the reference (a weight or rate not finite)."""
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
