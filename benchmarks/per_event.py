"""What one pull round trip and one delivered key cost the simulator, in CPU seconds:
`python -m benchmarks.per_event [SCENARIO] [--set PATH=VALUE ...] [--seconds S]`.

Three runs of the scenario in this process, each built anew and timed from its first event:

- a warm-up of a tenth of `--seconds` with updates, so that neither measured run pays for
  first calls (imports, Numba's kernels loaded or compiled, caches filled);
- idle: no updates (the trainers stop after 1 ns; the pulls go on for `--seconds`): every pull
  finds nothing new, so the run's CPU over its pulls is what a pull round trip of a server pair
  with nothing new costs (request, answer on a core, reply, apply, and the network's share);
- busy: updates for `--seconds`, no drain: the CPU beyond its pulls at the idle cost, over the
  keys its pulls delivered (`keys_sent`), is what a delivered key costs, the trainers' writes
  and the latency tracking counted in.

Issue 15's targets: at most 100 us a pull round trip with nothing new, 100 ns a delivered key.
Prints one JSON line.
"""

from __future__ import annotations

import sys
from pathlib import Path

from benchmarks.cases import PRODUCTION
from benchmarks.measure import measure, seconds_command
from ekkosim.scenario.load import ScenarioError


def per_event(scenario: Path, overrides: list[str], seconds: float) -> dict:
    def run(duration: str, drain: str) -> dict:
        return measure(scenario, [*overrides, f"workload.duration={duration}", f"sync.drain={drain}"], [], None)

    run(f"{seconds / 10:g}s", "0s")
    idle, busy = run("1ns", f"{seconds:g}s"), run(f"{seconds:g}s", "0s")
    if not idle["pulls"] or not busy["keys_sent"]:
        short = "the idle run made no pull" if not idle["pulls"] else "the busy run delivered no key"
        raise ScenarioError([f"--seconds {seconds:g}: too short, {short}: simulate longer"])
    pull_s = idle["cpu_s"] / idle["pulls"]
    key_s = (busy["cpu_s"] - busy["pulls"] * pull_s) / busy["keys_sent"]
    return {
        "scenario": str(scenario),
        "simulated_s": seconds,
        "idle": {name: idle[name] for name in ("cpu_s", "pulls", "keys_sent", "events")},
        "busy": {name: busy[name] for name in ("cpu_s", "pulls", "keys_sent", "events")},
        "us_per_idle_pull": pull_s * 1e6,
        "ns_per_delivered_key": key_s * 1e9,
    }


def main(argv: list[str] | None = None) -> int:
    return seconds_command(argv, "per_event", __doc__, PRODUCTION, 1.0, "simulated seconds of each measured run", per_event)


if __name__ == "__main__":
    sys.exit(main())
