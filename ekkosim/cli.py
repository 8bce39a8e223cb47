"""The `ekkosim` command: run, validate, schema, reproduce, sweep, calibrate, plot, compare.

Exit codes: 0 success, 2 bad scenario or usage (one line per problem, naming the field), 3 a
run failed: an invariant of the sync violated, or a run whose faults were all repaired did not
converge (`run --check`), or some runs of a sweep or a
calibration (each recorded with its error; the others ran), 1 an internal error (a bug: the message says so), 130
interrupted. Bad input never produces a traceback.

Output suits a terminal, a pipe and a log alike: tables on stdout at their full width (a pipe
gets no 80-column cut), messages and progress on stderr; without a terminal, progress is a line
every 10 s instead of a bar (`ekkosim.progress`), and `--quiet` silences both.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TypeVar

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from ekkosim import __version__
from ekkosim.input_file import size_text
from ekkosim.kernel import caused_by_interrupt
from ekkosim.pool import SchedulerError
from ekkosim.progress import ProgressLines, duration_text, eta_text, ticking
from ekkosim.results.headline import headline
from ekkosim.results.manifest import RunFolderError
from ekkosim.scenario import footprint
from ekkosim.scenario.load import ScenarioError, load
from ekkosim.scenario.describe import json_schema
from ekkosim.scenario.user_code import ALLOW_CODE
from ekkosim.schema import Scenario
from ekkosim.units import SIZE
from ekkosim.scheduler.priority import PriorityFunctionError

T = TypeVar("T")
EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT, EXIT_RUN_FAILED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors exit with our code 2 and one line (argparse uses 2 as well)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"ekkosim: error: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ekkosim", description="Simulate geo-distributed parameter servers (Ekko, OSDI 2022).")
    parser.add_argument("--version", action="version", version=f"ekkosim {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    run = sub.add_parser("run", help="run a scenario and write its results folder")
    run.add_argument("scenario", type=Path, help="scenario YAML file")
    run.add_argument("--seed", type=int, help="override the scenario's seed")
    run.add_argument("--out", type=Path, help="results folder (default runs/<scenario>-<seed>/, and for a "
                     "scenario changed by --set runs/<scenario>-<seed>-<tag>/, the tag naming the changes)")
    run.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE",
        help="override a field before validation, e.g. --set topology.wan.bandwidth=1Gbps (repeatable)",
    )
    run.add_argument("--quiet", action="store_true", help="print nothing but errors")
    run.add_argument("--check", action="store_true",
                     help="check the sync's invariants as the run goes (a violation stops it) and that a run "
                          "whose faults were all repaired converged (exit code 3 if not)")
    _add_no_plots(run)
    _add_trust_arguments(run)

    validate = sub.add_parser("validate", help="check scenario files without running them (nothing is imported)")
    validate.add_argument("scenarios", type=Path, nargs="+")
    _add_trust_arguments(validate)

    sub.add_parser("schema", help="print the scenario JSON Schema (for editors: ekkosim schema > ekkosim.schema.json)")

    reproduce = sub.add_parser("reproduce", help="the paper's numbers beside the simulator's")
    reproduce.add_argument("experiment", choices=["ablation", "latency", "baselines", "all", "sensitivity", "validate"],
                           help="`all` is ablation, latency and baselines; `sensitivity` halves and doubles "
                           "each assumed parameter of the testbed (many runs); `validate` prints the held-out "
                           "figures, published figures that no calibration targets")
    reproduce.add_argument("--json", action="store_true", help="print the rows as JSON")
    reproduce.add_argument("--quick", action="store_true", help="shorter simulated time (as CI runs it)")
    reproduce.add_argument("--out", type=Path, default=Path("runs/reproduce"), help="where the runs go")
    _add_pool_arguments(reproduce)
    reproduce.add_argument("--scenarios", type=Path, help="the scenarios folder (default: the one shipped)")
    reproduce.add_argument("--parameters", nargs="+", metavar="PATH",
                           help="sensitivity only: the --set paths to vary (default: every assumed parameter)")
    reproduce.add_argument("--testbed", type=Path, metavar="SCENARIO",
                           help="the testbed scenario to run instead of paper/testbed.yaml, e.g. a calibration's "
                           "fitted.yaml")
    reproduce.add_argument("--quiet", action="store_true", help="no progress (the tables still print)")
    _add_no_plots(reproduce)
    _add_memory_argument(reproduce)

    sweep = sub.add_parser("sweep", help="run a base scenario at many points (a grid, a list, seeds); "
                           "a rerun skips the runs already complete")
    sweep.add_argument("sweep", type=Path, help="sweep YAML file (docs/sweeps.md)")
    sweep.add_argument("--out", type=Path, help="where the runs and sweep.parquet go (default runs/<sweep name>/)")
    _add_pool_arguments(sweep)
    sweep.add_argument("--quiet", action="store_true", help="print nothing but errors")
    _add_no_plots(sweep)
    _add_trust_arguments(sweep)

    calibrate = sub.add_parser("calibrate", help="fit a scenario's free parameters to measured figures; "
                               "a rerun resumes, reading the runs already complete")
    calibrate.add_argument("calibration", type=Path, help="calibration YAML file (docs/calibration.md)")
    calibrate.add_argument("--out", type=Path, help="where the runs, calibration.parquet, calibration.json and the "
                           "fitted scenarios go (default runs/<calibration name>/)")
    _add_pool_arguments(calibrate)
    calibrate.add_argument("--quiet", action="store_true", help="print nothing but errors")

    plot = sub.add_parser("plot", help="update-latency CDFs of run folders")
    plot.add_argument("runs", type=Path, nargs="+", help="run folders of strategy ekko")
    plot.add_argument("--out", type=Path, required=True, help="the PNG file to write")
    plot.add_argument("--by", choices=["run", "dc"], default="run",
                      help="one line per run (its cross-DC latency), or per DC of one run")

    compare = sub.add_parser("compare", help="runs side by side: what their scenarios set differently, "
                             "every summary figure with its ratio to the first run's, an overlaid latency CDF")
    compare.add_argument("runs", type=Path, nargs="+", metavar="RUN", help="finished run folders")
    compare.add_argument("--json", action="store_true", help="print the comparison as JSON")
    compare.add_argument("--plot", type=Path, default=Path("compare.png"),
                         help="the overlaid CDF's PNG file (default compare.png)")
    _add_no_plots(compare)
    return parser


def _add_no_plots(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-plots", dest="plots", action="store_false",
                        help="draw no figures (a run folder's latency_cdf.png, links.png, quality.png)")


def _add_trust_arguments(parser: argparse.ArgumentParser) -> None:
    """What the user allows a scenario: to run Python code it names, and how much memory."""
    parser.add_argument(ALLOW_CODE, action="store_true",
                        help="run Python code the scenario names (scheduler.priority: 'module:function'); "
                        "only for scenarios you trust")
    _add_memory_argument(parser)


def _add_memory_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-memory", type=_memory, default=footprint.DEFAULT_LIMIT_BYTES, metavar="SIZE",
                        help="refuse a run whose estimated memory is above this (default "
                        f"{size_text(footprint.DEFAULT_LIMIT_BYTES)}; e.g. 32GiB)")


def _memory(text: str) -> float:
    try:
        value = SIZE.parse(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def count(text: str) -> int:
    """An argparse type: a whole number, at least 1 (also the benchmarks' programs')."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _add_pool_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", type=count, default=2, help="runs at once (processes)")
    parser.add_argument("--scheduler", metavar="ADDRESS", help="run on Dask instead: a scheduler's address, or "
                        "`local` for a LocalCluster of --workers processes")


