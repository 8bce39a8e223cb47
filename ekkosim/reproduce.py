"""The paper's numbers beside the simulator's: `ekkosim reproduce ablation|latency|baselines|all`.

Every row is a run of a shipped scenario (scenarios/paper/ and the book's 800 s example) with
`--set` overrides that differ only in what the row is about; one parameter set serves every
row. `quick` shortens the simulated time (for CI); the full runs are what docs/reproduction.md
reports.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from ekkosim.pool import Job, run_jobs
from ekkosim.results.manifest import claim_folder
from ekkosim.results.read import LATENCY_COLUMNS, read_table
from ekkosim.run_files import LATENCY
from ekkosim.scenario.describe import dimension_at
from ekkosim.scenario.footprint import DEFAULT_LIMIT_BYTES
from ekkosim.scenario.load import ScenarioError, load, value_at
from ekkosim.units import shown

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
TESTBED = "paper/testbed.yaml"
QUICK = ["workload.duration=6s", "sync.drain=4s"]


@dataclass(frozen=True)
class Row:
    """One line of a reproduction table: what the paper says and what the simulator gives."""

    config: str
    paper_s: float | None
    sim_s: float | None
    p50_s: float | None = None
    p99_s: float | None = None

    @property
    def ratio(self) -> float | None:
        return None if self.paper_s is None or self.sim_s is None else self.sim_s / self.paper_s

    def as_json(self) -> dict:
        return asdict(self)


# (row, paper mean in seconds, overrides, folder): the rows differ only in the two switches.
ABLATION = [
    ("vv", 27.4, ("sync.shard_version=false", "sync.local_leader=false"), "vv"),
    ("vv+shard_version", 6.0, ("sync.local_leader=false",), "vv+shard_version"),
    ("vv+shard_version+local_leader", 2.6, (), "ekko"),
]
EKKO = "ekko"  # the full-Ekko testbed run: the ablation's last row, the latency rows, the baselines' Ekko row
BASELINES = [("offline", "strategy=offline"), ("chain", "strategy=chain"), ("central_push", "strategy=central_push")]
# Whole-model strategies move the whole model, not the simulated key space: Wide & Deep on the
# Criteo Terabyte logs with its 26 categorical features hashed to 10^7 rows each (assumption;
# docs/reproduction.md), 66.6 GB at the testbed's 256-byte rows.
FULL_MODEL_KEYS = 260_000_000

# The testbed's assumed (not published) parameters, by the --set path that changes them; a
# `[*]` path holds one value in every item (the testbed's DCs are alike).
ASSUMED = (
    "topology.wan.latency",
    "topology.datacenters[*].lan_latency",
    "models[0].value_bytes",
    "models[0].shards",
    "models[0].workload.rate",
    "models[0].workload.zipf",
    "models[0].workload.hot_drift",
    "models[0].workload.new_keys",
    "workload.batch_interval",
    "sync.cache_size",
    "sync.pull_interval",
    "sync.costs.cpu_per_request",
    "sync.costs.cpu_per_shard",
    "sync.costs.cpu_per_cache_entry",
    "sync.costs.cpu_per_key_applied",
)
FACTORS = (0.5, 2.0)


@dataclass(frozen=True)
class Plan:
    """What every experiment's jobs depend on."""

    scenarios: Path
    testbed: Path  # the testbed scenario file (absolute): the shipped one, or e.g. a calibration's fit
    extra: tuple[str, ...]  # overrides added to every testbed run (`--quick`)
    parameters: tuple[str, ...]  # the sensitivity study's assumed parameters


def _ablation_jobs(plan: Plan, extra: tuple[str, ...] = (), under: str = "") -> list[Job]:
    return [Job(plan.testbed, overrides + extra + plan.extra, under + folder) for _, _, overrides, folder in ABLATION]


def _ablation_rows(plan: Plan, out: Path, under: str = "", prefix: str = "") -> list[Row]:
    training = load(plan.testbed).training_dc.name
    return [_latency_row(prefix + name, paper, out / (under + folder), training) for name, paper, _, folder in ABLATION]


def _latency_row(config: str, paper_s: float, folder: Path, training_dc: str) -> Row:
    table = read_table(folder / LATENCY, LATENCY_COLUMNS)
    dc = table.column("dc").to_numpy(zero_copy_only=False)
    cross = table.column("latency_s").to_numpy()[dc != training_dc]
    if cross.size == 0:
        return Row(config, paper_s, None)
    p50, p99 = np.percentile(cross, [50, 99])
    return Row(config, paper_s, float(cross.mean()), float(p50), float(p99))


def _sensitivity_points(plan: Plan) -> list[tuple[str, str]]:
    """(label, override) for each assumed parameter halved and doubled."""
    base = load(plan.testbed).model_dump()
    return [(f"{parameter} x{factor:g}", scaled_override(base, parameter, factor))
            for parameter in plan.parameters for factor in FACTORS]


