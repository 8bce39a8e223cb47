"""Calibration: a scenario's free parameters fitted to measured figures, `ekkosim calibrate FILE`.

A calibration file names a base scenario; its variants (each a set of overrides: the
configurations the figures were measured in); the free parameters (a `--set` path, a range, a
scale, and the reason the parameter is free); the targets (a number of the runs' summary.json
in one variant, or its ratio between two variants, and the measured value); the seeds; a
budget of evaluations; and the search's settings (docs/calibration.md).

An evaluation runs every variant, once per seed, at one point of the parameters, and scores it
by the objective: the weighted mean over the targets of (ln(simulated / measured))^2, where a
metric is averaged over the seeds first. The search is deterministic. A scrambled Sobol design
(seeded) over the parameters' box, in log space for log-scaled parameters, finds the basin;
then a compass search (a pattern search: Kolda, Lewis and Torczon, SIAM Review 45(3), 2003)
refines its best point: it evaluates the neighbours at +-step along each axis of the unit box,
clipped to it, as one batch on the pool; it moves to the best of them if that is better, and
halves the step if none is; it stops when the step is below the tolerance or the budget is spent.

Each run's folder is named by its variant and a hash of its resolved scenario, as sweep folders
are; a run whose folder is complete is read, not made again. A calibration that was stopped
therefore resumes by being run again: its search replays the same points and finds their runs.
The outputs are written at the end only: calibration.parquet (every evaluation),
calibration.json (the fit), fitted.yaml and fitted-<variant>.yaml (the base scenario with the
fitted parameters, resolved).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from ekkosim.pool import Job, run_jobs
from ekkosim.results.manifest import RunFolderError, replace_file
from ekkosim.results.run_folder import finished_summary
from ekkosim.run_files import SUMMARY
from ekkosim.runner import resolved_digest, resolved_yaml
from ekkosim.scenario.load import ScenarioError, field_problems, kind_of, load, parse_yaml, read_yaml, value_at
from ekkosim.schema import Name
from ekkosim.scenario.describe import dimension_at
from ekkosim.units import Dimension, cut, shown
from ekkosim.sweep import OverridePath, check_overrides, value_text, write_rows

TABLE, SUMMARY_FILE, FITTED = "calibration.parquet", "calibration.json", "fitted.yaml"
RUNS = "runs"  # the evaluations' run folders, inside the output folder
ABLATION = "ablation"  # `variants: ablation`: the rows of `ekkosim reproduce ablation`


def _matching(pattern: str, what: str) -> Callable[[str], str]:
    """A validator: the text must match `pattern` whole; the error says what it must be."""

    def check(text: str) -> str:
        if not re.fullmatch(pattern, text):
            raise ValueError(f"{text[:60]!r} is not {what}")
        return text
    return check


VariantName = Annotated[str, Field(max_length=64), AfterValidator(_matching(
    r"[A-Za-z][A-Za-z0-9_+.-]*", "a name of letters, digits and _ + . - (a file name: fitted-<variant>.yaml)"))]
Metric = Annotated[str, Field(max_length=200), AfterValidator(_matching(
    r"[A-Za-z_][\w-]*(\.[\w-]+)*", "a dotted path into summary.json such as latency_s.mean"))]
Reason = Annotated[str, AfterValidator(_matching(r"(?s).*\S.*", "a reason: say why the parameter is free and why "
                                                               "this range"))]


class Section(BaseModel):
    """A part of a calibration file: no field it does not know, no value converted silently."""

    model_config = ConfigDict(extra="forbid", strict=True)


class ParameterSpec(Section):
    """A free parameter: where its value may lie, and why it is free."""

    range: Annotated[list[Any], Field(min_length=2, max_length=2)] = Field(
        description="[low, high], as the field takes values (`10ms`, `5e-7`, `1000`).")
    scale: Literal["log", "linear"] = Field(
        "log", description="Searched evenly in the log of the value, or in the value.")
    reason: Reason = Field(description="Why the parameter is free and why this range.")


class TargetSpec(Section):
    """A measured figure: a number of the runs' summaries, or its ratio between two variants."""

    name: str | None = Field(None, max_length=100, description="Its name in tables (default: from the metric).")
    metric: Metric = Field(description="A dotted path into summary.json, such as `latency_s.mean`.")
    variant: VariantName | None = Field(None, description="The variant it is read from (needed if there are several).")
    over: VariantName | None = Field(None, description="If given, the target is the metric in `variant` "
                                                       "divided by the metric in this variant.")
    value: float = Field(gt=0, allow_inf_nan=False,
                         description="The measured value (the objective compares logarithms).")
    weight: float = Field(1.0, gt=0, allow_inf_nan=False, description="Its weight in the objective.")


