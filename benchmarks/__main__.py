"""`python -m benchmarks`: run the benchmark cases, print their table, and (full runs) write it
into docs/performance.md with a scaling plot, docs/scaling.png.

Each case runs in a fresh process, one at a time: a run of the simulator (`benchmarks.measure`),
the floor of a scenario's workload (`benchmarks.floor`) or the cost of a pull and of a delivered
key (`benchmarks.per_event`); a case whose resident memory passes `--rss-limit` is stopped and
reported so. Production's and the scaling series' cases run three times, and the run of least
CPU is kept (every run's CPU beside it, `runs_cpu_s`; runs that simulate different events stop
the benchmark; the RSS and build time reported are the kept run's).
Measurements are kept per case in docs/benchmarks.json, so `--cases` reruns some cases and the
docs show every case's latest run.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import psutil

from benchmarks import report
from benchmarks.cases import cases
from benchmarks.measure import SECONDS, Parser, finite, least_cpu

DOCS = Path(__file__).resolve().parents[1] / "docs"


def run_case(case, rss_limit_bytes: float, wall_limit_s: float | None) -> dict:
    """Run `case` `case.runs` times, each in a fresh process, and keep the run of least CPU (with
    every run's CPU seconds beside it): the runs of one case simulate the same events, or the
    benchmark stops. A run whose RSS passes the limit is stopped and the case reported so, and a
    run stopped at the wall limit is the case's only one (its events depend on the machine)."""
    runs = []
    for _ in range(case.runs):
        run = _run_once(case, rss_limit_bytes, wall_limit_s)
        if "stopped" in run or run.get("wall_limited") or case.runs == 1:
            return run
        if runs and run.get("events") != runs[0].get("events"):
            raise SystemExit(f"benchmarks: case {case.name} simulated {runs[0].get('events')} events, "
                             f"then {run.get('events')}: not deterministic")
        runs.append(run)
    return least_cpu(runs)


def _run_once(case, rss_limit_bytes: float, wall_limit_s: float | None) -> dict:
    """Run `case` once in a fresh process, stopping it if its RSS passes the limit."""
    command = [sys.executable, "-m", f"benchmarks.{case.program}", str(case.scenario), *case.arguments]
    for override in case.overrides:
        command += ["--set", override]
    if case.rss_at_s:
        command += ["--rss-at", *(f"{t:g}" for t in case.rss_at_s)]
    if wall_limit_s is not None and case.program == "measure":
        command += ["--wall-limit", f"{wall_limit_s:g}"]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process = psutil.Process(child.pid)
    over = False
    while child.poll() is None:
        try:
            if process.memory_info().rss > rss_limit_bytes:
                over = True
                child.kill()
        except psutil.NoSuchProcess:
            pass
        time.sleep(0.5)
    out, err = child.communicate()
    if over:
        return {"stopped": f"resident memory passed {rss_limit_bytes / 1e9:g} GB"}
    if child.returncode != 0:
        raise SystemExit(f"benchmarks: case {case.name} failed: {err.strip().splitlines()[-1] if err.strip() else child.returncode}")
    return json.loads(out)


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="python -m benchmarks", description="Time the simulator on the benchmark cases.")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test, never written to the docs")
    parser.add_argument("--cases", nargs="+", metavar="NAME", help="run only these cases (default: all)")
    parser.add_argument("--rss-limit", type=finite("GB"), default=8.0, metavar="GB",
                        help="stop a case whose resident memory passes this many GB (10^9 bytes; default 8)")
    parser.add_argument("--wall-limit", type=SECONDS, metavar="SECONDS",
                        help="stop simulating a case after this long; it reports the simulated time it reached")
    parser.add_argument("--no-docs", action="store_true", help="print the table only")
    parser.add_argument("--results", type=Path, default=DOCS / "benchmarks.json", help="where measurements are kept")
    args = parser.parse_args(argv)

    chosen = cases(args.quick)
    if args.cases:
        known = {case.name for case in chosen}
        unknown = [name for name in args.cases if name not in known]
        if unknown:
            parser.error(f"unknown case {unknown[0]!r} (known: {', '.join(sorted(known))})")
        chosen = [case for case in chosen if case.name in args.cases]

    machine = report.machine()
    results = {}
    for case in chosen:
        print(f"running {case.name} ...", file=sys.stderr, flush=True)
        ran = report.provenance(machine)  # the load average as the case starts
        results[case.name] = {**run_case(case, args.rss_limit * 1e9, args.wall_limit), "overrides": list(case.overrides),
                              "scenario": str(case.scenario.relative_to(DOCS.parent)), **ran}
    if args.quick or args.no_docs:
        print(report.table(cases(args.quick), results) + "\n\n" + report.target_table(cases(args.quick), results))
        return 0
    all_cases = cases()
    kept = json.loads(args.results.read_text()) if args.results.exists() else {}
    names = {case.name for case in all_cases}
    kept = {name: r for name, r in {**kept, **results}.items() if name in names}
    args.results.write_text(json.dumps(kept, indent=1, sort_keys=True) + "\n")
    print(report.table(all_cases, kept) + "\n\n" + report.target_table(all_cases, kept))
    report.plot(all_cases, kept, DOCS / "scaling.png")
    report.write_docs(DOCS / "performance.md", all_cases, kept)
    return 0


if __name__ == "__main__":
    sys.exit(main())
