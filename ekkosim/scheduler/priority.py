"""Update priorities: Ekko's formula, the high/low split, and user-defined priority functions.

Ekko's priority of an update is p = (p_g + p_u) * p_m: significance (its magnitude over its
model's mean magnitude), freshness (a bonus for a key the update creates) and model importance
(the model's share of inference traffic). An update is high priority when p is above a running
percentile of the priorities seen before; high-priority updates travel first. Users may replace
the formula with their own function of a batch's `Features`. docs/scheduler.md has the details
and which parts are Ekko's and which are ours.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np

from ekkosim.scheduler.quantile import P2Quantile


@dataclass(frozen=True, eq=False)
class Features:
    """What a priority function sees of one batch of updates of one model.

    `magnitude` (float64) and `is_new` (bool) have one entry per update, and are read-only views.
    `mean_magnitude` is the model's sampled mean magnitude: NaN until its sampler has kept one.
    `traffic_share` is the model's share of inference traffic; `time_s` the batch's simulated time.
    """

    magnitude: np.ndarray
    is_new: np.ndarray
    mean_magnitude: float
    traffic_share: float
    model: str
    time_s: float

    def __post_init__(self) -> None:
        for name, dtype in (("magnitude", np.float64), ("is_new", np.bool_)):
            array = getattr(self, name)
            if not isinstance(array, np.ndarray) or array.dtype != dtype or array.ndim != 1:
                raise ValueError(f"Features.{name} must be a 1-D {np.dtype(dtype)} array")
            view = array.view()  # read-only to a priority function, writable to its owner
            view.flags.writeable = False
            object.__setattr__(self, name, view)
        if self.is_new.size != self.magnitude.size:
            raise ValueError(f"Features.is_new has {self.is_new.size} entries, magnitude has {self.magnitude.size}")

    def __len__(self) -> int:
        return self.magnitude.size


def ekko_priority(features: Features, new_key_priority: float) -> np.ndarray:
    """Ekko's priority (p_g + p_u) * p_m of each update of the batch (float64).

    p_g is magnitude / mean magnitude, or 1 while the mean is unknown (NaN) or 0; p_u is
    `new_key_priority` for an update that creates its key, else 0; p_m is the traffic share.
    """
    mean = features.mean_magnitude
    if math.isnan(mean) or mean == 0:
        significance = np.ones(len(features), dtype=np.float64)
    else:
        significance = features.magnitude / mean
    freshness = np.where(features.is_new, float(new_key_priority), 0.0)
    return (significance + freshness) * features.traffic_share


class PriorityClassifier:
    """Splits updates into high and low priority against a running percentile of past priorities.

    An update is high when its priority is above the (1 - top_percent/100)-quantile of the
    priorities of earlier batches, estimated by P-square; a batch is judged before it joins the
    history, and with no history every update is high. To keep the cost O(batch) at C speed, the
    estimator is fed a systematic subsample of each batch: every m-th priority from the middle of
    the first stride, m the smallest stride that feeds at most `max_feed` of them.
    """

    def __init__(self, top_percent: float, max_feed: int = 256):
        if not 0.0 < top_percent < 100.0:
            raise ValueError(f"top_percent must be in (0, 100), got {top_percent}")
        if max_feed < 1:
            raise ValueError(f"max_feed must be >= 1, got {max_feed}")
        self.top_percent = top_percent
        self.max_feed = max_feed
        self._quantile = P2Quantile(1.0 - top_percent / 100.0)

    @property
    def threshold(self) -> float:
        """The priority an update must exceed to be high; NaN before any history."""
        return self._quantile.value

    def classify(self, priorities: np.ndarray) -> np.ndarray:
        """High-priority mask of one batch (judged by earlier batches), then learn from it."""
        priorities = np.asarray(priorities, dtype=np.float64)
        threshold = self._quantile.value
        if math.isnan(threshold):
            high = np.ones(priorities.size, dtype=np.bool_)
        else:
            high = priorities > threshold
        stride = max(1, -(-priorities.size // self.max_feed))
        self._quantile.add_many(priorities[stride // 2 :: stride])
        return high


class PriorityFunctionError(ValueError):
    """A user's priority function cannot be used; the message is one line, without the field name."""


PriorityFunction = Callable[[Features], np.ndarray]

_IDENTIFIERS = r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*"
MODULE_FUNCTION = re.compile(rf"^{_IDENTIFIERS}:{_IDENTIFIERS}$")  # "package.module:Class.method"