def scaled_override(scenario_data: dict, path: str, factor: float) -> str:
    """`path=value` with the scenario's value at `path` times `factor` (integers stay integers,
    quantities are written with their unit); ScenarioError if `path` is not a number of the scenario."""
    try:
        node = value_at(scenario_data, path)  # `[*]`: the items are alike, read the first
    except (KeyError, IndexError, TypeError, ScenarioError):
        node = None
    if isinstance(node, bool) or not isinstance(node, (int, float)):
        raise ScenarioError([f"--parameters {shown(path)}: not a number of the testbed scenario "
                             "(a --set path such as sync.pull_interval)"])
    if isinstance(node, int):
        return f"{path}={max(1, round(node * factor))}"
    dim = dimension_at(path)
    return f"{path}={node * factor!r}" if dim is None else f"{path}={dim.format(node * factor)}"


def _slowest_ready(summary: dict) -> float | None:
    ready = list(summary["model_ready_s"].values())
    return None if None in ready else max(ready)


@dataclass(frozen=True)
class Experiment:
    """The runs an experiment needs, and its rows from their folders and summaries."""

    jobs: Callable[[Plan], list[Job]]
    rows: Callable[[Plan, Path, dict[str, dict]], list[Row]]  # (plan, output folder, summary by folder)


ablation = Experiment(
    jobs=_ablation_jobs,
    rows=lambda plan, out, summaries: _ablation_rows(plan, out),
)
latency = Experiment(
    jobs=lambda plan: [Job(plan.testbed, plan.extra, EKKO)],
    rows=lambda plan, out, summaries: [
        Row("cross_dc", 2.4, summaries[EKKO]["cross_dc_latency_s"]),
        Row("intra_dc", 0.7, summaries[EKKO]["intra_dc_latency_s"]),
    ],
)
baselines = Experiment(
    jobs=lambda plan: [
        Job(plan.testbed, plan.extra, EKKO),
        *(Job(plan.testbed, (override, f"models[0].keys={FULL_MODEL_KEYS}"), name) for name, override in BASELINES),
        Job("broadcast_800s.yaml", (), "broadcast_800s"),
    ],
    rows=lambda plan, out, summaries: [
        Row("ekko", None, summaries[EKKO]["cross_dc_latency_s"]),
        *(Row(name, None, _slowest_ready(summaries[name])) for name, _ in BASELINES),
        Row("broadcast_800s", 800.0, _slowest_ready(summaries["broadcast_800s"])),
    ],
)
sensitivity = Experiment(
    jobs=lambda plan: [job for label, override in _sensitivity_points(plan)
                       for job in _ablation_jobs(plan, (override,), f"sensitivity/{label}/")],
    rows=lambda plan, out, summaries: [row for label, _ in _sensitivity_points(plan)
                                       for row in _ablation_rows(plan, out, f"sensitivity/{label}/", f"{label}: ")],
)
EXPERIMENTS = {"ablation": ablation, "latency": latency, "baselines": baselines, "sensitivity": sensitivity}
ALL = ("ablation", "latency", "baselines")  # `reproduce all`; the sensitivity study is run on its own


class RunFailed(RuntimeError):
    """A run an experiment needs failed; the message names its folder and the error."""


def reproduce(names: list[str], out: Path, quick: bool = False, workers: int = 2, scheduler: str | None = None,
              scenarios: Path = SCENARIOS, testbed: Path | None = None,
              parameters: tuple[str, ...] = ASSUMED,
              progress: Callable[[int, int], None] = lambda done, total: None,
              plots: bool = True, max_memory: float = DEFAULT_LIMIT_BYTES) -> dict[str, list[Row]]:
    """Run what the named experiments need, each distinct run once, and return their rows.
    `progress(done, total)` is called as runs end. A job's scenario is relative to `scenarios`
    and its folder to `out`, except the testbed's: `testbed` (default: paper/testbed.yaml in
    `scenarios`), so the tables can be made at another point, such as a calibration's fit.
    Experiments that need the same run name the same folder, and `reproduce all` makes it once.
    `plots`: draw each run's figures into its folder. Every run's scenario is validated (a run
    estimated above `max_memory` bytes refused), and every folder claimed
    (`ekkosim.results.manifest`), before the first run starts."""
    testbed = Path(os.path.abspath(testbed)) if testbed is not None else scenarios / TESTBED  # no link followed
    load(testbed, max_memory=max_memory)  # a bad testbed is a ScenarioError before any run
    plan = Plan(scenarios, testbed, tuple(QUICK) if quick else (), parameters)
    jobs: dict[str, Job] = {}
    for name in names:
        for job in EXPERIMENTS[name].jobs(plan):
            if jobs.setdefault(job.folder, job) != job:
                raise ValueError(f"two runs want the folder {job.folder}: {jobs[job.folder]} and {job}")
    for job in jobs.values():
        load(scenarios / job.scenario, list(job.overrides), max_memory=max_memory)
    runs = [replace(job, scenario=scenarios / job.scenario, folder=claim_folder(out, job.folder), plots=plots,
                    max_memory=max_memory) for job in jobs.values()]
    summaries = {}
    for folder, ended in zip(jobs, run_jobs(runs, workers, scheduler, progress)):
        if ended.error is not None:
            raise RunFailed(f"{out / folder}: {ended.error}")
        summaries[folder] = ended.summary
    return {name: EXPERIMENTS[name].rows(plan, out, summaries) for name in names}
