"""One benchmark case in this process: `python -m benchmarks.measure SCENARIO [--set PATH=VALUE ...]`.

Builds the simulation, then runs it (no results folder is written: the benchmark times the
simulator, not Parquet), then prints one JSON line of measurements on stdout. With
`--wall-limit` the run stops after that many wall seconds of simulating, and reports how far
it got.
"""

from __future__ import annotations

import argparse
import math
import json
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

from ekkosim.scenario.load import ScenarioError, load
from ekkosim.simulation import Simulation
from ekkosim.strategies import STRATEGIES


class Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line and exit code 2 (argparse adds its usage)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def finite(unit: str, inclusive: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite number of `unit` above 0 (or 0 too, `inclusive`)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number of {unit}, got {text!r}") from None
        if not (math.isfinite(value) and (value >= 0 if inclusive else value > 0)):
            raise argparse.ArgumentTypeError(f"must be a finite number of {unit}, {'0 or more' if inclusive else 'above 0'}; "
                                             f"got {text}")
        return value + 0.0  # (-0 is 0)

    return parse


# a duration (of simulated or wall seconds), and a simulated instant
SECONDS, INSTANT = finite("seconds"), finite("seconds", inclusive=True)


def cpu_s() -> float:
    """CPU seconds this process has used (user and system)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_bytes() -> int:
    """This process's peak resident set size so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class _WallLimit(Exception):
    pass


class Watch:
    """Called as simulated time advances: notes the peak RSS so far the first time simulated
    time reaches each of `rss_at_s`, and stops the run once it has simulated `wall_limit_s`."""

    def __init__(self, rss_at_s: list[float], wall_limit_s: float | None):
        self.pending = sorted(rss_at_s)
        self.rss_at = {}
        self.started = time.perf_counter()
        self.wall_limit_s = wall_limit_s

    def __call__(self, now_s: float) -> None:
        while self.pending and now_s >= self.pending[0]:
            self.rss_at[f"{self.pending.pop(0):g}"] = peak_rss_bytes()
        if self.wall_limit_s is not None and time.perf_counter() - self.started > self.wall_limit_s:
            raise _WallLimit


def measure(scenario_path: Path, overrides: list[str], rss_at_s: list[float], wall_limit_s: float | None) -> dict:
    scenario = load(scenario_path, overrides, max_memory=math.inf)  # measured here, not refused by the estimate
    started = time.perf_counter()
    sim = Simulation(scenario, STRATEGIES[scenario.strategy])
    built, cpu_built = time.perf_counter(), cpu_s()
    watch = Watch(rss_at_s, wall_limit_s)
    try:
        sim.run(watch)
        limited = False
    except _WallLimit:
        limited = True
    wall_s, run_cpu_s = time.perf_counter() - built, cpu_s() - cpu_built
    watch.wall_limit_s = None
    watch(sim.env.now)  # a mark at the very end of the run
    counters = getattr(sim.outcome, "counters", None)
    return {
        "build_s": built - started,
        "sim_s": sim.env.now,
        "workload_s": scenario.workload.duration,
        "wall_s": wall_s,
        "cpu_s": run_cpu_s,
        "wall_limited": limited,
        "events": sim.env.events_processed,
        "flows": len(sim.flow_log),
        "keys_examined": None if counters is None else counters.keys_examined,
        "pulls": None if counters is None else counters.pulls,
        "keys_sent": None if counters is None else counters.keys_sent,
        "shards_moved": None if counters is None else counters.shards_moved,
        "peak_rss_bytes": peak_rss_bytes(),
        "rss_at_s": watch.rss_at,
    }


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="python -m benchmarks.measure", description=__doc__.splitlines()[0])
    parser.add_argument("scenario", type=Path)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE")
    parser.add_argument("--rss-at", type=INSTANT, nargs="*", default=[], metavar="SECONDS",
                        help="simulated times at which to note the peak RSS so far")
    parser.add_argument("--wall-limit", type=SECONDS, metavar="SECONDS", help="stop simulating after this long")
    args = parser.parse_args(argv)
    return print_json(lambda: measure(args.scenario, args.overrides, args.rss_at, args.wall_limit))


def least_cpu(runs: list[dict]) -> dict:
    """The run of least CPU of `runs` (the first of equals), with every run's CPU beside it
    (`runs_cpu_s`): what a benchmark keeps of repeated runs of the same events."""
    return {**min(runs, key=lambda run: run["cpu_s"]), "runs_cpu_s": [run["cpu_s"] for run in runs]}


def seconds_command(argv: list[str] | None, program: str, doc: str, default: Path, seconds: float, seconds_help: str,
                    compute: Callable[[Path, list[str], float], dict]) -> int:
    """The command line of a measurement of a scenario over some simulated seconds
    (`benchmarks.floor`, `benchmarks.events`): `compute(scenario, overrides, seconds)`, printed."""
    args = seconds_parser(program, doc, default, seconds, seconds_help).parse_args(argv)
    return print_json(lambda: compute(args.scenario, args.overrides, args.seconds))


def seconds_parser(program: str, doc: str, default: Path, seconds: float, seconds_help: str) -> argparse.ArgumentParser:
    """The arguments of such a measurement: a scenario (`default`), `--set` and `--seconds`."""
    parser = Parser(prog=f"python -m benchmarks.{program}", description=doc.splitlines()[0])
    parser.add_argument("scenario", type=Path, nargs="?", default=default)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE")
    parser.add_argument("--seconds", type=SECONDS, default=seconds, help=seconds_help)
    return parser


def print_json(compute: Callable[[], dict]) -> int:
    """Print what `compute` returns as one JSON line (exit code 0), or the first problem of its
    scenario in one line (exit code 2)."""
    try:
        result = compute()
    except ScenarioError as error:
        print(f"benchmarks: {error.problems[0]}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
