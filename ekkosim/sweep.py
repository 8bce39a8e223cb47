"""Sweeps: one base scenario run at many points, `ekkosim sweep SWEEP.yaml`.

A sweep file names a base scenario, overrides every run gets (`set`), the points (`runs`, a
list of override sets, crossed with `grid`, every combination of values per path) and the
`seeds`. Every point is validated against the base scenario before any run starts. Each run
writes its folder as `ekkosim run` does, named by its index and a hash of its resolved scenario;
a folder with `summary.json` is complete, and a rerun of the sweep skips it. At the end
`sweep.parquet` gets a row per run, in sweep order: its overrides as written (`20Mbps`) and,
for a quantity, in SI units (a column `topology.wan.bandwidth [bit/s]`), seed, status, error,
digest and summary numbers (wall time left out, so the same runs give the same bytes).
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from ekkosim.flat import flatten
from ekkosim.pool import Job, JobResult, run_jobs
from ekkosim.results.manifest import OwnedFolder, RunFolderError, replace_file
from ekkosim.results.run_folder import WALL_CLOCK_FIELDS, finished_summary
from ekkosim.run_files import SWEEP_TABLE
from ekkosim.runner import resolved_digest
from ekkosim.scenario.footprint import DEFAULT_LIMIT_BYTES
from ekkosim.scenario.describe import dimension_at
from ekkosim.scenario.load import ScenarioError, field_problems, kind_of, load, read_yaml, split_path
from ekkosim.schema import Name

COMPLETE, FAILED = "complete", "failed"
MAX_POINTS = 10_000  # runs in one sweep: each is validated before any starts, a second or so per hundred


def _override_path(path: str) -> str:
    try:
        split_path(path)
    except ScenarioError:
        raise ValueError(f"{path!r} is not a dotted path such as topology.links[2].bandwidth") from None
    if path == "seed":
        raise ValueError("the seed is set by `seeds`, not by an override")
    return path


OverridePath = Annotated[str, AfterValidator(_override_path)]


class SweepFile(BaseModel):
    """What a sweep file may say; every override is a scenario path and a value, as `--set` takes."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: Name | None = Field(None, description="The sweep's name: its output folder is runs/<name>/ "
                                                "(default: the file's name without .yaml).")
    description: str = ""
    scenario: str = Field(description="The base scenario file, relative to the sweep file.")
    set: dict[OverridePath, Any] = Field({}, description="Overrides every run gets.")
    runs: list[dict[OverridePath, Any]] = Field([{}], min_length=1,
                                                 description="A list of points, each a set of overrides.")
    grid: dict[OverridePath, Annotated[list[Any], Field(min_length=1)]] = Field(
        {}, description="Values per path; every combination, crossed with each of `runs`.")
    seeds: list[int] | None = Field(None, min_length=1, description="Each point runs once per seed "
                                                                    "(default: the scenario's seed).")


def _repeated(values: list) -> int | None:
    """The index of the first value equal to an earlier one (None if all differ)."""
    seen = []
    for i, value in enumerate(values):
        if value in seen:
            return i
        seen.append(value)
    return None


def value_text(value: Any) -> str:
    """A YAML value as `--set` takes it on one line: 4800Mbps, false, 0.5, [a, b]."""
    return yaml.safe_dump(value, default_flow_style=True, width=10**9).removesuffix("\n...\n").strip()


@dataclass(frozen=True)
class Point:
    """One run of a sweep: its place, the overrides it varies (path to value, as text) and its seed."""

    index: int
    varied: dict[str, str]
    seed: int
    folder: str
    overrides: tuple[str, ...]  # everything given to the base scenario: `set`, the point, the seed


@dataclass(frozen=True)
class Sweep:
    name: str
    scenario: Path
    points: list[Point]

    @property
    def varied_paths(self) -> list[str]:
        return list(dict.fromkeys(path for point in self.points for path in point.varied))


