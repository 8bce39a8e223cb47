"""`ekkosim plot`: update-latency CDFs of run folders, as a PNG: one curve per run (cross-DC
latency, the mean `reproduce` reports), or one per data center of one run."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ekkosim.results.read import LATENCY_COLUMNS, load_run, read_table
from ekkosim.results.run_folder import finished_summary
from ekkosim.run_files import LATENCY


class PlotError(ValueError):
    """A run folder that cannot be plotted (no latency table), or a file the plot cannot be
    written to. (A folder that is not a finished run is a RunFolderError.)"""


def latencies(run_dir: Path) -> dict[str, np.ndarray]:
    """The latency table of a finished ekko run: column name to array (RunFolderError if the
    folder is not a finished run, or its table is damaged; PlotError if it holds a latency no run
    measures: not finite, negative, or longer than the run's simulated time)."""
    run_dir = Path(run_dir)
    sim_time_s = finished_summary(run_dir)["sim_time_s"]
    table = run_dir / LATENCY
    if not os.path.lexists(table):
        raise PlotError(f"{run_dir}: no {LATENCY} (only strategy ekko measures update latency)")
    columns = read_table(table, LATENCY_COLUMNS)
    arrays = {name: columns.column(name).to_numpy(zero_copy_only=False) for name in columns.column_names}
    latency = arrays["latency_s"]
    # NaN fails too. A latency longer than the run is damage; at 1e308 s it would also overflow
    # the log axis, which rounds its limit up to the next decade.
    bad = ~((latency >= 0) & (latency <= sim_time_s))
    if bad.any():
        first = int(np.argmax(bad))
        raise PlotError(f"{table}: {int(bad.sum()):,} latencies are not between 0 s and the run's simulated "
                        f"time, {sim_time_s:g} s (row {first}: {latency[first]}); ekkosim writes none such")
    return arrays


def run_labels(run_dirs: list[Path]) -> list[str]:
    """Short names for run folders: their own names, or their paths where two names are alike."""
    names = [Path(d).name for d in run_dirs]
    return names if len(set(names)) == len(names) else [str(d) for d in run_dirs]


def plot_cdfs(run_dirs: list[Path], out: Path, by_dc: bool = False, labels: list[str] | None = None) -> Path:
    """Overlay update-latency CDFs (log-scaled time): one curve per run of the latencies at
    replicas outside the training DC, or one per DC of one run."""
    from ekkosim.plots.latency import CROSS_DC_LABEL, by_dc_figure, cdf_figure, cross_dc  # matplotlib, when drawing

    if by_dc and len(run_dirs) != 1:
        raise PlotError("--by dc takes exactly one run folder")
    tables = [latencies(run_dir) for run_dir in run_dirs]
    scenarios = [load_run(run_dir).scenario for run_dir in run_dirs]
    if by_dc:
        dcs = [dc.name for dc in scenarios[0].topology.datacenters]
        fig = by_dc_figure(Path(run_dirs[0]).name, tables[0], dcs, scenarios[0].training_dc.name)
    else:
        curves = [(label, cross_dc(table, scenario.training_dc.name))
                  for label, table, scenario in zip(labels or run_labels(run_dirs), tables, scenarios)]
        fig = cdf_figure(curves, "update latency", CROSS_DC_LABEL)
    return _save(fig, Path(out))


def _save(fig, out: Path) -> Path:
    """Write `fig` to exactly `out`, in the format its suffix names."""
    from ekkosim.plots.draw import save

    formats = fig.canvas.get_supported_filetypes()
    kind = out.suffix.lower().removeprefix(".")
    if kind not in formats:
        raise PlotError(f"--out {out}: the file name must end in a format matplotlib writes "
                        f"({', '.join('.' + name for name in sorted(formats))})")
    if os.path.lexists(out) and not out.is_file():
        raise PlotError(f"--out {out}: not a regular file")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        return save(fig, out, kind)
    except OSError as err:
        raise PlotError(f"--out {out}: cannot write: {err.strerror or err}") from None