@contextmanager
def _runs_bar(label: str, quiet: bool = False) -> Iterator[Callable[[int, int], None]]:
    """One progress bar over runs, on stderr (so `--json` output stays clean on stdout) if it is a
    terminal, else a line every 10 s; yields the `progress(done, total)` to call."""
    console = Console(stderr=True)
    if quiet:
        yield lambda done, total: None
        return
    if not console.is_terminal:
        state = {"done": 0, "total": None}

        def line(elapsed_s: float) -> str:
            done, total = state["done"], state["total"]
            return (f"{label}: {done}/{'?' if total is None else total} runs done, "
                    f"{duration_text(elapsed_s)} elapsed, {eta_text(elapsed_s, done, total)}")

        with ticking(ProgressLines(line)):
            yield lambda done, total: state.update(done=done, total=total)
        return
    with Progress(TextColumn(f"[bold]{label}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task("runs", total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _interruptible(label: str, quiet: bool, out: Path, rerun: str,
                   work: Callable[[Callable[[int, int], None]], T]) -> T | None:
    """`work(progress)` under a progress bar over runs; None if it was interrupted (Ctrl-C, which
    `ekkosim.pool` stops everything on), which is said in one line on stderr, with what a rerun
    does: the complete runs stay in `out`."""
    try:
        with _runs_bar(label, quiet) as progress:
            return work(progress)
    except KeyboardInterrupt:
        print(f"interrupted; the complete runs stay in {out}, and a rerun {rerun}", file=sys.stderr)
        return None


class _ProgressDisplay:
    """A progress bar over simulated time that appears only once a run has taken ~2 s; without a
    terminal, a line every 10 s on stderr (`ekkosim.progress`)."""

    DELAY_S = 2.0

    def __init__(self, console: Console):
        self.console = console
        self.until_s: float | None = None
        self.started = time.perf_counter()
        self.progress: Progress | None = None
        self.task = None
        self.sim = None
        self.now_s = 0.0
        self.lines = ExitStack()  # the thread that prints the lines, without a terminal

    def start(self, sim) -> None:
        """Learn when the run will end (if the strategy or the scenario says)."""
        self.sim = sim
        self.until_s = sim.outcome.expected_end_s(sim.scenario.until)
        if not self.console.is_terminal:
            self.lines.enter_context(ticking(ProgressLines(self.line, self.console.file)))

    def line(self, elapsed_s: float) -> str:
        """Where the run is, for a log: simulated time, events, wall time, and what remains."""
        until = "" if self.until_s is None else f" of {self.until_s:,.1f} s"
        events = 0 if self.sim is None else self.sim.env.events_processed
        return (f"simulated t = {self.now_s:,.1f} s{until}, {events:,} events, {duration_text(elapsed_s)} elapsed, "
                f"{eta_text(elapsed_s, self.now_s, self.until_s)}")

    def __call__(self, now_s: float) -> None:
        self.now_s = now_s
        if not self.console.is_terminal:
            return
        if self.progress is None:
            if time.perf_counter() - self.started < self.DELAY_S:
                return
            self.progress = Progress(
                TextColumn("[bold]simulating"), BarColumn(), TextColumn("{task.fields[clock]}"),
                TimeElapsedColumn(), console=self.console, transient=True,
            )
            self.progress.start()
            self.task = self.progress.add_task("run", total=self.until_s, clock="")
        self.progress.update(self.task, completed=now_s, clock=f"t = {now_s:,.1f} s")

    def close(self) -> None:
        self.lines.close()
        if self.progress is not None:
            self.progress.stop()


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:,.3f}"