def load_priority_function(spec: str, near: Path | None = None) -> PriorityFunction:
    """Import the function named by "package.module:function" (the function part may be dotted,
    "module:Class.method"): from the module's file in folder `near` (the scenario's) if it is
    there, else as an installed module. Check it with `check_priority_function` before a run."""
    if not MODULE_FUNCTION.match(spec):  # no path: "/abs/dir/evil:f" would import any file
        raise PriorityFunctionError(f"'{spec}' is not of the form 'package.module:function'")
    module_name, _, attribute = spec.partition(":")
    beside = None if near is None else near / (module_name.replace(".", "/") + ".py")
    try:
        if beside is not None and beside.is_file():
            target = _module_from_file(beside)
        else:
            target = importlib.import_module(module_name)
    except ImportError as exc:
        raise PriorityFunctionError(f"cannot import module '{module_name}': {_one_line(exc)}") from exc
    except Exception as exc:  # the module's own code failed: a syntax error, a raise at import
        raise PriorityFunctionError(
            f"importing module '{module_name}' raised {type(exc).__name__}: {_one_line(exc)}"
        ) from exc
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise PriorityFunctionError(f"module '{module_name}' has no attribute '{attribute}'")
        target = getattr(target, part)
    if not callable(target):
        raise PriorityFunctionError(f"'{spec}' is not callable (it is a {type(target).__name__})")
    return target


def _module_from_file(path: Path) -> ModuleType:
    """The module in `path`, under a name of its own (`sys.modules` would otherwise give two
    scenario folders' `prio.py` the first one imported)."""
    name = "ekkosim_priority_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    module_spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def check_priority_function(fn: PriorityFunction) -> None:
    """Check `fn` before a run: its signature, then a call on a synthetic batch of 3 updates
    (see `call_priority_function`); PriorityFunctionError on the first problem."""
    name = _describe(fn)
    if not callable(fn):
        raise PriorityFunctionError(f"{name} is not callable (it is a {type(fn).__name__})")
    sample = Features(
        magnitude=np.array([0.5, 1.0, 2.0]),
        is_new=np.array([False, False, True]),
        mean_magnitude=1.0,
        traffic_share=0.5,
        model="sample",
        time_s=0.0,
    )
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # some builtins have none; the call below still tells
        signature = None
    if signature is not None:
        try:
            signature.bind(sample)
        except TypeError:
            raise PriorityFunctionError(
                f"{name} must accept exactly one positional argument (a batch's Features), "
                f"but its signature is {signature}"
            ) from None
    call_priority_function(fn, sample)


def call_priority_function(fn: PriorityFunction, features: Features) -> np.ndarray:
    """`fn`'s priorities of a batch, as float64; PriorityFunctionError if it raises, or returns
    anything but a 1-D numeric array of one finite priority >= 0 per update. The checks are O(n)
    at C speed, so a run may call every batch through here, not only the sample batch."""
    name, n = _describe(fn), len(features)
    try:
        result = fn(features)
    except Exception as exc:
        raise PriorityFunctionError(
            f"{name} raised {type(exc).__name__} on a batch of {n} updates of model '{features.model}' "
            f"at t = {features.time_s:g} s: "
            f"{_one_line(exc)}"
        ) from exc
    try:
        array = np.asarray(result)
    except ValueError:  # ragged nested sequences
        array = np.asarray(result, dtype=object)
    if array.dtype.kind not in "iuf":
        what = f"an array of {array.dtype}" if isinstance(result, np.ndarray) else f"a {type(result).__name__}"
        raise PriorityFunctionError(f"{name} returned {what}; priorities must be numbers (a 1-D float array)")
    if array.shape != (n,):
        raise PriorityFunctionError(
            f"{name} returned shape {array.shape} for a batch of {n} updates; it must return shape ({n},)"
        )
    array = array.astype(np.float64, copy=False)
    bad = ~(np.isfinite(array) & (array >= 0))
    if bad.any():
        i = int(np.argmax(bad))
        raise PriorityFunctionError(
            f"{name} returned {array[i]} for update {i} of {n}; priorities must be finite and >= 0"
        )
    return array


def _describe(fn: object) -> str:
    module, qualname = getattr(fn, "__module__", None), getattr(fn, "__qualname__", None)
    if module and qualname:
        return f"priority function '{module}:{qualname}'"
    return f"priority function {fn!r}"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
