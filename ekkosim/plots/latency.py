"""Update-latency CDFs: per data center of one run, or one curve per run (`ekkosim plot`,
`ekkosim compare`). Time is log-scaled; each curve marks its p50 and p99, and its legend entry
gives its mean, p50 and p99."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ekkosim.plots.draw import PERCENTILE_KEY, Curve, cdf, draw_curves, figure, legend_below, log_axis, percentile_marks


def latency_curve(label: str, values: np.ndarray, undelivered: int = 0) -> Curve | None:
    """The CDF of positive latencies `values` (a log axis cannot show 0), or None if there are
    none; `undelivered` pairs (never delivered within the run) are named, not drawn."""
    values = np.asarray(values, dtype=float)
    shown = values[values > 0]
    if shown.size == 0:
        return None
    p50, p99 = np.percentile(shown, [50, 99])
    hidden = values.size - shown.size
    label = (f"{label}: mean {shown.mean():.3g} s, p50 {p50:.3g} s, p99 {p99:.3g} s"
             + (f" ({hidden:,} at 0 s not shown)" if hidden else "")
             + (f" of the delivered; {undelivered:,} pairs undelivered" if undelivered else ""))
    return Curve(label, *cdf(shown), marks=percentile_marks(shown))


def cdf_figure(curves: list[tuple[str, np.ndarray]], title: str, xlabel: str,
               undelivered: dict[str, int] | None = None) -> Figure:
    """A figure of latency CDFs, one per (label, latencies), with the pairs each label's run left
    undelivered (`undelivered`, by label) named; labels with no positive latency are named in the
    title as having none."""
    fig, (ax,) = figure()
    drawn = [(label, latency_curve(label, values, (undelivered or {}).get(label, 0))) for label, values in curves]
    draw_curves(ax, [curve for _, curve in drawn if curve is not None])
    empty = [label for label, curve in drawn if curve is None]
    ax.set_xscale("log")
    log_axis(ax.xaxis)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("share of (update, replica) pairs")
    ax.set_ylim(0, 1.02)
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title(title + (f"\nno latencies: {', '.join(empty)}" if empty else ""), fontsize=10)
    legend_below(fig, ax, PERCENTILE_KEY)
    return fig


def by_dc_figure(name: str, columns: dict, dcs: list[str], training_dc: str,
                 undelivered: dict[str, int] | None = None) -> Figure:
    """One run's update latency per data center, in `dcs` order, with the pairs each DC was never
    delivered (`undelivered`, by DC, from the summary); the training DC's replicas are the copies
    beside the origin (intra-DC)."""
    dc = np.asarray(columns["dc"])
    latency = np.asarray(columns["latency_s"], dtype=float)
    labels = {d: f"{d} (training DC)" if d == training_dc else d for d in dcs}
    curves = [(labels[d], latency[dc == d]) for d in dcs if (dc == d).any()]
    return cdf_figure(curves, f"{name}: update latency per data center", "update latency (s)",
                      {labels[d]: n for d, n in (undelivered or {}).items() if d in labels})


def cross_dc(columns: dict, training_dc: str) -> np.ndarray:
    """The latencies at replicas outside the training DC: what `reproduce` and the summary's
    `cross_dc_latency_s` average."""
    return np.asarray(columns["latency_s"], dtype=float)[np.asarray(columns["dc"]) != training_dc]


CROSS_DC_LABEL = "cross-DC update latency (s): at replicas outside the training DC, as reported by `reproduce`"
