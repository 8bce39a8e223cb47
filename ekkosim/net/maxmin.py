"""Weighted max-min fair bandwidth allocation (progressive filling), without SimPy.

This is the sharing model of SimGrid's flow-level networks (its LMM solver): every flow i has a
weight w_i > 0 and an optional rate bound; all unfrozen flows grow at rates w_i * level as one
common level rises; a link whose capacity is used up freezes the flows crossing it, and a flow
that reaches its bound freezes there, releasing the rest of its links' capacity to the others.
SimGrid states weights as penalties p_i = 1 / w_i (rate = level / penalty).
"""

from __future__ import annotations

import numpy as np

__all__ = ["allocate"]


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

    rates = np.zeros(n_flows)
    if n_flows == 0:
        return rates

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
        flows = np.unique(entry_flow[entries])
        flows = flows[unfrozen[flows]]
        rates[flows] = weights[flows] * level
        freeze(flows)
