"""The paper's numbers beside the simulator's: `ekkosim reproduce ablation|latency|baselines|all`,
and the held-out figures, `ekkosim reproduce validate`.

Every row is a run of a shipped scenario (scenarios/paper/ and the book's 800 s example) with
`--set` overrides that differ only in what the row is about; one parameter set serves every
row. `quick` shortens the simulated time (for CI); the full runs are what docs/reproduction.md
reports. The held-out figures are published figures that no calibration targets: they check the
simulator on what a fit never saw.
"""

from __future__ import annotations

import math
import operator
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from ekkosim.pool import Job, run_jobs
from ekkosim.results.manifest import claim_folder
from ekkosim.results.read import LATENCY_COLUMNS, read_table
from ekkosim.run_files import LATENCY
from ekkosim.schema import Scenario
from ekkosim.scenario.describe import dimension_at
from ekkosim.scenario.footprint import DEFAULT_LIMIT_BYTES
from ekkosim.scenario.load import ScenarioError, load, value_at
from ekkosim.units import shown

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
PRODUCTION = Path(__file__).resolve().parents[1] / "benchmarks" / "production.yaml"
TESTBED = "paper/testbed.yaml"
# `--quick`: half the full runs; a pull without shard versions takes about 20 s on the testbed, so
# the version-vector row needs this long to deliver its updates.
QUICK = ["workload.duration=30s", "sync.drain=30s"]


@dataclass(frozen=True)
class Row:
    """One line of a reproduction table: what the paper says and what the simulator gives. The
    figures are in `unit` (seconds unless said). A `bound` (a key of BOUNDS) makes the published
    figure a bound the simulated one must keep: the row holds or not, and has no ratio."""

    config: str
    paper_s: float | None
    sim_s: float | None
    p50_s: float | None = None
    p99_s: float | None = None
    source: str | None = None  # where the published figure comes from, and what was run
    bound: str | None = None
    unit: str = "s"

    @property
    def ratio(self) -> float | None:
        if self.bound is not None or self.paper_s is None or self.sim_s is None:
            return None
        return self.sim_s / self.paper_s

    @property
    def holds(self) -> bool | None:
        """Whether the simulated figure keeps the bound (None: no bound, or no simulated figure)."""
        if self.bound is None or self.sim_s is None or self.paper_s is None:
            return None
        return BOUNDS[self.bound](self.sim_s, self.paper_s)

    def as_json(self) -> dict:
        return asdict(self) | {"holds": self.holds}


BOUNDS = {"<": operator.lt, "<=": operator.le, ">": operator.gt}  # a Row's bound: simulated (op) published


# (row, paper mean in seconds, overrides, folder): the rows differ only in the two switches.
ABLATION = [
    ("vv", 27.4, ("sync.shard_version=false", "sync.local_leader=false"), "vv"),
    ("vv+shard_version", 6.0, ("sync.local_leader=false",), "vv+shard_version"),
    ("vv+shard_version+local_leader", 2.6, (), "ekko"),
]
EKKO = "ekko"  # the full-Ekko testbed run: the ablation's last row, the latency rows, the baselines' Ekko row
# Whole-model strategies move the whole model: the testbed's key space is the model's real size.
BASELINES = [("offline", "strategy=offline"), ("chain", "strategy=chain"), ("central_push", "strategy=central_push")]