def read_sweep(path: str | Path, allow_code: bool = False, max_memory: float = DEFAULT_LIMIT_BYTES) -> Sweep:
    """Read and validate a sweep file, and every one of its points against the base scenario
    (`allow_code`, `max_memory`: as `ekkosim.scenario.validate` takes them, for every point)."""
    path = Path(path)
    data = read_yaml(path)
    if not isinstance(data, dict):
        fields = "scenario, set, runs, grid, seeds"
        raise ScenarioError([f"{path}: expected a mapping of fields ({fields}), got {kind_of(data)}"])
    try:
        spec = SweepFile.model_validate(data)
    except ValidationError as err:
        raise ScenarioError([f"{path}: {problem}" for problem in field_problems(err, data)]) from None
    _check_nonsense(path, spec)
    scenario = Path(os.path.abspath(path.parent / spec.scenario))  # absolute for the workers; no link followed
    allowed = {"allow_code": allow_code, "max_memory": max_memory}
    fixed = [f"{key}={value_text(value)}" for key, value in spec.set.items()]
    check_overrides(path, "scenario", scenario, [], **allowed)
    check_overrides(path, "set", scenario, fixed, **allowed)
    for i, run in enumerate(spec.runs):
        for key, value in run.items():
            check_overrides(path, f"runs[{i}]", scenario, [*fixed, f"{key}={value_text(value)}"], **allowed)
    for key, values in spec.grid.items():
        for value in values:
            check_overrides(path, "grid", scenario, [*fixed, f"{key}={value_text(value)}"], **allowed)
    seeds = [None] if spec.seeds is None else spec.seeds
    points = []
    width = max(3, len(str(_count(spec) - 1)))
    for index, (values, seed) in enumerate(itertools.product(_varied(spec), seeds)):
        overrides = (*fixed, *(f"{key}={value}" for key, value in values.items()),
                     *(() if seed is None else (f"seed={seed}",)))
        resolved = check_overrides(path, f"run {index} ({' '.join(overrides[len(fixed):])})", scenario,
                                   list(overrides), **allowed)
        points.append(Point(index, values, resolved.seed, f"{index:0{width}d}-{resolved_digest(resolved)[:8]}",
                            overrides))
    return Sweep(spec.name or path.name.removesuffix(".yaml").removesuffix(".yml"), scenario, points)


def check_overrides(sweep_path: Path, where: str, scenario: Path, overrides: list[str], allow_code: bool = False,
                    max_memory: float = DEFAULT_LIMIT_BYTES):
    """The base scenario with `overrides`, validated; its problems name the sweep's field."""
    try:
        return load(scenario, overrides, allow_code=allow_code, max_memory=max_memory)
    except ScenarioError as err:
        raise ScenarioError([f"{sweep_path}: {where}: {problem}" for problem in err.problems]) from None


def _count(spec: SweepFile) -> int:
    return len(spec.runs) * math.prod(len(values) for values in spec.grid.values()) * len(spec.seeds or [None])


def _varied(spec: SweepFile) -> Iterator[dict[str, str]]:
    """The points' overrides (path to value, as text), one at a time: for each of `runs`, each
    combination of `grid`, the last path varying fastest."""
    for run in spec.runs:
        for values in itertools.product(*spec.grid.values()):
            yield {key: value_text(value) for key, value in {**run, **dict(zip(spec.grid, values))}.items()}


def _check_nonsense(path: Path, spec: SweepFile) -> None:
    """A sweep too large to validate, or one that would make the same run twice."""
    count = _count(spec)
    if count > MAX_POINTS:
        sizes = " x ".join(str(n) for n in (len(spec.runs), *map(len, spec.grid.values()), len(spec.seeds or [None])))
        raise ScenarioError([f"{path}: grid: {count:,} runs ({sizes}), more than {MAX_POINTS:,}: split the sweep"])
    repeats = [("seeds", _repeated(spec.seeds or []), spec.seeds), ("runs", _repeated(spec.runs), spec.runs)]
    repeats += [(f"grid.{key}", _repeated(values), values) for key, values in spec.grid.items()]
    for where, i, values in repeats:
        if i is not None:
            raise ScenarioError([f"{path}: {where}[{i}]: {value_text(values[i])} is given twice: "
                                 "the same run would be made twice"])


