"""Where a run's memory grows: `python -m benchmarks.memory [--seconds S] [SCENARIO] [--set ...]`.

Builds the simulation (default: the dense paper testbed, `testbed_dense.yaml`, with the hour case's light traffic), then
simulates `--seconds` under tracemalloc and prints the allocations still live at the end that
were made while simulating, by source line, largest first, with the bytes per completed flow.
What the build allocates (the replicas' dense state) is not counted: that does not grow.
"""

from __future__ import annotations

import sys
import tracemalloc
from pathlib import Path

from benchmarks.cases import LIGHT
from benchmarks.measure import SECONDS, Parser
from ekkosim.cli import count
from ekkosim.scenario.load import ScenarioError, load
from ekkosim.simulation import Simulation
from ekkosim.strategies import STRATEGIES


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="python -m benchmarks.memory", description=__doc__.splitlines()[0])
    parser.add_argument("scenario", type=Path, nargs="?", default=Path(__file__).resolve().parent / "testbed_dense.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=None, metavar="PATH=VALUE",
                        help="overrides (default: the hour case's light traffic)")
    parser.add_argument("--seconds", type=SECONDS, default=60.0, help="simulated seconds to watch")
    parser.add_argument("--top", type=count, default=12, help="source lines to print")
    args = parser.parse_args(argv)
    overrides = LIGHT if args.overrides is None else args.overrides
    try:
        scenario = load(args.scenario, [*overrides, f"workload.duration={args.seconds:g}s", "sync.drain=0s"])
    except ScenarioError as error:
        print(f"benchmarks.memory: {error.problems[0]}", file=sys.stderr)
        return 2
    sim = Simulation(scenario, STRATEGIES[scenario.strategy])
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    sim.run()
    growth = tracemalloc.take_snapshot().compare_to(before, "lineno")
    total = sum(stat.size_diff for stat in growth)
    flows = max(len(sim.flow_log), 1)
    print(f"{args.seconds:g} simulated s, {len(sim.flow_log):,} flows: {total / 2**20:,.1f} MiB live that were "
          f"allocated while simulating, {total / flows:,.0f} bytes per flow")
    for stat in growth[: args.top]:
        frame = stat.traceback[0]
        print(f"{stat.size_diff / 2**10:10,.0f} KiB {stat.count_diff:+10,d} blocks  {frame.filename}:{frame.lineno}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
