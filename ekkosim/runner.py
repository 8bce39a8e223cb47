"""Running a scenario end to end: simulate, then write the run folder (summary last)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from ekkosim.kernel import interrupts_deferred
from ekkosim.results.manifest import RunFolderError
from ekkosim.results.run_folder import RunFolder, finished_summary
from ekkosim.results.summary import flows_table, summarise, timeseries_table
from ekkosim.run_files import FLOWS, RESOLVED, TIMESERIES
from ekkosim.scenario.differences import tag
from ekkosim.scenario.load import ScenarioError, load
from ekkosim.scenario.user_code import import_code
from ekkosim.scheduler.priority import PriorityFunctionError
from ekkosim.schema import Scenario
from ekkosim.simulation import Simulation
from ekkosim.strategies import STRATEGIES
from ekkosim.version import __version__


def default_out(scenario: Scenario) -> Path:
    """runs/<name>-<seed>/, and for a scenario changed from its file (by `--set`, or in Python
    after loading) runs/<name>-<seed>-<tag>/, the tag naming the changes
    (`ekkosim.scenario.differences`): a comparison run does not overwrite the run it is compared with."""
    name = f"{scenario.name}-{scenario.seed}"
    changes = tag(scenario)
    return Path("runs") / (name if changes is None else f"{name}-{changes}")


def resolved_yaml(scenario: Scenario) -> str:
    """The scenario with every default filled in, in units a person reads; it loads back as is."""
    return yaml.safe_dump(scenario.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


def resolved_digest(scenario: Scenario) -> str:
    """A stable hash of everything a run of `scenario` depends on (hex sha256 of its resolved YAML):
    sweep and calibration run folders are named by it, so a changed run is never taken for done."""
    return hashlib.sha256(resolved_yaml(scenario).encode()).hexdigest()


def run(
    scenario: Scenario,
    out: Path | None = None,
    on_progress: Callable[[float], None] | None = None,
    on_start: Callable[[Simulation], None] | None = None,
    check: bool = False,
    plots: bool = True,
) -> dict:
    """Simulate `scenario` and write its run folder; return the summary (as in summary.json).
    `check`: check the sync's invariants as the run goes (`ekkosim.sync.invariants`); `plots`:
    draw the run's figures into its folder (`ekkosim.plots.run`)."""
    started = time.perf_counter()
    try:
        import_code(scenario)  # the user's code, if allowed, imported and checked before any file is written
    except PriorityFunctionError as err:
        raise ScenarioError([f"scheduler.priority: {err}"]) from None
    folder = RunFolder(out or default_out(scenario))
    folder.write_text(RESOLVED, resolved_yaml(scenario))
    with interrupts_deferred():  # Ctrl-C between two steps, never inside a compiled loop
        sim = Simulation(scenario, STRATEGIES[scenario.strategy], check=check)
        if on_start is not None:
            on_start(sim)
        sim.run(on_progress)  # between two events
        flows = flows_table(sim)
        tables = {FLOWS: flows, TIMESERIES: timeseries_table(sim), **sim.outcome.tables()}
        summary = {"ekkosim_version": __version__, **summarise(sim, flows)}
    for name, columns in tables.items():
        folder.write_table(name, columns)
    if plots:
        from ekkosim.plots.run import draw_run  # here: matplotlib is not needed without figures

        draw_run(folder, scenario, summary, tables)
    summary["wall_time_s"] = round(time.perf_counter() - started, 3)
    return folder.finish(summary)


def run_or_load(path: Path, out: Path, overrides: list[str] = (), plots: bool = False) -> dict:
    """The summary of the finished run in `out`, or of a run of the scenario file at `path` (with
    `--set`-style `overrides`) written there now; notebooks rerun cheaply this way, and draw
    their own figures (so the run's own are drawn only if `plots`)."""
    try:
        return finished_summary(out)
    except RunFolderError:
        return run(load(path, list(overrides)), out, plots=plots)