def _latency(stats: dict, field: str) -> str:
    """A latency statistic's cell: "> T" (T the shortest wait of an undelivered pair, seconds)
    where undelivered pairs leave it undetermined (`ekkosim.metrics.censored`)."""
    if stats.get(f"{field}_censored"):
        return f"> {_number(stats['undelivered_after_s'])}"
    return _number(stats[field])


def _per_dc_table(summary: dict, scenario: Scenario) -> Table:
    table = Table(title=f"{scenario.name}: strategy {summary['strategy']}, seed {summary['seed']}")
    table.add_column("data center")
    table.add_column("role")
    if "latency_by_dc_s" in summary:
        slo = summary.get("slo", {}).get("by_dc")
        headings = ["latency mean s", "p50 s", "p99 s", "samples", "undelivered"]
        headings += ["SLO drop mean %", "peak %"] if slo is not None else []
        for heading in headings:
            table.add_column(heading, justify="right")
        for dc in scenario.topology.datacenters:
            stats = summary["latency_by_dc_s"].get(dc.name)
            cells = ["-"] * 5 if stats is None else [
                *(_latency(stats, field) for field in ("mean", "p50", "p99")), f"{stats['count']:,}",
                f"{stats.get('undelivered', 0):,}"]
            if slo is not None:
                drop = slo.get(dc.name)
                cells += ["-"] * 2 if drop is None else [_number(drop["mean_pct"]), _number(drop["peak_pct"])]
            table.add_row(dc.name, dc.role, *cells)
    else:
        table.add_column("model ready (s)", justify="right")
        ready = summary.get("model_ready_s", {})
        for dc in scenario.topology.datacenters:
            value = ready.get(dc.name)
            table.add_row(dc.name, dc.role, "-" if dc.name not in ready else ("not reached" if value is None else _number(value)))
    return table


