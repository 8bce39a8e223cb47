"""Plots of run folders: update-latency CDFs of several runs, or of one run per data center."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure  # not pyplot: no display, and no backend forced on the caller

from ekkosim.run_files import LATENCY
from ekkosim.results.manifest import replace_file
from ekkosim.results.read import LATENCY_COLUMNS, read_table
from ekkosim.results.run_folder import finished_summary

PERCENTILES = (50, 99)


class PlotError(ValueError):
    """A run folder that cannot be plotted (no latency table, not a finished run), or a file
    the plot cannot be written to."""


def latencies(run_dir: Path) -> dict[str, np.ndarray]:
    """The latency table of a finished ekko run: column name to array (RunFolderError if the
    folder is not a finished run, or its table is damaged)."""
    run_dir = Path(run_dir)
    finished_summary(run_dir)
    table = run_dir / LATENCY
    if not os.path.lexists(table):
        raise PlotError(f"{run_dir}: no {LATENCY} (only strategy ekko measures update latency)")
    columns = read_table(table, LATENCY_COLUMNS)
    arrays = {name: columns.column(name).to_numpy(zero_copy_only=False) for name in columns.column_names}
    bad = ~(np.isfinite(arrays["latency_s"]) & (arrays["latency_s"] >= 0))
    if bad.any():
        first = int(np.argmax(bad))
        raise PlotError(f"{table}: {int(bad.sum()):,} latencies are not finite and >= 0 "
                        f"(row {first}: {arrays['latency_s'][first]}); ekkosim writes none such")
    return arrays


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
    return _save(fig, Path(out))


def _save(fig: Figure, out: Path) -> Path:
    """Write `fig` to exactly `out`, in the format its suffix names."""
    formats = fig.canvas.get_supported_filetypes()
    kind = out.suffix.lower().removeprefix(".")
    if kind not in formats:
        raise PlotError(f"--out {out}: the file name must end in a format matplotlib writes "
                        f"({', '.join('.' + name for name in sorted(formats))})")
    if os.path.lexists(out) and not out.is_file():
        raise PlotError(f"--out {out}: not a regular file")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        replace_file(out, lambda file: fig.savefig(file, format=kind, dpi=120))
    except OSError as err:
        raise PlotError(f"--out {out}: cannot write: {err.strerror or err}") from None
    return out
