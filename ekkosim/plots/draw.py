"""How every ekkosim figure draws its curves, legends and files.

- A curve that coincides with one drawn before it (within 2% at 90% of its points or more, as
  the ablation's version-vector and shard-version curves do) is drawn dashed with hollow markers
  over the first, so both show, and its legend entry says which curve it coincides with.
- Text never lies over the data or over other text: figures use constrained layout, legends sit
  below the axes (never in them), numbers go into legend entries rather than annotations, and
  log axes are labelled at 1, 2, 5 of a decade. `overlapping_texts` finds any two texts that
  overlap, or one the figure's edge cuts (the tests check every figure with it).
- A CDF is drawn through `CDF_POINTS` quantiles, however many samples there are, so a run of
  millions of samples draws as fast as one of hundreds.
- Files are written at a fixed resolution and without the matplotlib version in their metadata,
  under a temporary name and then renamed, so a PNG is whole or absent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Text
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from ekkosim.results.manifest import replace_file

DPI = 100
CDF_POINTS = 1000
COINCIDE_RTOL = 0.02  # two curves within 2% of each other at nearly every point look like one line
COINCIDE_SHARE = 0.9
LEGEND_ROW_IN = 0.19  # inches a legend row of 8-point text takes
_HOLLOW_MARKERS = ("o", "s", "^", "D", "v", "P")


@dataclass
class Curve:
    """A line to draw: `x` and `y`, its legend label, and points to mark on it (`marks`: x, y
    and a marker per point, such as a CDF's p50 and p99)."""

    label: str
    x: np.ndarray
    y: np.ndarray
    marks: list[tuple[float, float, str]] = field(default_factory=list)

    def coincides_with(self, other: Curve) -> bool:
        """Whether the two would be drawn over each other: at `COINCIDE_SHARE` of their points or
        more, x within `COINCIDE_RTOL` of each other and y within that share of the larger |y|."""
        if self.x.shape != other.x.shape or self.x.size == 0:
            return False
        scale = np.nanmax(np.abs(np.concatenate([self.y, other.y])), initial=0.0) or 1.0
        with np.errstate(invalid="ignore"):
            close = (np.isclose(self.x, other.x, rtol=COINCIDE_RTOL, atol=1e-12, equal_nan=True)
                     & np.isclose(self.y, other.y, rtol=0, atol=COINCIDE_RTOL * scale, equal_nan=True))
        return bool(close.mean() >= COINCIDE_SHARE)


def figure(width: float = 9.5, height: float = 4.0, axes: int = 1) -> tuple[Figure, list[Axes]]:
    """A figure of `axes` axes side by side, laid out so that nothing overlaps."""
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)  # drawn off screen, whatever backend pyplot has
    made = fig.subplots(1, axes, squeeze=False)[0]
    return fig, list(made)


def draw_curves(ax: Axes, curves: list[Curve], step: bool = False) -> list[Line2D]:
    """Draw `curves` in order; one that coincides with an earlier one is drawn dashed with hollow
    markers, and labelled so."""
    drawn: list[tuple[Curve, Line2D]] = []
    lines = []
    for curve in curves:
        same = next((first for first, _ in drawn if curve.coincides_with(first)), None)
        style: dict = {"drawstyle": "steps-post"} if step else {}
        label = curve.label
        if same is not None:
            marker = _HOLLOW_MARKERS[len(lines) % len(_HOLLOW_MARKERS)]
            style |= {"linestyle": (0, (4, 3)), "marker": marker, "markevery": 0.08,
                      "markerfacecolor": "none", "markersize": 6}
            label += f" (coincides with {same.label.split(':')[0]})"
        (line,) = ax.plot(curve.x, curve.y, label=label, linewidth=1.4, **style)
        for x, y, mark in curve.marks:
            ax.plot([x], [y], mark, color=line.get_color(), markersize=5, zorder=3)
        drawn.append((curve, line))
        lines.append(line)
    return lines


def legend_below(fig: Figure, ax: Axes, extra: list[tuple] = ()) -> None:
    """The legend of `ax` (and `extra` (handle, label) pairs) below the axes, in two columns if
    it is long; the figure grows by its height, so the axes keep theirs."""
    handles, labels = ax.get_legend_handles_labels()
    for handle, label in extra:
        handles.append(handle)
        labels.append(label)
    if handles:
        columns = 1 if len(handles) <= 4 else 2
        fig.set_figheight(fig.get_figheight() + LEGEND_ROW_IN * -(-len(handles) // columns))
        fig.legend(handles, labels, loc="outside lower center", ncols=columns, fontsize=8, frameon=False)


def log_axis(axis) -> None:
    """A log-scaled axis labelled at 1, 2 and 5 of each decade in plain numbers (0.2, 5, 10):
    matplotlib's own labels of a span under a decade (2x10^-1, 3x10^-1, ...) run into each other."""
    axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_formatter(NullFormatter())


def cdf(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The empirical CDF of `values` at `CDF_POINTS` evenly spaced shares: (value, share)."""
    share = np.arange(1, CDF_POINTS + 1) / CDF_POINTS
    return np.quantile(np.asarray(values, dtype=float), share, method="inverted_cdf"), share


def percentile_marks(values: np.ndarray) -> list[tuple[float, float, str]]:
    """The p50 and p99 of `values` as marks on their CDF: a dot and a diamond."""
    p50, p99 = np.percentile(values, [50, 99])
    return [(float(p50), 0.5, "o"), (float(p99), 0.99, "D")]


PERCENTILE_KEY = [(Line2D([], [], marker="o", color="0.3", linestyle="none"), "p50"),
                  (Line2D([], [], marker="D", color="0.3", linestyle="none"), "p99")]


def overlapping_texts(fig: Figure) -> list[tuple[str, str]]:
    """Pairs of visible, non-empty texts of `fig` whose boxes overlap once drawn, and texts cut
    by the figure's edge (paired with "the figure's edge")."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    undrawn = {id(label) for ax in fig.axes for axis in (ax.xaxis, ax.yaxis) for tick in axis.get_major_ticks()
               + axis.get_minor_ticks() if not _in_view(axis, tick.get_loc()) for label in (tick.label1, tick.label2)}
    boxes = [(text.get_text(), text.get_window_extent(renderer)) for text in fig.findobj(Text)
             if text.get_visible() and text.get_text().strip() and id(text) not in undrawn]
    edge = fig.bbox.padded(1)  # a pixel of rounding
    cut = [(a, "the figure's edge") for a, box in boxes
           if not (edge.contains(box.x0, box.y0) and edge.contains(box.x1, box.y1))]
    return cut + [(a, b) for i, (a, box_a) in enumerate(boxes) for b, box_b in boxes[i + 1:] if box_a.overlaps(box_b)]


def _in_view(axis, loc: float) -> bool:
    """Whether a tick at `loc` is drawn: within the axis's view (matplotlib keeps labels for
    ticks just outside it, and does not draw them)."""
    low, high = sorted(axis.get_view_interval())
    span = abs(high - low) * 1e-9
    return low - span <= loc <= high + span


def save(fig: Figure, path: Path, kind: str = "png") -> Path:
    """Write `fig` at `path` (a `kind` matplotlib writes, PNG by default), whole or not at all,
    never through a link (`ekkosim.results.manifest.replace_file`)."""
    path = Path(path)
    replace_file(path, write(fig, kind))
    return path


def write(fig: Figure, kind: str = "png") -> Callable[[BinaryIO], None]:
    """What writes `fig` into an open file: bytes that do not change from run to run."""
    return lambda file: fig.savefig(file, format=kind, dpi=DPI, metadata={"Software": None} if kind == "png" else None)