# The testbed's parameters the paper does not publish, assumed or calibrated, by the --set path that
# changes them (docs/reproduction.md gives each one's provenance); a `[*]` path holds one value in
# every item (the testbed's DCs are alike). Left out: what is published, what is derived from it
# (copies per DC, the cache's share), and the simulated shards (a granularity of the simulator:
# the real shards are `shard_split`'s).
ASSUMED = (
    "topology.wan.latency",
    "topology.datacenters[*].lan_latency",
    "models[0].value_bytes",
    "models[0].shard_split",
    "models[0].workload.rate",
    "models[0].workload.zipf",
    "models[0].workload.hot_drift",
    "models[0].workload.new_keys",
    "workload.batch_interval",
    "sync.knowledge_entries",
    "sync.pull_interval",
    "sync.costs.cpu_per_request",
    "sync.costs.cpu_per_vector_entry",
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
    production: Path = PRODUCTION  # the production scenario (absolute) the held-out rows run
    quick: bool = False


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
    return override(path, max(1, round(node * factor)) if isinstance(node, int) else node * factor)


def override(path: str, value: int | float) -> str:
    """`path=value` as --set reads it back exactly: a quantity with its unit."""
    dim = dimension_at(path)
    return f"{path}={value!r}" if dim is None else f"{path}={dim.format(value)}"


def cost_overrides(testbed: Path) -> tuple[str, ...]:
    """The testbed's per-operation costs (`sync.costs.*`, and only those) as overrides: another
    scenario run with them charges what the testbed charges."""
    costs = load(testbed).sync.costs.model_dump()
    return tuple(override(f"sync.costs.{name}", value) for name, value in costs.items())


def _slowest_ready(summary: dict) -> float | None:
    ready = list(summary["model_ready_s"].values())
    return None if None in ready else max(ready)


# The book's worked example: a 100 GB model broadcast to 5 DCs through 5 Gbps takes 800 s.
BROADCAST_800S = Job("broadcast_800s.yaml", (), "broadcast_800s")


def _broadcast_800s_row(summaries: dict[str, dict]) -> Row:
    return Row("broadcast_800s", 800.0, _slowest_ready(summaries[BROADCAST_800S.folder]),
               source="the book's worked example (100 GB to 5 DCs at 5 Gbps); scenarios/broadcast_800s.yaml, "
                      "the slowest DC's model-ready time")


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
        *(Job(plan.testbed, (override,), name) for name, override in BASELINES),
        BROADCAST_800S,
    ],
    rows=lambda plan, out, summaries: [
        Row("ekko", None, summaries[EKKO]["cross_dc_latency_s"]),
        *(Row(name, None, _slowest_ready(summaries[name])) for name, _ in BASELINES),
        _broadcast_800s_row(summaries),
    ],
)
sensitivity = Experiment(
    jobs=lambda plan: [job for label, override in _sensitivity_points(plan)
                       for job in _ablation_jobs(plan, (override,), f"sensitivity/{label}/")],
    rows=lambda plan, out, summaries: [row for label, _ in _sensitivity_points(plan)
                                       for row in _ablation_rows(plan, out, f"sensitivity/{label}/", f"{label}: ")],
)

# -- held out: published figures no calibration targets (`reproduce validate`) ---------------------

# Production costs about 9 CPU s per simulated second (docs/performance.md), so its rows read a
# short window: 3 s of training and a 3 s drain (pulls every 500 ms deliver every update well
# within it), 87 s of wall time on one core when measured (docs/reproduction.md). A 6 s window
# (165 s) moved the cross-DC mean by 0.3% and the intra-DC mean by 1.5% (docs/reproduction.md).
PRODUCTION_WINDOW = ("workload.duration=3s", "sync.drain=3s")
PRODUCTION_QUICK = ("workload.duration=500ms", "sync.drain=1s")
# Congestion from 10 s to 25 s: `--quick` ends the runs before it (the machinery, not the figure).
CONGESTION_QUICK = ("workload.duration=4s", "sync.drain=1s")
CONGESTION = ("congestion", ())
NO_SCHEDULER = ("congestion-no-scheduler", ("scheduler.enabled=false",))
HETEROGENEOUS = "paper/testbed_heterogeneous.yaml"
OUT_OF_ORDER = "heterogeneous: DC pairs out of order"
SLO_BOUND_PCT = 2.0  # the book: the scheduler avoids an SLO drop of more than 2%
# The rollback (docs/reproduction.md, "The rollback"): the testbed being validated with the model of
# the notes, 113 GB of its rows, in simulated shards of the testbed's size, as many copies a DC as
# fit its DCs' 64 GB servers; the quality model and the state manager on (their defaults); a burst
# of biased updates (the one of scenarios/biased_update.yaml) once the run is a witness lag old, so
# that the rollback republishes what a long-running deployment's would. Nothing else changes:
# shard_split, knowledge_entries and sync.costs are the testbed's.
ROLLBACK_MODEL_BYTES = 113e9  # an author's public notes: a rollback of a 113 GB model in about 6.4 s
SERVER_MEMORY_BYTES = 64e9  # the testbed's parameter servers (docs/reproduction.md, "The testbed")
ROLLBACK_BURST = "strength: 2.0, share: 0.5"
# (burst start, end of training, drain), seconds: after manager.witness_lag (60 s) of training; 30 s
# of burst leave time to detect it; the drain lets a late rollback reach every DC. `--quick`:
# after the detector's warm-up (10 windows of 1 s), the machinery and not the figure.
ROLLBACK_WINDOW = (60, 90, 30)
ROLLBACK_QUICK = (12, 20, 10)
ROLLBACK = "rollback"
ROLLBACK_SOURCE = "an author's public notes"