def _totals_table(summary: dict, out: Path, checked: bool = False) -> Table:
    totals = Table(show_header=False, box=None)
    totals.add_column(style="bold")
    totals.add_column()
    totals.add_row("simulated time", f"{summary['sim_time_s']:,.3f} s" + ("" if summary["complete"] else " (stopped early)"))
    totals.add_row("wall time", f"{summary['wall_time_s']:,.2f} s ({summary['events']:,} events)")
    if "latency_s" in summary:
        latency = summary["latency_s"]
        totals.add_row("update latency", f"mean {_latency(latency, 'mean')} s, p99 {_latency(latency, 'p99')} s "
                       f"over {latency['count']:,} (update, replica) samples"
                       + (f", {latency['undelivered']:,} undelivered" if latency.get("undelivered") else ""))
        totals.add_row("cross-DC / intra-DC mean", f"{_number(summary['cross_dc_latency_s'])} s / {_number(summary['intra_dc_latency_s'])} s")
        for priority, stats in summary.get("latency_by_priority_s", {}).items():
            totals.add_row(f"{priority}-priority updates", f"mean {_latency(stats, 'mean')} s, p99 {_latency(stats, 'p99')} s "
                           f"({stats['count']:,} samples)")
        if "slo" in summary:
            slo = summary["slo"]
            totals.add_row("SLO drop (service of a DC)", f"peak {_number(slo['slo_drop_peak_pct'])} %, mean "
                           f"{_number(slo['slo_drop_mean_pct'])} %, quality lost {slo['quality_lost_pct_s']:,.2f} %·s")
        totals.add_row("updates produced", f"{summary['updates']:,}")
        totals.add_row("pulls, keys examined", f"{summary['pulls']:,}, {summary['keys_examined']:,} ({summary['full_scans']:,} full scans)")
        _add_regime(totals, summary["regime"])
        style = "green" if summary["converged"] else "red"
        totals.add_row("converged", f"[{style}]{str(summary['converged']).lower()}[/{style}]")
        totals.add_row("lost updates", "-" if summary["lost_updates"] is None else f"{summary['lost_updates']:,}")
        if summary["failed_pulls"]:
            totals.add_row("failed pulls (retried)", f"{summary['failed_pulls']:,}")
    if checked:
        totals.add_row("invariants (--check)", "[green]held throughout the run[/green]" if "converged" in summary
                       else f"none to check: strategy {summary['strategy']} has no sync")
    totals.add_row("flows completed", f"{summary['flows']:,}")
    totals.add_row("bytes over WAN / LAN", f"{summary['bytes_wan'] / 1e9:,.3f} GB / {summary['bytes_lan'] / 1e9:,.3f} GB")
    if summary["bytes_background"]:
        totals.add_row("background bytes", f"{summary['bytes_background'] / 1e9:,.3f} GB")
    totals.add_row("digest", summary["digest"][:16])
    totals.add_row("results", str(out) + "".join(f", {name}" for name in _figure_files(out)))
    return totals


def _figure_files(out: Path) -> list[str]:
    """The figures a run folder holds, by file name."""
    return sorted(path.name for path in Path(out).glob("*.png"))


def _faults_table(summary: dict, scenario: Scenario) -> Table:
    """The faults the run injected, each with its target and when it broke and was repaired."""
    injected = summary["faults"]["injected"]
    table = Table(title=f"faults injected: {len(injected)}, local leader changes "
                        f"{summary['faults'].get('leader_changes', 0):,}")
    for heading in ("fault", "kind", "target", "at s", "repaired s"):
        table.add_column(heading, justify="right" if heading.endswith(" s") or heading == "fault" else "left")
    for fault in injected:
        table.add_row(str(fault["fault"]), fault["kind"], _fault_target(fault, scenario), _number(fault["at_s"]),
                      "not in the run" if fault["recovered_s"] is None else _number(fault["recovered_s"]))
    return table


def _fault_target(fault: dict, scenario: Scenario) -> str:
    """What an injected fault (its line in the summary) broke."""
    spec = scenario.faults[fault["fault"]]
    return fault.get("target") or getattr(spec, "link", None) or ", ".join(getattr(spec, "dcs", ["-"]))


