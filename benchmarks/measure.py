"""One benchmark case in this process: `python -m benchmarks.measure SCENARIO [--set PATH=VALUE ...]`.

Builds the simulation and runs it (no results folder is written: the benchmark times the
simulator, not Parquet), then prints one JSON line of measurements on stdout.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

from ekkosim.scenario.load import ScenarioError, load
from ekkosim.simulation import Simulation


def peak_rss_bytes() -> int:
    """This process's peak resident set size so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class RssMarks:
    """Notes the peak RSS so far the first time simulated time reaches each of `at_s`."""

    def __init__(self, at_s: list[float]):
        self.pending = sorted(at_s)
        self.rss_at = {}

    def __call__(self, now_s: float) -> None:
        while self.pending and now_s >= self.pending[0]:
            self.rss_at[f"{self.pending.pop(0):g}"] = peak_rss_bytes()


def measure(scenario_path: Path, overrides: list[str], rss_at_s: list[float]) -> dict:
    scenario = load(scenario_path, overrides)
    marks = RssMarks(rss_at_s)
    started = time.perf_counter()
    sim = Simulation(scenario)
    sim.run(marks if rss_at_s else None)
    wall_s = time.perf_counter() - started
    marks(sim.env.now)  # a mark at the very end of the run
    counters = getattr(sim.outcome, "counters", None)
    return {
        "sim_s": sim.env.now,
        "wall_s": wall_s,
        "events": sim.env.events_processed,
        "flows": len(sim.network.completed),
        "keys_examined": None if counters is None else counters.keys_examined,
        "peak_rss_bytes": peak_rss_bytes(),
        "rss_at_s": marks.rss_at,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.measure", description=__doc__.splitlines()[0])
    parser.add_argument("scenario", type=Path)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE")
    parser.add_argument("--rss-at", type=float, nargs="*", default=[], metavar="SECONDS",
                        help="simulated times at which to note the peak RSS so far")
    args = parser.parse_args(argv)
    try:
        result = measure(args.scenario, args.overrides, args.rss_at)
    except ScenarioError as error:
        print(f"benchmarks: {error.problems[0]}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