class SearchSpec(Section):
    """The search's settings; every length is in the unit box of the parameters' ranges."""

    seed: int = Field(0, ge=0, description="Seeds the Sobol design's scrambling.")
    initial: int = Field(16, ge=1, le=4096, description="Points of the Sobol design (a power of 2).")
    step: float = Field(0.25, gt=0, le=0.5, description="The compass search's first step.")
    tolerance: float = Field(0.01, gt=0, lt=1, description="The search ends when the step is smaller.")


class CalibrationFile(Section):
    """What a calibration file may say."""

    name: Name | None = Field(None, description="Its output folder is runs/<name>/ (default: the file's name).")
    description: str = ""
    scenario: str = Field(description="The base scenario file, relative to the calibration file.")
    set: dict[OverridePath, Any] = Field({}, description="Overrides every run gets.")
    variants: dict[VariantName, dict[OverridePath, Any]] = Field(
        {"base": {}}, min_length=1,
        description=f"Name to overrides, one variant per configuration measured; or `{ABLATION}`, the rows "
                    "of `ekkosim reproduce ablation`. Default: one variant, `base`, with no override.")
    parameters: dict[OverridePath, ParameterSpec] = Field(min_length=1, description="The free parameters, by path.")
    targets: list[TargetSpec] = Field(min_length=1)
    seeds: list[int] | None = Field(None, min_length=1, description="Each variant runs once per seed at each point "
                                                                    "(default: the scenario's seed).")
    budget: int = Field(ge=1, le=10_000, description="At most this many points evaluated.")
    search: SearchSpec = Field(default_factory=SearchSpec)

    @field_validator("variants", mode="before")
    @classmethod
    def _preset(cls, value: Any) -> Any:
        if isinstance(value, str):
            if value != ABLATION:
                raise ValueError(f"a mapping of name to overrides, or `{ABLATION}`, got {value[:60]!r}")
            return _ablation_variants()
        return value


@dataclass(frozen=True)
class Parameter:
    """A free parameter: a `--set` path and its range in the field's base units."""

    path: str
    low: float
    high: float
    log: bool
    integer: bool  # the field holds an integer (shards, keys): values are rounded to one
    reason: str
    written: tuple[str, str]  # the range as the file writes it
    dimension: Dimension | None  # a quantity's dimension: its values are written with their unit

    def text(self, value: float | int) -> str:
        """`value` as a `--set` writes it: a quantity with its unit (10ms), a number as itself."""
        return self.dimension.format(value) if self.dimension is not None else repr(value)

    def value(self, u: float) -> float | int:
        """The value at `u` in [0, 1] of the range (of its logarithm, if log-scaled), rounded to 6
        significant digits or to an integer, so that the overrides read plainly and replay exactly."""
        if self.log:
            raw = math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        else:
            raw = self.low + u * (self.high - self.low)
        return min(max(round(raw) if self.integer else float(f"{raw:.6g}"), self.low), self.high)


@dataclass(frozen=True)
class Target:
    """A target, its variant resolved: `metric` in `variant` (divided by it in `over`) against `value`."""

    name: str
    metric: str
    variant: str
    over: str | None
    value: float
    weight: float


@dataclass(frozen=True)
class Calibration:
    """A calibration file, read and checked: everything the search and its runs need."""

    source: Path
    name: str
    scenario: Path
    fixed: tuple[str, ...]  # `set`, as overrides
    variants: dict[str, tuple[str, ...]]
    parameters: tuple[Parameter, ...]
    targets: tuple[Target, ...]
    seeds: tuple[int | None, ...]
    budget: int
    search: SearchSpec

    def overrides(self, values: dict[str, float | int], variant: str | None = None) -> list[str]:
        """What the base scenario gets: `set`, the variant's overrides, then the parameters."""
        own = self.variants[variant] if variant is not None else ()
        written = {p.path: p.text for p in self.parameters}
        return [*self.fixed, *own, *(f"{path}={written[path](value)}" for path, value in values.items())]


