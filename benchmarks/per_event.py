"""What one pull round trip and one delivered key cost the simulator, in CPU seconds:
`python -m benchmarks.per_event [SCENARIO] [--set PATH=VALUE ...] [--seconds S] [--repeats N]`.

Runs of the scenario in this process, each built anew and timed from its first event:

- a warm-up of a tenth of `--seconds` with updates, then one without, so that no measured run
  pays for first calls (imports, Numba's kernels loaded or compiled, caches filled, the code
  of an idle pull and of a busy one run once);
- idle, for `--seconds` and for twice as long: no updates (the trainers stop after 1 ns; the
  pulls go on), so every pull finds nothing new. What the longer run costs beyond the shorter,
  over the pulls it makes beyond it, is what a pull round trip of a server pair with nothing new
  costs (request, answer on a core, reply, apply, the network's share and the puller's timers);
- busy, for `--seconds` and for twice as long: updates, no drain. What the longer run costs
  beyond the shorter, less its extra pulls at the idle cost, over the keys its extra pulls
  delivered (`keys_sent`), is what a delivered key costs, the trainers' writes and the latency
  tracking counted in.

The four measured runs are made in turn `--repeats` times (3 by default), and of each the one of
least CPU is kept, every repetition's CPU beside it (`runs_cpu_s`): one run's CPU varies by a tenth,
and a difference of two runs magnifies that. The figures are each run's best case. The
repetitions of a run simulate the same events, or the program stops.

Differences, not a run's CPU over its pulls: each run also pays once for what a pull's first
round makes (every puller's random stream, about 36 us each, thousands of them at production's
size), which is no pull's cost. The averages over the longer runs, start included, are reported
beside them (`average_us_per_idle_pull`, `average_ns_per_delivered_key`).

Issue 15's targets: at most 100 us a pull round trip with nothing new, 100 ns a delivered key.
Prints one JSON line.
"""

from __future__ import annotations

import sys
from pathlib import Path

from benchmarks.cases import PRODUCTION
from benchmarks.measure import least_cpu, measure, print_json, seconds_parser
from ekkosim.cli import count
from ekkosim.scenario.load import ScenarioError

COUNTS = ("cpu_s", "pulls", "keys_sent", "events")
REPEATS = 3


def per_event(scenario: Path, overrides: list[str], seconds: float, repeats: int = REPEATS) -> dict:
    def run(duration: str, drain: str) -> dict:
        measured = measure(scenario, [*overrides, f"workload.duration={duration}", f"sync.drain={drain}"], [], None)
        return {name: measured[name] for name in COUNTS}

    run(f"{seconds / 10:g}s", "0s")  # the warm-ups, busy then idle
    run("1ns", f"{seconds / 10:g}s")
    measured = {(kind, s): [] for kind in ("idle", "busy") for s in (seconds, 2 * seconds)}
    for _ in range(repeats):  # the four runs in turn, so that a change of the machine's load touches all four
        for kind, s in measured:
            measured[kind, s].append(run("1ns", f"{s:g}s") if kind == "idle" else run(f"{s:g}s", "0s"))
    idle, busy = ([_least(kind, s, measured[kind, s]) for s in (seconds, 2 * seconds)] for kind in ("idle", "busy"))
    more_idle, more_busy = ({name: b[name] - a[name] for name in COUNTS} for a, b in (idle, busy))
    if not idle[0]["pulls"] or more_idle["pulls"] <= 0:
        _too_short(seconds, "the idle runs made no pull, or no more in twice the time")
    if more_busy["keys_sent"] <= 0:
        _too_short(seconds, "the busy run delivered no more keys in twice the time")
    pull_s = more_idle["cpu_s"] / more_idle["pulls"]
    key_s = (more_busy["cpu_s"] - more_busy["pulls"] * pull_s) / more_busy["keys_sent"]
    if pull_s <= 0 or key_s <= 0:  # the runs' noise is larger than what the longer ones add
        _too_short(seconds, "twice the time cost no more CPU")
    average_pull_s = idle[1]["cpu_s"] / idle[1]["pulls"]
    return {
        "scenario": str(scenario),
        "simulated_s": [seconds, 2 * seconds],
        "idle": idle,
        "busy": busy,
        "us_per_idle_pull": pull_s * 1e6,
        "ns_per_delivered_key": key_s * 1e9,
        "average_us_per_idle_pull": average_pull_s * 1e6,
        "average_ns_per_delivered_key": (busy[1]["cpu_s"] - busy[1]["pulls"] * average_pull_s) / busy[1]["keys_sent"] * 1e9,
    }


def _least(kind: str, seconds: float, runs: list[dict]) -> dict:
    """The run of least CPU of `runs` of one kind (`least_cpu`); they must simulate the same events."""
    counts = [tuple(run[name] for name in COUNTS[1:]) for run in runs]
    if len(set(counts)) > 1:
        raise SystemExit(f"benchmarks: per_event: the {kind} runs of {seconds:g} s simulated "
                         + ", then ".join("/".join(map(str, c)) for c in counts) + " (pulls/keys sent/events): not deterministic")
    return least_cpu(runs)


def _too_short(seconds: float, why: str) -> None:
    raise ScenarioError([f"--seconds {seconds:g}: too short, {why}: simulate longer"])


def main(argv: list[str] | None = None) -> int:
    parser = seconds_parser("per_event", __doc__, PRODUCTION, 1.0, "simulated seconds of each measured run")
    parser.add_argument("--repeats", type=count, default=REPEATS, help="runs of each measured run, the least CPU kept")
    args = parser.parse_args(argv)
    return print_json(lambda: per_event(args.scenario, args.overrides, args.seconds, args.repeats))


if __name__ == "__main__":
    sys.exit(main())
