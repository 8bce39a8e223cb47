"""Plots of run folders: update-latency CDFs of several runs, or of one run per data center."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from matplotlib.figure import Figure  # not pyplot: no display, and no backend forced on the caller

PERCENTILES = (50, 99)


class PlotError(ValueError):
    """A run folder that cannot be plotted (no latency table, not a finished run)."""


def latencies(run_dir: Path) -> dict[str, np.ndarray]:
    """The latency table of a finished ekko run: column name to array."""
    run_dir = Path(run_dir)
    if not (run_dir / "summary.json").exists():
        raise PlotError(f"{run_dir}: not a finished run (no summary.json)")
    table = run_dir / "latency.parquet"
    if not table.exists():
        raise PlotError(f"{run_dir}: no latency.parquet (only strategy ekko measures update latency)")
    columns = pq.read_table(table)
    return {name: columns.column(name).to_numpy(zero_copy_only=False) for name in columns.column_names}


def _cdf(ax, values: np.ndarray, label: str) -> None:
    values = np.sort(values[values > 0])
    if values.size == 0:
        return
    share = np.arange(1, values.size + 1) / values.size
    (line,) = ax.step(values, share, where="post", label=f"{label} (mean {values.mean():.3g} s)")
    for p in PERCENTILES:
        x = np.percentile(values, p)
        ax.plot([x], [p / 100], "o", color=line.get_color(), markersize=4)
        ax.annotate(f"p{p}", (x, p / 100), textcoords="offset points", xytext=(4, -10), fontsize=7,
                    color=line.get_color())


def plot_cdfs(run_dirs: list[Path], out: Path, by_dc: bool = False, labels: list[str] | None = None) -> Path:
    """Overlay update-latency CDFs (log-scaled time): one line per run, or per DC of one run."""
    if by_dc and len(run_dirs) != 1:
        raise PlotError("--by dc takes exactly one run folder")
    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    if by_dc:
        table = latencies(run_dirs[0])
        for dc in dict.fromkeys(table["dc"].tolist()):  # DCs in order of first delivery
            _cdf(ax, table["latency_s"][table["dc"] == dc], dc)
        ax.set_title(f"update latency per data center: {Path(run_dirs[0]).name}")
    else:
        for i, run_dir in enumerate(run_dirs):
            _cdf(ax, latencies(run_dir)["latency_s"], labels[i] if labels else Path(run_dir).name)
        ax.set_title("update latency")
    ax.set_xscale("log")
    ax.set_xlabel("update latency (s)")
    ax.set_ylabel("share of (update, replica) pairs")
    ax.set_ylim(0, 1.02)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    return out