def read_calibration(path: str | Path) -> Calibration:
    """Read and validate a calibration file: every override, variant and bound against the base scenario."""
    path = Path(path)
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ScenarioError([f"{path}: expected a mapping of fields (scenario, variants, parameters, targets, "
                             f"budget, ...), got {kind_of(data)}"])
    try:
        spec = CalibrationFile.model_validate(data)
    except ValidationError as err:
        raise ScenarioError([f"{path}: {problem}" for problem in field_problems(err, data)]) from None

    def problem(message: str) -> ScenarioError:
        return ScenarioError([f"{path}: {message}"])

    scenario = (path.parent / spec.scenario).resolve()
    fixed = tuple(f"{key}={value_text(value)}" for key, value in spec.set.items())
    check_overrides(path, "scenario", scenario, [])
    check_overrides(path, "set", scenario, list(fixed))
    variants = {}
    for name, overrides in spec.variants.items():
        variants[name] = tuple(f"{key}={value_text(value)}" for key, value in overrides.items())
        where = f"variants.{name}" if re.fullmatch(r"[A-Za-z_][\w-]*", name) else f"variants[{name!r}]"
        check_overrides(path, where, scenario, [*fixed, *variants[name]])
    parameters = tuple(_parameter(path, scenario, fixed, key, parameter) for key, parameter in spec.parameters.items())
    if spec.search.initial & (spec.search.initial - 1):
        raise problem(f"search.initial: must be a power of 2 (a Sobol design's balance), got {spec.search.initial}")
    targets = []
    for i, target in enumerate(spec.targets):
        variant = target.variant
        if variant is None:
            if len(variants) > 1:
                raise problem(f"targets[{i}].variant: required, as there are several variants ({', '.join(variants)})")
            variant = next(iter(variants))
        for field_name, name in (("variant", variant), ("over", target.over)):
            if name is not None and name not in variants:
                raise problem(f"targets[{i}].{field_name}: no variant {name!r} (variants: {', '.join(variants)})")
        if target.over == variant:
            raise problem(f"targets[{i}].over: the ratio of a variant to itself is 1")
        default = f"{variant}/{target.over}:{target.metric}" if target.over else f"{variant}:{target.metric}"
        targets.append(Target(target.name or default, target.metric, variant, target.over, target.value, target.weight))
    names = [target.name for target in targets]
    if len(set(names)) < len(names):
        raise problem("targets: two targets have the same name; give one a `name`")
    return Calibration(path, spec.name or path.name.removesuffix(".yaml").removesuffix(".yml"), scenario, fixed,
                       variants, parameters, tuple(targets), tuple(spec.seeds or (None,)), spec.budget, spec.search)


def _ablation_variants() -> dict[str, dict[str, Any]]:
    """The ablation's configurations as `ekkosim reproduce ablation` runs them, as variants."""
    from ekkosim import reproduce  # the one definition of the rows

    return {name: {key: parse_yaml(value, ABLATION) for key, _, value in (o.partition("=") for o in overrides)}
            for name, _, overrides, _ in reproduce.ABLATION}


