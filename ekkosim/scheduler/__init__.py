"""Ekko's SLO-aware update scheduler: which updates are high priority and travel first.

Pure NumPy, no SimPy: a per-model `MagnitudeSampler` estimates the mean update magnitude,
`ekko_priority` (or a user's function) scores a batch of updates, and a `PriorityClassifier`
splits them at a running percentile kept by a `P2Quantile`. docs/scheduler.md has the model.
"""

from ekkosim.scheduler.priority import (
    Features,
    PriorityClassifier,
    PriorityFunctionError,
    call_priority_function,
    check_priority_function,
    ekko_priority,
    load_priority_function,
)
from ekkosim.scheduler.quantile import P2Quantile
from ekkosim.scheduler.sampler import MagnitudeSampler

__all__ = [
    "Features",
    "MagnitudeSampler",
    "P2Quantile",
    "PriorityClassifier",
    "PriorityFunctionError",
    "call_priority_function",
    "check_priority_function",
    "ekko_priority",
    "load_priority_function",
]
