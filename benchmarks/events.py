"""The SimPy events a pull costs, by kind: `python -m benchmarks.events [SCENARIO] [--set PATH=VALUE ...] [--seconds S]`.

Runs the scenario with no updates (the trainers stop after 1 ns; the pulls go on for
`--seconds`), so that every event is a pull's or the network's, and counts the events it
processes by what they wake: the event's class and its first callback (a process's generator
for a process). Prints one JSON line: the pulls, the events, and each kind's events per pull,
most frequent first. Issue 15's target is about 6 events a pull round trip.
"""

from __future__ import annotations

import math
import sys
from collections import Counter
from pathlib import Path

from benchmarks.cases import PRODUCTION
from benchmarks.measure import seconds_command
from ekkosim.scenario.load import ScenarioError, load
from ekkosim.simulation import Simulation
from ekkosim.strategies import STRATEGIES


def _kind(event) -> str:
    """What an event wakes: its class, and its first callback's name (a process's generator's)."""
    callback = event.callbacks[0] if event.callbacks else None
    woken = getattr(callback, "__self__", None)
    if getattr(woken, "_generator", None) is not None:
        return f"{type(event).__name__}: {woken._generator.__qualname__}"
    return f"{type(event).__name__}: {getattr(callback, '__qualname__', type(callback).__name__)}"


def events(scenario_path: Path, overrides: list[str], seconds: float) -> dict:
    scenario = load(scenario_path, [*overrides, "workload.duration=1ns", f"sync.drain={seconds:g}s"], max_memory=math.inf)
    sim = Simulation(scenario, STRATEGIES[scenario.strategy])
    env, kinds = sim.env, Counter()
    step = env.step

    def counted_step() -> None:
        kinds[_kind(env._queue[0][3])] += 1  # the event the step is about to process
        step()

    env.step = counted_step
    sim.run()
    pulls = sim.outcome.counters.pulls
    if not pulls:
        raise ScenarioError([f"--seconds {seconds:g}: too short, no pull completed: simulate longer"])
    return {"scenario": scenario.name, "simulated_s": sim.env.now, "pulls": pulls, "events": sum(kinds.values()),
            "events_processed": env.events_processed,
            "events_per_pull": {kind: n / pulls for kind, n in kinds.most_common()}}


def main(argv: list[str] | None = None) -> int:
    return seconds_command(argv, "events", __doc__, PRODUCTION, 0.5, "simulated seconds of pulls", events)


if __name__ == "__main__":
    sys.exit(main())
