"""The paper's numbers beside the simulator's: `ekkosim reproduce ablation|latency|baselines|all`.

Every row is a run of a shipped scenario (scenarios/paper/ and the book's 800 s example) with
`--set` overrides that differ only in what the row is about; one parameter set serves every
row. `quick` shortens the simulated time (for CI); the full runs are what docs/reproduction.md
reports.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from ekkosim.runner import run
from ekkosim.scenario.load import EVERY, load, split_path

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


@dataclass(frozen=True)
class Job:
    """A run to make: scenario file (relative to the scenarios folder), overrides, folder."""

    scenario: str
    overrides: tuple[str, ...]
    out: Path


ABLATION = [
    ("vv", 27.4, ("sync.shard_version=false", "sync.local_leader=false")),
    ("vv+shard_version", 6.0, ("sync.local_leader=false",)),
    ("vv+shard_version+local_leader", 2.6, ()),
]
BASELINES = [("offline", "strategy=offline"), ("chain", "strategy=chain"), ("central_push", "strategy=central_push")]
# Whole-model strategies move the whole model, not the simulated key space: Wide & Deep on the
# Criteo Terabyte logs with its 26 categorical features hashed to 10^7 rows each (assumption;
# docs/reproduction.md), 66.6 GB at the testbed's 256-byte rows.
FULL_MODEL_KEYS = 260_000_000


def _run(job: Job, scenarios: Path) -> dict:
    return run(load(scenarios / job.scenario, list(job.overrides)), job.out)


def _run_all(jobs: list[Job], scenarios: Path, workers: int) -> list[dict]:
    """Run jobs, `workers` at a time in separate processes; summaries in job order."""
    if workers <= 1:
        return [_run(job, scenarios) for job in jobs]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(_run, jobs, [scenarios] * len(jobs)))


def _cross_dc(out: Path, training_dc: str) -> np.ndarray:
    table = pq.read_table(out / "latency.parquet", columns=["dc", "latency_s"])
    dc = table.column("dc").to_numpy(zero_copy_only=False)
    return table.column("latency_s").to_numpy()[dc != training_dc]


def _latency_row(config: str, paper_s: float, out: Path, training_dc: str) -> Row:
    cross = _cross_dc(out, training_dc)
    if cross.size == 0:
        return Row(config, paper_s, None)
    p50, p99 = np.percentile(cross, [50, 99])
    return Row(config, paper_s, float(cross.mean()), float(p50), float(p99))


def _ablation_jobs(out: Path, extra: tuple[str, ...]) -> list[Job]:
    return [Job(TESTBED, overrides + extra, out / name) for name, _, overrides in ABLATION]


def _ablation_rows(jobs: list[Job], scenarios: Path, prefix: str = "") -> list[Row]:
    training = load(scenarios / TESTBED).training_dc.name
    return [_latency_row(prefix + name, paper, job.out, training) for (name, paper, _), job in zip(ABLATION, jobs)]


def ablation(out: Path, quick: bool = False, workers: int = 2, scenarios: Path = SCENARIOS) -> list[Row]:
    """The three configurations of the paper's ablation, on the testbed."""
    jobs = _ablation_jobs(out / "ablation", tuple(QUICK) if quick else ())
    _run_all(jobs, scenarios, workers)
    return _ablation_rows(jobs, scenarios)


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


def scaled_override(scenario_data: dict, path: str, factor: float) -> str:
    """`path=value` with the scenario's value at `path` times `factor` (integers stay integers)."""
    node = scenario_data
    for step in split_path(path):
        node = node[0 if step == EVERY else step]  # `[*]`: the items are alike, read the first
    value = max(1, round(node * factor)) if isinstance(node, int) else node * factor
    return f"{path}={value!r}"


def sensitivity(out: Path, quick: bool = False, workers: int = 2, scenarios: Path = SCENARIOS,
                parameters: tuple[str, ...] = ASSUMED) -> list[Row]:
    """The ablation's three means with each assumed parameter halved and doubled."""
    base = load(scenarios / TESTBED).model_dump()
    extra = tuple(QUICK) if quick else ()
    runs = []
    for parameter in parameters:
        for factor in FACTORS:
            override = scaled_override(base, parameter, factor)
            label = f"{parameter} x{factor:g}"
            runs.append((label, _ablation_jobs(out / "sensitivity" / label, (override, *extra))))
    _run_all([job for _, jobs in runs for job in jobs], scenarios, workers)
    return [row for label, jobs in runs for row in _ablation_rows(jobs, scenarios, prefix=f"{label}: ")]


def latency(out: Path, quick: bool = False, workers: int = 2, scenarios: Path = SCENARIOS) -> list[Row]:
    """Mean cross-DC (paper 2.4 s) and intra-DC (paper 0.7 s) latency, full Ekko."""
    job = Job(TESTBED, tuple(QUICK) if quick else (), out / "latency")
    summary = _run_all([job], scenarios, 1)[0]
    return [
        Row("cross_dc", 2.4, summary["cross_dc_latency_s"]),
        Row("intra_dc", 0.7, summary["intra_dc_latency_s"]),
    ]


def baselines(out: Path, quick: bool = False, workers: int = 2, scenarios: Path = SCENARIOS) -> list[Row]:
    """Ekko against whole-model updates on the testbed and workload, and the 800 s example."""
    extra = tuple(QUICK) if quick else ()
    jobs = [Job(TESTBED, extra, out / "baselines" / "ekko")]
    jobs += [Job(TESTBED, (override, f"models[0].keys={FULL_MODEL_KEYS}"), out / "baselines" / name)
             for name, override in BASELINES]
    jobs.append(Job("broadcast_800s.yaml", (), out / "baselines" / "broadcast_800s"))
    summaries = _run_all(jobs, scenarios, workers)
    rows = [Row("ekko", None, summaries[0]["cross_dc_latency_s"])]
    for (name, _), summary in zip(BASELINES, summaries[1:]):
        rows.append(Row(name, None, _slowest_ready(summary)))
    rows.append(Row("broadcast_800s", 800.0, _slowest_ready(summaries[-1])))
    return rows


def _slowest_ready(summary: dict) -> float | None:
    ready = list(summary["model_ready_s"].values())
    return None if None in ready else max(ready)


EXPERIMENTS: dict[str, Callable[..., list[Row]]] = {
    "ablation": ablation,
    "latency": latency,
    "baselines": baselines,
    "sensitivity": sensitivity,
}
ALL = ("ablation", "latency", "baselines")  # `reproduce all`; the sensitivity study is run on its own