@dataclass(frozen=True)
class RollbackRun:
    """The rollback's run of a testbed: its model at ROLLBACK_MODEL_BYTES, and when the burst is."""

    testbed: Path
    model: str
    keys: int
    shards: int
    replicas: int
    dcs: int
    burst_s: tuple[int, int]  # start, end (the end of training)
    drain_s: int

    @classmethod
    def of(cls, testbed: Path, quick: bool = False) -> RollbackRun:
        scenario = load(testbed)
        model = scenario.models[0]
        keys = round(ROLLBACK_MODEL_BYTES / model.value_bytes)
        servers = min(dc.servers for dc in scenario.topology.datacenters)
        start, end, drain = ROLLBACK_QUICK if quick else ROLLBACK_WINDOW
        return cls(testbed, model.name, keys,
                   shards=math.ceil(keys * model.shards / model.keys),  # the testbed's rows a simulated shard
                   replicas=max(1, math.floor(servers * SERVER_MEMORY_BYTES / ROLLBACK_MODEL_BYTES)),
                   dcs=len(scenario.topology.datacenters), burst_s=(start, end), drain_s=drain)

    @property
    def job(self) -> Job:
        start, end = self.burst_s
        return Job(self.testbed, (
            f"models[0].keys={self.keys}", f"models[0].shards={self.shards}", f"models[0].replicas={self.replicas}",
            "quality.enabled=true", "manager.enabled=true",
            f"quality.biased_updates=[{{model: {self.model}, start: {start}s, end: {end}s, {ROLLBACK_BURST}}}]",
            f"workload.duration={end}s", f"sync.drain={self.drain_s}s"), ROLLBACK)

    def time_s(self, summary: dict) -> float | None:
        """Seconds from the traffic switch to the last DC holding the rollback, in the first
        incident of the injected burst whose rollback reached every DC (None: no such incident)."""
        for incident in summary["manager"]["incidents"]:
            complete = incident["rollback_complete_s"]
            if incident["injected_at_s"] is not None and len(complete) == self.dcs:
                return max(complete.values()) - incident["traffic_switched_at_s"]
        return None

    def row(self, summary: dict) -> Row:
        copies = f"{self.replicas} cop{'y' if self.replicas == 1 else 'ies'} a DC"
        source = (f"{ROLLBACK_SOURCE}; {self.testbed.name} with a {ROLLBACK_MODEL_BYTES / 1e9:g} GB model "
                  f"({self.keys:,} rows in {self.shards:,} shards, {copies}), the quality model and the manager "
                  f"on, biased updates from {self.burst_s[0]} s: from the traffic switch to the last DC holding "
                  "the rollback")
        return Row("rollback of a 113 GB model", 6.4, self.time_s(summary), source=source)


def _production_window(plan: Plan) -> tuple[str, ...]:
    return PRODUCTION_QUICK if plan.quick else PRODUCTION_WINDOW


def _validate_jobs(plan: Plan) -> list[Job]:
    congestion = CONGESTION_QUICK if plan.quick else ()
    return [
        Job(plan.production, _production_window(plan) + cost_overrides(plan.testbed), "production"),
        BROADCAST_800S,
        *(Job("congestion.yaml", overrides + congestion, folder) for folder, overrides in (CONGESTION, NO_SCHEDULER)),
        Job(HETEROGENEOUS, plan.extra, "testbed_heterogeneous"),
        RollbackRun.of(plan.testbed, plan.quick).job,
    ]


