"""Latency statistics that count what never arrived: an (update, replica) pair not delivered when
the run stopped is a right-censored observation, its latency known only to exceed the time it
had waited (docs/sync.md, "Update latency and the summary").

The statistics rank every undelivered pair above every delivered one (it waited at least the
drain, longer than a delivery of a healthy run takes). A percentile whose rank falls among them
is not determined by the run: it is reported as null, with `<name>_censored` true; the mean and
the maximum are undetermined as soon as one pair is undelivered. Without undelivered pairs the
numbers are the plain ones over the delivered latencies.
"""

from __future__ import annotations

import math

import numpy as np

PERCENTILES = (50, 90, 99)
FIELDS = ("mean", "p50", "p90", "p99", "max")  # each with a `<field>_censored` flag


def latency_stats(delivered: np.ndarray, waited: np.ndarray) -> dict:
    """`{count, mean, p50, p90, p99, max}` over `delivered` latencies, with `undelivered` pairs
    that had `waited` so long when the run stopped: `undelivered`, the shortest of those waits
    (`undelivered_after_s`, a lower bound of every censored field) and a flag per field."""
    count, undelivered = int(delivered.size), int(waited.size)
    values: dict[str, float | None] = dict.fromkeys(FIELDS)
    censored = dict.fromkeys(FIELDS, undelivered > 0 and count + undelivered > 0)
    if count:
        n = count + undelivered
        # undelivered pairs rank above every delivered one: pad with the largest delivered value,
        # which moves no percentile whose neighbours on either side are both delivered
        ranked = np.concatenate([delivered, np.full(undelivered, delivered.max())]) if undelivered else delivered
        for q, value in zip(PERCENTILES, np.percentile(ranked, PERCENTILES)):
            among_undelivered = math.ceil((n - 1) * q / 100) >= count
            censored[f"p{q}"] = among_undelivered
            values[f"p{q}"] = None if among_undelivered else float(value)
        if not undelivered:
            values["mean"], values["max"] = float(delivered.mean()), float(delivered.max())
    return {
        "count": count, **values, "undelivered": undelivered,
        "undelivered_after_s": float(waited.min()) if undelivered else None,
        **{f"{name}_censored": censored[name] for name in FIELDS},
    }