def _manager_table(summary: dict) -> Table:
    """The model state manager's incidents, each step timed (seconds of simulated time)."""
    manager = summary["manager"]
    table = Table(title=f"model state manager: {len(manager['incidents'])} incident(s), "
                        f"{manager['false_alarms']} false alarm(s)")
    for heading in ("model", "injected", "uncertain", "detected", "traffic switched", "rollback complete (slowest DC)",
                    "healthy"):
        table.add_column(heading, justify="left" if heading == "model" else "right")
    for incident in manager["incidents"]:
        complete = incident["rollback_complete_s"]
        slowest = max(complete, key=complete.get) if complete else None
        table.add_row(incident["model"], _number(incident["injected_at_s"]), _number(incident["uncertain_at_s"]),
                      _number(incident["detected_at_s"]), _number(incident["traffic_switched_at_s"]),
                      "-" if slowest is None else f"{_number(complete[slowest])} ({slowest})",
                      _number(incident["healthy_at_s"]))
    return table


def _run(args: argparse.Namespace, console: Console) -> int:
    from ekkosim import runner  # imported here so `validate` and `schema` start fast
    from ekkosim.sync.invariants import InvariantViolation

    overrides = list(args.overrides) + ([f"seed={args.seed}"] if args.seed is not None else [])
    scenario = load(args.scenario, overrides, allow_code=args.allow_code, max_memory=args.max_memory)
    out = args.out or runner.default_out(scenario)
    display = None if args.quiet else _ProgressDisplay(_console(stderr=True))
    clock = {"now": 0.0}

    def on_progress(now_s: float) -> None:
        clock["now"] = now_s
        if display is not None:
            display(now_s)

    try:
        summary = runner.run(scenario, out, on_progress=on_progress, on_start=display.start if display else None,
                             check=args.check, plots=args.plots)
    except InvariantViolation as err:
        if display is not None:
            display.close()
        print(f"error: {err} ({out} is incomplete)", file=sys.stderr)
        return EXIT_RUN_FAILED
    except KeyboardInterrupt:
        if display is not None:
            display.close()
        _console(stderr=True).print(f"interrupted at simulated t = {clock['now']:,.3f} s; {out} is incomplete",
                                    style="yellow", soft_wrap=True)
        return EXIT_INTERRUPTED
    except PriorityFunctionError as err:  # the user's function failed on a batch of the run
        if display is not None:
            display.close()
        print(f"error: scheduler.priority: {err} ({out} is incomplete)", file=sys.stderr)
        return EXIT_BAD_INPUT
    if display is not None:
        display.close()
    if not args.quiet:
        console.print(_per_dc_table(summary, scenario))
        if "manager" in summary:
            table = _manager_table(summary)
            console.print(table if summary["manager"]["incidents"] else table.title)
        if summary.get("faults", {}).get("injected"):
            console.print(_faults_table(summary, scenario))
        console.print(_totals_table(summary, out, checked=args.check))
    return _convergence_verdict(summary, scenario) if args.check else EXIT_OK


def _convergence_verdict(summary: dict, scenario: Scenario) -> int:
    """`run --check` on a run that did not converge. A fault never repaired, or repaired after
    the trainers stopped (the run had less than its drain after it), explains it: one line,
    exit 0. Otherwise (the checker stops a run whose faults were all repaired in time at its
    end, so these are faults scheduled past the run's end): one line, exit 3."""
    if summary.get("converged") is not False:
        return EXIT_OK
    faults = summary.get("faults", {}).get("injected", [])
    duration = scenario.workload.duration
    explained = [f"fault {f['fault']} ({f['kind']} of {_fault_target(f, scenario)}) "
                 + ("never repaired" if f["recovered_s"] is None else f"repaired during the drain, at t = {f['recovered_s']:,.3f} s")
                 for f in faults if f["recovered_s"] is None or f["recovered_s"] > duration]
    if explained:
        print(f"not converged, as expected: {'; '.join(explained)}", file=sys.stderr)
        return EXIT_OK
    print(f"error: not converged with every fault in the run repaired: {summary['undelivered']:,} (update, replica) "
          f"pairs undelivered (a sync.drain too short, or a bug in the sync)", file=sys.stderr)
    return EXIT_RUN_FAILED


