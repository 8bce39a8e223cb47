"""`ekkosim plot`: update-latency CDFs of run folders, as a PNG: one curve per run (cross-DC
latency, the mean `reproduce` reports), or one per data center of one run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import yaml
from pydantic import ValidationError

from ekkosim.results.run_folder import SUMMARY


class PlotError(ValueError):
    """A run folder that cannot be plotted (no latency table, not a finished run)."""


def latencies(run_dir: Path) -> dict[str, np.ndarray]:
    """The latency table of a finished ekko run: column name to array."""
    run_dir = Path(run_dir)
    if not (run_dir / SUMMARY).exists():
        raise PlotError(f"{run_dir}: not a finished run (no {SUMMARY})")
    table = run_dir / "latency.parquet"
    if not table.exists():
        raise PlotError(f"{run_dir}: no latency.parquet (only strategy ekko measures update latency)")
    columns = pq.read_table(table)
    return {name: columns.column(name).to_numpy(zero_copy_only=False) for name in columns.column_names}


def run_labels(run_dirs: list[Path]) -> list[str]:
    """Short names for run folders: their own names, or their paths where two names are alike."""
    names = [Path(d).name for d in run_dirs]
    return names if len(set(names)) == len(names) else [str(d) for d in run_dirs]


def plot_cdfs(run_dirs: list[Path], out: Path, by_dc: bool = False, labels: list[str] | None = None) -> Path:
    """Overlay update-latency CDFs (log-scaled time): one curve per run of the latencies at
    replicas outside the training DC, or one per DC of one run."""
    from ekkosim.plots.draw import save  # here: matplotlib only when drawing
    from ekkosim.plots.latency import CROSS_DC_LABEL, by_dc_figure, cdf_figure, cross_dc
    from ekkosim.results.read import load_run
    from ekkosim.runner import RESOLVED

    if by_dc and len(run_dirs) != 1:
        raise PlotError("--by dc takes exactly one run folder")
    tables = [latencies(run_dir) for run_dir in run_dirs]
    try:
        scenarios = [load_run(run_dir).scenario for run_dir in run_dirs]
    except (ValidationError, yaml.YAMLError, OSError, UnicodeDecodeError) as err:
        raise PlotError(f"cannot read a run's {RESOLVED}: {str(err).splitlines()[0]}") from None
    if by_dc:
        dcs = [dc.name for dc in scenarios[0].topology.datacenters]
        fig = by_dc_figure(Path(run_dirs[0]).name, tables[0], dcs, scenarios[0].training_dc.name)
    else:
        curves = [(label, cross_dc(table, scenario.training_dc.name))
                  for label, table, scenario in zip(labels or run_labels(run_dirs), tables, scenarios)]
        fig = cdf_figure(curves, "update latency", CROSS_DC_LABEL)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    return save(fig, out)
