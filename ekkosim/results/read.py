"""Reading results into pandas, for notebooks: `ekkosim.load_run(dir)`, `ekkosim.load_sweep(dir)`."""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path

import pandas as pd
import yaml

from ekkosim.results.run_folder import SUMMARY, RunFolderError
from ekkosim.runner import RESOLVED
from ekkosim.schema import Scenario
from ekkosim.sweep import TABLE


class Run:
    """A finished run's folder: `summary` (summary.json), `scenario` (the resolved scenario) and
    a DataFrame per table, read when first used: `latency`, `flows`, `timeseries`, `quality`
    (None when the run has no such table; only strategy ekko measures latency, only a quality
    model writes quality)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not (self.path / SUMMARY).exists():
            raise RunFolderError(f"{self.path}: not a finished run (no {SUMMARY}; a run that stopped leaves INCOMPLETE)")
        self.summary: dict = json.loads((self.path / SUMMARY).read_text())
        self.scenario = Scenario.model_validate(yaml.safe_load((self.path / RESOLVED).read_text()))

    def _table(self, name: str) -> pd.DataFrame | None:
        table = self.path / f"{name}.parquet"
        return pd.read_parquet(table) if table.exists() else None

    @cached_property
    def latency(self) -> pd.DataFrame | None:
        return self._table("latency")

    @cached_property
    def flows(self) -> pd.DataFrame:
        return self._table("flows")

    @cached_property
    def timeseries(self) -> pd.DataFrame:
        return self._table("timeseries")

    @cached_property
    def quality(self) -> pd.DataFrame | None:
        return self._table("quality")

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}: {self.summary['scenario']}, seed {self.summary['seed']})"


def load_run(path: str | Path) -> Run:
    """A finished run folder; an unfinished one is refused (RunFolderError)."""
    return Run(path)


def load_sweep(path: str | Path) -> pd.DataFrame:
    """A sweep's table (sweep.parquet): a row per run, in sweep order."""
    table = Path(path) / TABLE
    if not table.exists():
        raise RunFolderError(f"{path}: not a finished sweep (no {TABLE}; `ekkosim sweep` writes it at the end)")
    return pd.read_parquet(table)
