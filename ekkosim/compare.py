"""Runs side by side, `ekkosim compare RUN RUN...`: what their scenarios set differently, their
headline figures, then every figure of their summaries (latency per DC, SLO, traffic, and any
section a summary holds, by its dotted path), each with its ratio to the first run's; and one
overlaid CDF of their cross-DC update latency."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ekkosim.flat import flatten
from ekkosim.plot import run_labels
from ekkosim.results.headline import headline
from ekkosim.results.read import Run
from ekkosim.run_files import LATENCY
from ekkosim.scenario.differences import NOT_SET


@dataclass(frozen=True)
class Comparison:
    """Each mapping goes from a name to one value per run, in the runs' order."""

    runs: list[str]
    labels: list[str]
    scenario_differences: dict[str, list[Any]]  # the resolved scenario's fields that are not alike
    headline: dict[str, list[Any]]
    summary: dict[str, list[Any]]  # every leaf of summary.json but its lists

    def as_json(self) -> dict:
        numeric = {name: values for name, values in ratios(self.summary).items() if any(v is not None for v in values)}
        return {"runs": self.runs, "labels": self.labels, "scenario_differences": self.scenario_differences,
                "headline": self.headline, "summary": self.summary, "ratio_to_first": numeric}


def ratios(rows: dict[str, list[Any]]) -> dict[str, list[float | None]]:
    """Each figure of each run over the first run's; None where either is not a number, or the
    first is 0."""
    return {name: [_ratio(value, values[0]) for value in values] for name, values in rows.items()}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _ratio(value: Any, first: Any) -> float | None:
    return value / first if _is_number(value) and _is_number(first) and first != 0 else None


def _side_by_side(rows: list[dict[str, Any]], missing: str = "-") -> dict[str, list[Any]]:
    """Dicts of the runs merged by key, in the order keys first appear; `missing` where a run
    lacks a key."""
    keys = dict.fromkeys(key for row in rows for key in row)
    return {key: [row.get(key, missing) for row in rows] for key in keys}


def _read(run_dir: Path) -> tuple[dict, dict]:
    """A finished run's summary and its resolved scenario's fields by path, read as data (a run
    folder from elsewhere is compared, not run: `ekkosim.results.read.Run` checks every file);
    RunFolderError if it is not one."""
    run = Run(run_dir)
    return run.summary, flatten(run.scenario.model_dump(mode="json"))


def compare(run_dirs: list[Path]) -> Comparison:
    """Read finished run folders (RunFolderError for one that is not) and set them side by side."""
    summaries, scenarios = zip(*(_read(run_dir) for run_dir in run_dirs))
    fields = _side_by_side(list(scenarios), NOT_SET)
    differences = {path: values for path, values in fields.items() if any(value != values[0] for value in values)}
    return Comparison(
        runs=[str(run_dir) for run_dir in run_dirs],
        labels=run_labels(run_dirs),
        scenario_differences=differences,
        headline=_side_by_side([headline(summary) for summary in summaries]),
        summary=_side_by_side([flatten(summary, lists=False) for summary in summaries]),
    )


def plot(run_dirs: list[Path], labels: list[str], out: Path) -> tuple[Path | None, list[str]]:
    """The overlaid cross-DC latency CDF of the runs that measured latency, at `out`; and the
    labels of the runs left out (no latency table: not strategy ekko). No file if none has one."""
    from ekkosim.plot import plot_cdfs

    with_latency = [(d, label) for d, label in zip(run_dirs, labels) if os.path.lexists(Path(d) / LATENCY)]
    left_out = [label for d, label in zip(run_dirs, labels) if (d, label) not in with_latency]
    if not with_latency:
        return None, left_out
    return plot_cdfs([d for d, _ in with_latency], out, labels=[label for _, label in with_latency]), left_out