def _validate(args: argparse.Namespace, console: Console) -> int:
    worst = EXIT_OK
    for path in args.scenarios:
        try:
            scenario = load(path, allow_code=args.allow_code, max_memory=args.max_memory)
        except ScenarioError as err:
            worst = EXIT_BAD_INPUT
            for problem in err.problems:
                print(f"{path}: {problem}", file=sys.stderr)
        else:
            memory = size_text(footprint.estimate(scenario, _trace_bytes(scenario)).bytes)
            console.print(f"{path}: ok ({scenario.name}, strategy {scenario.strategy}, about {memory} of memory)",
                          soft_wrap=True)
    return worst


def _trace_bytes(scenario: Scenario) -> int:
    return scenario.trace_path.stat().st_size if scenario.trace_path is not None else 0


def _reproduce(args: argparse.Namespace, console: Console) -> int:
    from ekkosim import reproduce

    if args.parameters and args.experiment != "sensitivity":
        print(f"error: --parameters is for `reproduce sensitivity` only, not {args.experiment}", file=sys.stderr)
        return EXIT_BAD_INPUT
    names = list(reproduce.ALL) if args.experiment == "all" else [args.experiment]
    try:
        with _runs_bar("reproduce runs", args.quiet) as progress:
            results = reproduce.reproduce(
                names, args.out, quick=args.quick, workers=args.workers, scheduler=args.scheduler,
                scenarios=args.scenarios or reproduce.SCENARIOS, testbed=args.testbed,
                parameters=tuple(args.parameters) if args.parameters else reproduce.ASSUMED, progress=progress,
                plots=args.plots, max_memory=args.max_memory)
    except reproduce.RunFailed as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_RUN_FAILED
    if args.json:
        rows = {name: [row.as_json() for row in rows] for name, rows in results.items()}
        print(json.dumps(rows if args.experiment == "all" else rows[args.experiment], indent=2))
        return EXIT_OK
    for name, rows in results.items():
        table = Table(title=f"reproduce {name}" + (" (quick)" if args.quick else ""))
        if name == "validate":
            _held_out_table(table, rows)
        else:
            for heading in ("configuration", "paper (s)", "simulated mean (s)", "p50 (s)", "p99 (s)",
                            "simulated / paper"):
                table.add_column(heading, justify="left" if heading == "configuration" else "right")
            for row in rows:
                table.add_row(row.config, _number(row.paper_s), _number(row.sim_s), _number(row.p50_s),
                              _number(row.p99_s), _ratio(row.ratio))
        console.print(table)
    return EXIT_OK


def _held_out_table(table: Table, rows: list) -> None:
    """The held-out figures: each published figure (a bound: "< 2 %") beside the simulator's,
    its error (a ratio, or whether the bound holds) and its source."""
    for heading in ("figure", "published", "simulated", "error", "source"):
        table.add_column(heading, justify="right" if heading in ("published", "simulated", "error") else "left")
    for row in rows:
        published = "-" if row.paper_s is None else f"{row.bound or ''} {row.paper_s:g} {row.unit}".strip()
        simulated = ("not available" if row.sim_s is None else
                     f"{row.sim_s if isinstance(row.sim_s, int) else _number(row.sim_s)} {row.unit}")
        error = _ratio(row.ratio) if row.bound is None else {True: "holds", False: "fails", None: "-"}[row.holds]
        table.add_row(row.config, published, simulated, error, row.source or "")


def _ratio(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.2f}"


def _sweep(args: argparse.Namespace, console: Console) -> int:
    from ekkosim.run_files import SWEEP_TABLE
    from ekkosim.sweep import read_sweep, run_sweep

    # every point validated before any run starts
    sweep = read_sweep(args.sweep, allow_code=args.allow_code, max_memory=args.max_memory)
    out = args.out or Path("runs") / sweep.name
    result = _interruptible(f"sweep {sweep.name}", args.quiet, out, "makes the others", lambda progress:
                            run_sweep(sweep, out, workers=args.workers, scheduler=args.scheduler, progress=progress,
                                      plots=args.plots, allow_code=args.allow_code, max_memory=args.max_memory))
    if result is None:
        return EXIT_INTERRUPTED
    failed, table_path = result.failed, out / SWEEP_TABLE
    if not args.quiet:
        headlines = {index: headline(job.summary) for index, job in enumerate(result.jobs) if job.summary}
        headings = list(dict.fromkeys(label for row in headlines.values() for label in row))
        table = Table(title=f"sweep {sweep.name}: {len(sweep.points)} runs, {result.skipped} already complete")
        for heading in ("run", *sweep.varied_paths, "seed"):
            table.add_column(heading)
        for heading in headings:
            table.add_column(heading, justify="right")
        table.add_column("digest or error")
        for point, job in zip(sweep.points, result.jobs):
            row = headlines.get(point.index, {})
            ending = Text(job.error, style="red") if job.error else job.summary["digest"][:16]
            table.add_row(point.folder, *(point.varied.get(path, "") for path in sweep.varied_paths),
                          str(point.seed), *(_cell(row.get(heading)) for heading in headings), ending)
        console.print(table)
        console.print(f"results: {table_path}")
    if failed:
        print(f"error: {len(failed)} of {len(sweep.points)} runs failed: "
              + ", ".join(sweep.points[i].folder for i in failed) + f" (errors in {table_path})",
              file=sys.stderr)
        return EXIT_RUN_FAILED
    return EXIT_OK