def _validate_rows(plan: Plan, out: Path, summaries: dict[str, dict]) -> list[Row]:
    production = summaries["production"]
    costs = (f"{plan.production.name} with {', '.join(_production_window(plan))} and the sync.costs of "
             f"{plan.testbed.name}")
    slo = f"the book: the SLO-aware scheduler avoids an SLO drop of more than {SLO_BOUND_PCT:g}%; " \
          "scenarios/congestion.yaml"
    return [
        Row("production: cross-DC mean", 2.4, production["cross_dc_latency_s"],
            source=f"the book's production average; {costs}"),
        Row("production: intra-DC mean", 0.7, production["intra_dc_latency_s"],
            source=f"the book's production average; {costs}"),
        _broadcast_800s_row(summaries),
        Row("congestion: peak SLO drop, scheduler on", SLO_BOUND_PCT,
            summaries[CONGESTION[0]]["slo"]["slo_drop_peak_pct"], source=slo, bound="<", unit="%"),
        Row("congestion: peak SLO drop, scheduler off", SLO_BOUND_PCT,
            summaries[NO_SCHEDULER[0]]["slo"]["slo_drop_peak_pct"], source=f"{slo} (scheduler.enabled=false)",
            bound=">", unit="%"),
        RollbackRun.of(plan.testbed, plan.quick).row(summaries[ROLLBACK]),
        *_heterogeneous_rows(load(plan.scenarios / HETEROGENEOUS), summaries["testbed_heterogeneous"]),
    ]


def _heterogeneous_rows(scenario: Scenario, summary: dict) -> list[Row]:
    """Each inference DC's mean latency beside its path from the training DC, and the check that
    no DC on a path at least as long and at most as fast as another's (one of them strictly) has
    a lower mean: the count of such pairs must be 0."""
    training = scenario.training_dc.name
    paths = {dc.name: _path(scenario, training, dc.name) for dc in scenario.topology.datacenters if dc.name != training}
    by_dc = summary["latency_by_dc_s"]
    means = {dc: None if by_dc[dc]["mean_censored"] else by_dc[dc]["mean"] for dc in paths}
    rows = [Row(f"heterogeneous: {dc} ({latency * 1e3:g} ms, {bandwidth / 1e6:g} Mbps)", None, means[dc],
                by_dc[dc]["p50"], by_dc[dc]["p99"], source="no published figure")
            for dc, (latency, bandwidth) in paths.items()]
    out_of_order = [(a, b) for a in paths for b in paths
                    if _worse(paths[b], paths[a]) and means[a] is not None and means[b] is not None
                    and means[b] < means[a]]
    undetermined = any(mean is None for mean in means.values())
    rows.append(Row(OUT_OF_ORDER, 0, None if undetermined else len(out_of_order), bound="<=", unit="pairs",
                    source="no published figure; checked: no DC whose path from the training DC is longer or "
                           "slower (and neither shorter nor faster) has a lower mean"
                           + "".join(f"; {b} below {a}" for a, b in out_of_order)))
    return rows


def _path(scenario: Scenario, a: str, b: str) -> tuple[float, float]:
    """One-way latency (s) and bandwidth (bits/s) of the WAN link between DCs `a` and `b` (the
    WAN's defaults where no link is listed)."""
    wan = scenario.topology.wan
    link = next((link for link in scenario.topology.links if set(link.between) == {a, b}), None)
    latency = link.latency if link is not None and link.latency is not None else wan.latency
    bandwidth = link.bandwidth if link is not None and link.bandwidth is not None else wan.bandwidth
    return latency, bandwidth


def _worse(path: tuple[float, float], than: tuple[float, float]) -> bool:
    """Longer and no faster, or slower and no shorter."""
    (latency, bandwidth), (other_latency, other_bandwidth) = path, than
    return latency >= other_latency and bandwidth <= other_bandwidth and path != than


validate = Experiment(jobs=_validate_jobs, rows=_validate_rows)
EXPERIMENTS = {"ablation": ablation, "latency": latency, "baselines": baselines, "sensitivity": sensitivity,
               "validate": validate}
# `reproduce all`; the sensitivity study and the held-out figures are run on their own
ALL = ("ablation", "latency", "baselines")


class RunFailed(RuntimeError):
    """A run an experiment needs failed; the message names its folder and the error."""


def reproduce(names: list[str], out: Path, quick: bool = False, workers: int = 2, scheduler: str | None = None,
              scenarios: Path = SCENARIOS, testbed: Path | None = None,
              parameters: tuple[str, ...] = ASSUMED,
              progress: Callable[[int, int], None] = lambda done, total: None,
              plots: bool = True, max_memory: float = DEFAULT_LIMIT_BYTES,
              production: Path = PRODUCTION) -> dict[str, list[Row]]:
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
    plan = Plan(scenarios, testbed, tuple(QUICK) if quick else (), parameters, production, quick)
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