@dataclass(frozen=True)
class SweepResult:
    """A sweep's end: a job result per point, and how many points were complete before it started."""

    jobs: list[JobResult]
    skipped: int

    @property
    def failed(self) -> list[int]:
        return [i for i, job in enumerate(self.jobs) if job.error is not None]


def run_sweep(sweep: Sweep, out: Path, workers: int = 2, scheduler: str | None = None,
              progress: Callable[[int, int], None] = lambda done, total: None, plots: bool = True,
              allow_code: bool = False, max_memory: float = DEFAULT_LIMIT_BYTES) -> SweepResult:
    """Run the points whose folders are not complete, then write `sweep.parquet` for all of them.
    `progress(done, total)` is called as runs end (total: the runs to make, not those skipped);
    `plots`: draw each run's figures into its folder. A point's folder counts as complete only
    if it holds the finished run of that point; any other is made again."""
    owner = OwnedFolder(Path(os.path.abspath(out)))  # absolute for the workers, but no link followed
    ended: dict[int, JobResult] = {}
    for point in sweep.points:
        summary = _finished(owner.path / point.folder, point)
        if summary is not None:
            ended[point.index] = JobResult(summary)
    todo = [point for point in sweep.points if point.index not in ended]
    jobs = [Job(sweep.scenario, point.overrides, owner.subfolder(point.folder), plots, allow_code, max_memory)
            for point in todo]
    ended.update(zip((point.index for point in todo), run_jobs(jobs, workers, scheduler, progress)))
    result = SweepResult([ended[point.index] for point in sweep.points], len(sweep.points) - len(todo))
    _write_table(sweep, result, owner)
    return result


def _finished(folder: Path, point: Point) -> dict | None:
    """The summary of `point`'s finished run in `folder`, or None (no run, or not this one)."""
    try:
        summary = finished_summary(folder)
    except RunFolderError:
        return None
    return summary if summary["seed"] == point.seed else None


def _write_table(sweep: Sweep, result: SweepResult, owner: OwnedFolder) -> None:
    import pyarrow.parquet as pq  # here, so that reading a sweep file stays fast

    own = {"scenario", "seed", "digest", *WALL_CLOCK_FIELDS}  # columns of their own, or not deterministic
    dimensions = {path: dimension_at(path) for path in sweep.varied_paths}
    rows = []
    for point, job in zip(sweep.points, result.jobs):
        summary = job.summary or {}
        row: dict[str, Any] = {"run": point.index, "folder": point.folder}
        for varied, dim in dimensions.items():
            written = point.varied.get(varied)
            row[varied] = written
            if dim is not None:
                row[f"{varied} [{dim.base}]"] = None if written is None else dim.parse(written)
        row.update({"seed": point.seed, "status": FAILED if job.error else COMPLETE, "error": job.error,
                    "digest": summary.get("digest")})
        row.update((key, value) for key, value in flatten(summary, lists=False).items() if key not in own)
        rows.append(row)
    owner.write(SWEEP_TABLE, lambda file: pq.write_table(rows_table(rows), file))


def rows_table(rows: list[dict[str, Any]]):
    """An Arrow table of `rows`: a column per key in order of first use, null where a row lacks it."""
    import pyarrow as pa

    names = list(dict.fromkeys(key for row in rows for key in row))
    return pa.table({name: pa.array([row.get(name) for row in rows]) for name in names})


def write_rows(rows: list[dict[str, Any]], path: Path) -> None:
    """`rows_table(rows)` as a Parquet file, all or nothing (`ekkosim.results.manifest.replace_file`)."""
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    replace_file(path, lambda file: pq.write_table(rows_table(rows), file))