def _add_regime(totals: Table, regime: dict) -> None:
    """The regime of the run beside Ekko's (docs/design.md, "The paper's regime")."""
    def share(value: float | None) -> str:
        return "-" if value is None else f"{100 * value:.3g} %"

    totals.add_row("regime: update cache", f"{share(regime['cache_share'])} of keys (Ekko 0.13-0.2 %), hit ratio "
                   f"{share(regime['cache_hit_ratio'])} (Ekko ~99.4 %)")
    totals.add_row("regime: keys changed", f"{share(regime['keys_changed_per_hour_share'])} of the model per hour "
                   "(Ekko 3.08 %)")
    totals.add_row("regime: per pull", f"{share(regime['shards_moved_per_pull'])} of shards moved, request "
                   f"{regime['request_bytes_per_pull']:,.0f} B, reply {regime['reply_bytes_per_pull']:,.0f} B")
    busiest = regime["busiest"]
    if busiest is not None:
        totals.add_row("regime: busiest resource", f"{busiest['resource']} ({busiest['kind']}), "
                       f"{share(busiest['utilisation'])} busy")


def _calibrate(args: argparse.Namespace, console: Console) -> int:
    from ekkosim.calibrate import SUMMARY_FILE, TABLE, calibrate, fit_summary, read_calibration

    calibration = read_calibration(args.calibration)  # every variant and bound validated before any run
    out = args.out or Path("runs") / calibration.name
    result = _interruptible(f"calibrate {calibration.name}", args.quiet, out, "resumes the search",
                            lambda progress: calibrate(calibration, out, workers=args.workers,
                                                       scheduler=args.scheduler, progress=progress))
    if result is None:
        return EXIT_INTERRUPTED
    if not args.quiet and result.best is not None:
        fit = fit_summary(calibration, result)
        parameters = Table(title=f"calibrate {calibration.name}: the fitted parameters")
        for heading in ("parameter", "fitted", "range", "scale", "reason"):
            parameters.add_column(heading, overflow="fold")
        for row in fit["parameters"]:
            parameters.add_row(row["path"], str(row["shown"]), " to ".join(row["range"]), row["scale"], row["reason"])
        console.print(parameters)
        targets = Table(title=f"the targets at the fit (evaluation {fit['evaluation']})",
                        caption=f"objective {fit['objective']:.4g}: the weighted mean of ln(fitted / target)^2")
        for heading in ("target", "target value", "fitted", "error %", "weight"):
            targets.add_column(heading, justify="left" if heading == "target" else "right")
        for row in fit["targets"]:
            targets.add_row(row["name"], f"{row['value']:.4g}", f"{row['fitted']:.4g}", f"{row['error_pct']:+.1f}",
                            f"{row['weight']:g}")
        console.print(targets)
        console.print(f"{len(result.evaluations)} evaluations ({result.runs_made} runs made, {result.runs_read} read "
                      f"from earlier); results: {out / SUMMARY_FILE}, {out / TABLE}, fitted scenario "
                      f"{out / fit['fitted']['scenario']}", soft_wrap=True)
    failed = result.failed
    if result.best is None:
        print(f"error: no evaluation could be scored ({len(failed)} failed; errors in {out / TABLE})", file=sys.stderr)
        return EXIT_RUN_FAILED
    if failed:
        print(f"error: {len(failed)} of {len(result.evaluations)} evaluations failed: evaluations "
              + ", ".join(str(point.index) for point in failed) + f" (errors in {out / TABLE})", file=sys.stderr)
        return EXIT_RUN_FAILED
    return EXIT_OK


