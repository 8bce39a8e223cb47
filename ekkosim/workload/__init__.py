"""Update workloads: the key updates trainers write into a model, batch by batch.

Either synthetic (Poisson updates, drifting bounded-Zipf popularity, new keys, lognormal
magnitudes) or replayed from a trace file. Pure NumPy: the simulator asks each model's
`UpdateSource` for the `UpdateBatch` of every interval. docs/workload.md has the model.
"""

from ekkosim.workload.batch import UpdateBatch, UpdateSource
from ekkosim.workload.synthetic import BoundedZipf, SyntheticWorkload, spread_multiplier
from ekkosim.workload.trace import TraceError, TraceUpdates, TraceWorkload, read_trace

__all__ = [
    "BoundedZipf",
    "SyntheticWorkload",
    "TraceError",
    "TraceUpdates",
    "TraceWorkload",
    "UpdateBatch",
    "UpdateSource",
    "read_trace",
    "spread_multiplier",
]
