"""Where a busy run's time goes, timed from inside it: `python -m benchmarks.inside [SCENARIO]
[--set PATH=VALUE ...] [--seconds S] [--from F] [--loops]`.

One run with updates for `--seconds` from simulated second `--from` on (no drain; the run
simulates the seconds before `--from` untimed: a store's cost grows with its rows), after a
warm-up of a tenth of `--seconds`, with a timer around each of a pull's costly steps: the
store's apply (`Store.apply`: a pull's keys, and the trainers' writes), the answer from the
peer's caches (`answer_cursor`), the latency tracker's (`LatencyTracker.applied`), the network's
rate allocations (`Network._allocation`), and the growths of the stores' rows and journals and
of the hash indexes' keys, and the rehash of a grown table: a store's within its apply's time
(steps overlap: do not add them up), and with the quality model on, its indexes' too. A growth
copies what an array holds into a larger one; a call counts one array (a store's rows have seven
columns, its journal three); a growth of an empty array copies nothing and is not counted, nor
is a table filled in one go from empty (the latency tracker's lookups). With `--loops`, the
compiled loops that Python calls are timed alone too: the answer's and the moved pairs' (within
the answer), the apply's (within the apply), the hash lookups (`KeyIndex.find`: the apply's, and
the trainers' reads of values) and the tracker's lookup; a loop called from another compiled
loop is in its caller's time. What a step takes beyond its loops is its Python and what it calls
besides (the apply's growths). Their timers add to the steps around them, so runs with `--loops`
compare with runs with it only. For each step: its calls, its seconds, and, for those that take
keys (for a growth the elements it copied, for a rehash the rows it placed, for the answer's
loop the entries it read, for the moved pairs' the pairs it compared), the least-squares fit of
a call's time against its keys (a fixed cost a call and a cost a key). Times are CPU seconds of
this process (`time.process_time`), as the run's are; `cpu_s` is the timed seconds'. The
allocations are also counted by their number of moving flows (1 to 4, or more), and for 2 to 4
flows by whether each is on links of its own (a set `Network._allocation` allocates flow by
flow, up to `_DISJOINT_MAX` flows). Python's cyclic collector is timed too: its collections in
the timed seconds, their CPU time and the objects they freed (garbage that reference counting
could not free).

Whole runs' CPU varies by a tenth from run to run on a shared machine, more than a change to
one step shows; a step's time, against the others' in the same run, shows it (docs/performance.md).
Prints one JSON line.
"""

from __future__ import annotations

import gc
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from benchmarks.cases import PRODUCTION
from benchmarks.measure import INSTANT, measure, print_json, seconds_parser
from ekkosim.metrics.latency import LatencyTracker
from ekkosim.net import flows
from ekkosim.ps import journal, key_index, kernels, probes, store
from ekkosim.ps.store import Store
from ekkosim.simulation import Simulation
from ekkosim.sync import puller


def _copied(args: tuple, result: np.ndarray) -> int | None:
    """The elements a growth copied (`ekkosim.arrays.with_room(array, used, need)`); None (not
    counted) where the array had room, or held nothing to copy."""
    return None if result is args[0] or not args[1] else args[1]


# step: (owner, attribute, the keys of a call from its arguments and result (None: the call is
# not counted), or None for a step without keys)
STEPS: dict[str, tuple[object, str, Callable | None]] = {
    "apply": (Store, "apply", lambda args, result: args[2].size),
    "answer": (puller, "answer_cursor", lambda args, result: result.keys.size),
    "tracker": (LatencyTracker, "applied", lambda args, result: args[3].keys.size),
    "allocation": (flows.Network, "_allocation", None),
    # the growths of the stores' rows and journals and of the hash indexes: "keys" are the
    # elements copied, or for a rehash (a grown table) the rows placed again
    "rows growth": (store, "with_room", _copied),
    "journal growth": (journal, "with_room", _copied),
    "index growth": (key_index, "with_room", _copied),
    "index rehash": (probes(), "place", lambda args, result: args[4] - args[3] or None),
}

# With `--loops`, the compiled loops called from Python, alone: the answer's (entries read), the
# pairs whose shard moved (pairs compared), the apply's (keys given), the hash lookups (keys), the
# tracker's lookup (keys). Opt-in: their timers add to the steps around them (a few
# microseconds a call, several calls a step).
LOOPS: dict[str, tuple[object, str, Callable | None]] = {
    "answer loop": (kernels(), "cached_answer", lambda args, result: int(result[-1])),
    "moved pairs loop": (kernels(), "moved_pairs", lambda args, result: args[1].size),
    "apply loop": (kernels(), "apply_versions", lambda args, result: args[2].size),
    "hash lookups": (probes(), "find", lambda args, result: args[3].size),
    "tracker lookup": (probes(), "group_entries", lambda args, result: args[3].size),
}