def _plot(args: argparse.Namespace, console: Console) -> int:
    from ekkosim.plot import PlotError, plot_cdfs

    try:
        out = plot_cdfs(args.runs, args.out, by_dc=args.by == "dc")
    except PlotError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    console.print(f"wrote {out}")
    return EXIT_OK


def _cell(value) -> str:
    """A summary figure in a table cell: numbers to 4 significant digits, booleans as words."""
    if value is None or isinstance(value, str):
        return "-" if value is None else value
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.0f}" if abs(value) >= 1e5 else f"{value:.4g}"


def _compare(args: argparse.Namespace, console: Console) -> int:
    from ekkosim.compare import compare, plot, ratios
    from ekkosim.plot import PlotError

    comparison = compare(args.runs)
    try:
        plotted, left_out = plot(args.runs, comparison.labels, args.plot) if args.plots else (None, [])
    except PlotError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    notes = ([f"wrote {plotted} (cross-DC latency CDFs)"] if plotted else []) + (
        [f"no latency to plot for {', '.join(left_out)} (only strategy ekko measures it)"] if left_out else [])
    if args.json:
        print(json.dumps(comparison.as_json(), indent=2))
        for note in notes:
            print(note, file=sys.stderr)
        return EXIT_OK
    labels = comparison.labels
    if comparison.scenario_differences:
        table = Table(title="what the scenarios set differently")
        for heading in ("field", *labels):
            table.add_column(heading)
        for path, values in comparison.scenario_differences.items():
            table.add_row(path, *(_cell(value) if not isinstance(value, (list, dict)) else json.dumps(value)
                                  for value in values))
        console.print(table)
    else:
        console.print("the scenarios are alike in every field")
    for title, rows in (("headline", comparison.headline), ("summary", comparison.summary)):
        to_first = ratios(rows)
        table = Table(title=f"{title}: each run, and its ratio to the first")
        table.add_column("figure")
        for i, label in enumerate(labels):
            table.add_column(label, justify="right")
            if i:
                table.add_column("ratio", justify="right")
        for name, values in rows.items():
            cells = []
            for i, value in enumerate(values):
                cells.append(value[:16] if name == "digest" else _cell(value))
                if i:
                    cells.append("-" if to_first[name][i] is None else f"{to_first[name][i]:.3f}")
            table.add_row(name, *cells)
        console.print(table)
    for note in notes:
        console.print(note, soft_wrap=True)
    return EXIT_OK


def _schema(args: argparse.Namespace, console: Console) -> int:
    print(json.dumps(json_schema(), indent=2))
    return EXIT_OK


def _console(stderr: bool = False) -> Console:
    """A console for stdout (or stderr): a terminal's width, or, in a pipe or a log, wide enough
    that no table is cut (whatever COLUMNS says: a variable some tools export as 80)."""
    console = Console(stderr=stderr)
    if console.is_terminal:
        return console
    return Console(stderr=stderr, width=PIPE_WIDTH)


PIPE_WIDTH = 1000  # characters: wider than any table ekkosim prints


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:  # plain `ekkosim`: what it can do
        parser.print_help()
        return EXIT_OK
    console = _console()
    command = {"run": _run, "validate": _validate, "schema": _schema, "reproduce": _reproduce, "sweep": _sweep,
               "calibrate": _calibrate, "plot": _plot, "compare": _compare}[args.command]
    try:
        return command(args, console)
    except KeyboardInterrupt:  # a command with nothing of its own to say (`run` and `sweep` say where things stand)
        print("ekkosim: interrupted; the runs that had not finished are marked INCOMPLETE", file=sys.stderr)
        return EXIT_INTERRUPTED
    except ScenarioError as err:
        for problem in err.problems:
            print(f"error: {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (RunFolderError, SchedulerError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as err:  # noqa: BLE001 - the last line of defence: a bug, said plainly
        if caused_by_interrupt(err):  # Ctrl-C inside compiled code (Numba) comes out as a SystemError
            print("ekkosim: interrupted; the runs that had not finished are marked INCOMPLETE", file=sys.stderr)
            return EXIT_INTERRUPTED
        traceback.print_exc()
        print(f"ekkosim: internal error (a bug, please report it with the lines above): {err!r}", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