def _parameter(path: Path, scenario: Path, fixed: tuple[str, ...], key: str, spec: ParameterSpec) -> Parameter:
    """The free parameter at `key`, its bounds read by the field itself (so `10ms` is 0.01 s)."""
    bounds = []
    for i, bound in enumerate(spec.range):
        resolved = check_overrides(path, f"parameters[{key!r}].range[{i}]", scenario,
                                   [*fixed, f"{key}={value_text(bound)}"])
        value = value_at(resolved.model_dump(), key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ScenarioError([f"{path}: parameters[{key!r}]: not a number, so not a free parameter "
                                 f"(got {shown(value)})"])
        if not math.isfinite(value):
            raise ScenarioError([f"{path}: parameters[{key!r}].range[{i}]: must be finite, "
                                 f"got {cut(value_text(bound))}"])
        bounds.append(value)
    low, high = bounds
    if not low < high:
        raise ScenarioError([f"{path}: parameters[{key!r}].range: low must be below high, got "
                             f"[{cut(value_text(spec.range[0]))}, {cut(value_text(spec.range[1]))}]"])
    if spec.scale == "log" and low <= 0:
        raise ScenarioError([f"{path}: parameters[{key!r}].range: a log scale needs a low above 0, "
                             f"got {cut(value_text(spec.range[0]))}"])
    return Parameter(key, low, high, spec.scale == "log", all(isinstance(b, int) for b in bounds), spec.reason,
                     (value_text(spec.range[0]), value_text(spec.range[1])), dimension_at(key))


@dataclass
class Evaluation:
    """One point of the search: its parameters, its runs, the targets' values and the objective."""

    index: int
    phase: str  # "design" or "refine"
    batch: int
    unit: tuple[float, ...]  # where the search placed it, in the unit box
    values: dict[str, float | int]
    runs: dict[str, list[str]] = field(default_factory=dict)  # variant -> run folders (one per seed)
    metrics: dict[str, float | None] = field(default_factory=dict)  # "variant:metric" -> mean over seeds
    simulated: list[float | None] = field(default_factory=list)  # per target
    objective: float | None = None
    error: str | None = None  # a run that failed (the point has no objective)

    @property
    def score(self) -> float:
        return math.inf if self.objective is None else self.objective


def metric_value(summary: dict, metric: str) -> float | None:
    """The number at a dotted path of a summary; None if absent or not a number."""
    node: Any = summary
    for key in metric.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    if isinstance(node, bool) or not isinstance(node, int | float) or not math.isfinite(node):
        return None
    return float(node)


class Evaluator:
    """Evaluates points of the search in batches on the pool, each distinct point once, within
    the budget; reads the runs already complete instead of making them again."""

    def __init__(self, calibration: Calibration, out: Path, workers: int, scheduler: str | None,
                 progress: Callable[[int, int], None]):
        self.calibration, self.out, self.workers, self.scheduler = calibration, out, workers, scheduler
        self.progress = progress
        self.evaluations: list[Evaluation] = []
        self.by_values: dict[tuple, Evaluation] = {}
        self.batches = 0
        self.runs_made = self.runs_read = 0
        self.runs_per_point = len(calibration.variants) * len(calibration.seeds)

    @property
    def left(self) -> int:
        return self.calibration.budget - len(self.evaluations)

    def batch(self, units: list[np.ndarray], phase: str) -> list[Evaluation]:
        """The evaluations of `units`, in order: a point evaluated before comes from the record; the
        new ones, as many as the budget has left, are run now as one batch; the rest are left out."""
        evaluated, new = [], []
        for unit in units:
            values = {p.path: p.value(float(u)) for p, u in zip(self.calibration.parameters, unit)}
            key = tuple(values.values())
            if key not in self.by_values:
                if len(new) >= self.left:
                    continue
                self.by_values[key] = Evaluation(len(self.evaluations) + len(new), phase, self.batches,
                                                 tuple(float(u) for u in unit), values)
                new.append(self.by_values[key])
            evaluated.append(self.by_values[key])
        if new:
            self._run(new)
            self.evaluations.extend(new)
            self.batches += 1
        return evaluated

    def _run(self, points: list[Evaluation]) -> None:
        cal = self.calibration
        summaries: dict[str, dict | str] = {}  # run folder -> its summary, or the error that stopped it
        jobs: dict[str, Job] = {}
        for point in points:
            try:
                runs = self._runs(point)
            except ScenarioError as err:  # a combination of values the scenario refuses: nothing to run
                point.error = err.problems[0]
                continue
            for variant, folder, overrides in runs:
                point.runs.setdefault(variant, []).append(folder)
                if folder not in summaries and folder not in jobs:
                    summary = _complete_summary(self.out / folder)
                    if summary is not None:
                        summaries[folder] = summary
                    else:
                        jobs[folder] = Job(cal.scenario, overrides, self.out / folder)
        self.runs_read += len(summaries)
        done = len(self.evaluations) * self.runs_per_point + len(summaries)
        total = cal.budget * self.runs_per_point
        outcomes = run_jobs(list(jobs.values()), self.workers, self.scheduler,
                            lambda ended, _: self.progress(done + ended, total))
        self.runs_made += len(jobs)
        summaries.update((folder, outcome.summary if outcome.error is None else outcome.error)
                         for folder, outcome in zip(jobs, outcomes))
        for point in points:
            if point.error is None:
                self._score(point, summaries)
        self.progress(len(self.evaluations + points) * self.runs_per_point, total)

    def _runs(self, point: Evaluation) -> list[tuple[str, str, tuple[str, ...]]]:
        """(variant, run folder, overrides) of each run of `point`: a variant's runs in seed order."""
        cal, runs = self.calibration, []
        for variant in cal.variants:
            for seed in cal.seeds:
                overrides = cal.overrides(point.values, variant) + ([] if seed is None else [f"seed={seed}"])
                try:
                    scenario = load(cal.scenario, overrides)
                except ScenarioError as err:
                    raise ScenarioError([f"{variant}: {problem}" for problem in err.problems]) from None
                runs.append((variant, f"{RUNS}/{variant}-{resolved_digest(scenario)[:12]}", tuple(overrides)))
        return runs

    def _score(self, point: Evaluation, summaries: dict[str, dict | str]) -> None:
        cal = self.calibration
        for variant, folders in point.runs.items():
            for folder in folders:
                if isinstance(summaries[folder], str):
                    point.error = point.error or f"{variant}: {summaries[folder]}"
        if point.error is not None:  # a run failed
            return
        for metric in dict.fromkeys(target.metric for target in cal.targets):
            for variant, folders in point.runs.items():
                values = [metric_value(summaries[folder], metric) for folder in folders]
                point.metrics[f"{variant}:{metric}"] = None if None in values else float(np.mean(values))
        errors = []
        for target in cal.targets:
            simulated = point.metrics[f"{target.variant}:{target.metric}"]
            if target.over is not None and simulated is not None:
                below = point.metrics[f"{target.over}:{target.metric}"]
                simulated = None if not below else simulated / below
            point.simulated.append(simulated)
            errors.append(None if simulated is None or simulated <= 0 else math.log(simulated / target.value))
        if None not in errors:
            weights = [target.weight for target in cal.targets]
            point.objective = sum(w * e * e for w, e in zip(weights, errors)) / sum(weights)


def _complete_summary(folder: Path) -> dict | None:
    """A complete run's summary, or None if the run is still to make (a summary that cannot be read is remade)."""
    try:
        return finished_summary(folder)
    except RunFolderError:
        return None


def search(evaluator: Evaluator) -> None:
    """The Sobol design, then the compass search from its best point, within the budget."""
    from scipy.stats import qmc  # here, so that reading a calibration file stays fast

    cal = evaluator.calibration
    design = qmc.Sobol(len(cal.parameters), scramble=True, rng=cal.search.seed).random(cal.search.initial)
    best = min(evaluator.batch(list(design), "design"), key=lambda point: point.score)
    _check_metrics(evaluator)
    here, step = np.array(best.unit), cal.search.step
    while evaluator.left > 0 and step >= cal.search.tolerance:
        poll = []
        for axis in range(len(here)):
            for sign in (1, -1):
                neighbour = here.copy()
                neighbour[axis] = min(1.0, max(0.0, neighbour[axis] + sign * step))
                poll.append(neighbour)
        better = min(evaluator.batch(poll, "refine"), key=lambda point: point.score, default=None)
        if better is not None and better.score < best.score:
            best, here = better, np.array(better.unit)
        else:
            step /= 2


def _check_metrics(evaluator: Evaluator) -> None:
    """A metric that is a number in no complete run of the design is a mistake in the file (a typo)."""
    cal = evaluator.calibration
    scored = [point for point in evaluator.evaluations if point.error is None]
    for i, target in enumerate(cal.targets):
        for variant in (target.variant, target.over):
            key = f"{variant}:{target.metric}"
            if variant is not None and scored and all(point.metrics[key] is None for point in scored):
                raise ScenarioError([f"{cal.source}: targets[{i}].metric: {target.metric!r} is not a number in the "
                                     f"summary of variant {variant} (see {evaluator.out / scored[0].runs[variant][0]}"
                                     f"/{SUMMARY})"])


@dataclass(frozen=True)
class CalibrationResult:
    """A calibration's end: every evaluation, the best one (None if no point could be scored), and
    how many runs were made now and read from earlier."""

    evaluations: list[Evaluation]
    best: Evaluation | None
    runs_made: int
    runs_read: int

    @property
    def failed(self) -> list[Evaluation]:
        return [point for point in self.evaluations if point.error is not None]


def calibrate(calibration: Calibration, out: Path, workers: int = 2, scheduler: str | None = None,
              progress: Callable[[int, int], None] = lambda done, total: None) -> CalibrationResult:
    """Search, then write calibration.parquet and, if a point could be scored, the fit (calibration.json,
    fitted.yaml, fitted-<variant>.yaml). `progress(done, total)` counts runs against the budget's."""
    out = Path(out).resolve()
    evaluator = Evaluator(calibration, out, workers, scheduler, progress)
    search(evaluator)
    scored = [point for point in evaluator.evaluations if point.objective is not None]
    best = min(scored, key=lambda point: point.objective) if scored else None  # ties: the first evaluated
    result = CalibrationResult(evaluator.evaluations, best, evaluator.runs_made, evaluator.runs_read)
    write_rows([_row(calibration, point) for point in result.evaluations], out / TABLE)
    if best is not None:
        _write_fit(calibration, result, out)
    return result


def _row(cal: Calibration, point: Evaluation) -> dict[str, Any]:
    return {
        "evaluation": point.index, "phase": point.phase, "batch": point.batch, **point.values,
        **{key: point.metrics.get(key) for key in _metric_columns(cal)},
        **{f"simulated:{t.name}": (point.simulated[i] if point.simulated else None) for i, t in enumerate(cal.targets)},
        "objective": point.objective, "error": point.error,
        "runs": " ".join(folder for folders in point.runs.values() for folder in folders),
    }


def _metric_columns(cal: Calibration) -> list[str]:
    return list(dict.fromkeys(f"{variant}:{t.metric}" for t in cal.targets for variant in (t.variant, t.over)
                              if variant is not None))


def fit_summary(cal: Calibration, result: CalibrationResult) -> dict[str, Any]:
    """calibration.json: the fitted parameters beside their ranges and reasons, the targets beside
    their fitted values, and the objective."""
    best = result.best
    shown = load(cal.scenario, cal.overrides(best.values)).model_dump(mode="json")
    return {
        "calibration": cal.name,
        "objective": best.objective,
        "evaluation": best.index,
        "evaluations": len(result.evaluations),
        "parameters": [{"path": p.path, "value": best.values[p.path], "shown": value_at(shown, p.path),
                        "range": list(p.written), "scale": "log" if p.log else "linear", "reason": p.reason}
                       for p in cal.parameters],
        "targets": [{"name": t.name, "metric": t.metric, "variant": t.variant, "over": t.over, "value": t.value,
                     "weight": t.weight, "fitted": best.simulated[i],
                     "error_pct": 100 * (best.simulated[i] / t.value - 1)}
                    for i, t in enumerate(cal.targets)],
        "overrides": cal.overrides(best.values)[len(cal.fixed):],
        "fitted": {"scenario": FITTED, "variants": {variant: fitted_name(variant) for variant in cal.variants}},
    }


def fitted_name(variant: str) -> str:
    return f"fitted-{variant}.yaml"


def _write_fit(cal: Calibration, result: CalibrationResult, out: Path) -> None:
    header = (f"# The base scenario with the parameters fitted by `ekkosim calibrate {cal.source.name}` "
              f"(evaluation {result.best.index}, objective {result.best.objective:.6g}).\n")
    for name, variant in [(FITTED, None), *((fitted_name(v), v) for v in cal.variants)]:
        text = header + resolved_yaml(load(cal.scenario, cal.overrides(result.best.values, variant)))
        replace_file(out / name, lambda file, text=text: file.write(text.encode("utf-8")))
    summary = json.dumps(fit_summary(cal, result), indent=2) + "\n"
    replace_file(out / SUMMARY_FILE, lambda file: file.write(summary.encode("utf-8")))