def inside(scenario: Path, overrides: list[str], seconds: float, start: float = 0.0, loops: bool = False) -> dict:
    steps = STEPS | LOOPS if loops else STEPS
    calls: dict[str, list[tuple[int, float]]] = {step: [] for step in steps}
    sets: Counter = Counter()
    originals = {step: getattr(owner, name) for step, (owner, name, _) in steps.items()}
    timing = [False]  # from simulated second `start` on

    def timed(step: str, original: Callable, keys: Callable | None) -> Callable:
        def call(*args, **kwargs):
            if not timing[0]:
                return original(*args, **kwargs)
            if step == "allocation":
                sets[_allocation_kind(args[0])] += 1
            started = time.process_time()
            result = original(*args, **kwargs)
            elapsed = time.process_time() - started
            n = 0 if keys is None else keys(args, result)
            if n is not None:
                calls[step].append((n, elapsed))
            return result
        return call

    collector: dict = {}
    cpu = [0.0]
    simulate = Simulation.run

    def run_timed(simulation: Simulation, *args, **kwargs) -> None:
        def begin(_event=None) -> None:
            timing[0], cpu[0] = True, time.process_time()

        if start > 0:
            simulation.env.timeout(start).callbacks.append(begin)
        else:
            begin()
        with collector_timed(lambda: timing[0]) as counts:
            simulate(simulation, *args, **kwargs)
        cpu[0] = time.process_time() - cpu[0]
        collector.update(counts)

    measure(scenario, [*overrides, f"workload.duration={seconds / 10:g}s", "sync.drain=0s"], [], None)  # warm-up
    for step, (owner, name, keys) in steps.items():
        setattr(owner, name, timed(step, originals[step], keys))
    Simulation.run = run_timed
    try:
        measure(scenario, [*overrides, f"workload.duration={start + seconds:g}s", "sync.drain=0s"], [], None)
    finally:
        Simulation.run = simulate
        for step, (owner, name, _) in steps.items():
            setattr(owner, name, originals[step])
    return {
        "scenario": str(scenario),
        "from_s": start,
        "simulated_s": seconds,
        "cpu_s": cpu[0],
        "steps": {step: _summary(timings, steps[step][2] is not None) for step, timings in calls.items()},
        "allocations": dict(sorted(sets.items())),
        "garbage_collector": collector,
    }


@contextmanager
def collector_timed(counting: Callable[[], bool] = lambda: True) -> Iterator[dict]:
    """Python's cyclic collector within the block, while `counting()`: {"collections", "s"
    (their CPU time), "collected" (the objects they freed)}, filled in as it goes."""
    counts = {"collections": 0, "s": 0.0, "collected": 0}
    started = [0.0]

    def note(phase: str, info: dict) -> None:
        if not counting():
            return
        if phase == "start":
            started[0] = time.process_time()
        else:
            counts["collections"] += 1
            counts["s"] += time.process_time() - started[0]
            counts["collected"] += info["collected"]

    gc.callbacks.append(note)
    try:
        yield counts
    finally:
        gc.callbacks.remove(note)


def _allocation_kind(network: flows.Network) -> str:
    """The allocation about to be made: '1 flow', '{n} flows, own links' or '{n} flows, shared
    links' (n up to 4), or '5+ flows'."""
    n = len(network._moving)
    if n == 1:
        return "1 flow"
    if n > 4:
        return "5+ flows"
    disjoint = flows._disjoint(tuple(flow.route for flow in network._moving))
    return f"{n} flows, {'own links' if disjoint else 'shared links'}"


def _summary(timings: list[tuple[int, float]], by_key: bool) -> dict:
    if not timings:
        return {"calls": 0, "s": 0.0}
    keys, seconds = np.array(timings).T
    summary = {"calls": len(timings), "s": float(seconds.sum())}
    if by_key and np.ptp(keys) > 0:
        fixed, per_key = np.linalg.lstsq(np.vstack([np.ones_like(keys), keys]).T, seconds, rcond=None)[0]
        summary |= {"keys": int(keys.sum()), "median_keys": float(np.median(keys)),
                    "fixed_us": float(fixed * 1e6), "ns_a_key": float(per_key * 1e9)}
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = seconds_parser("inside", __doc__, PRODUCTION, 2.0, "simulated seconds of updates timed")
    parser.add_argument("--from", dest="start", type=INSTANT, default=0.0, metavar="F",
                        help="simulated second from which to time (the run simulates the seconds before untimed)")
    parser.add_argument("--loops", action="store_true",
                        help="time the compiled loops alone too (their timers add to the steps around them)")
    args = parser.parse_args(argv)
    return print_json(lambda: inside(args.scenario, args.overrides, args.seconds, args.start, args.loops))


if __name__ == "__main__":
    sys.exit(main())
