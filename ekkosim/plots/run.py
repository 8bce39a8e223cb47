"""The figures every run folder gets (`ekkosim run --no-plots` skips them):

- `latency_cdf.png`: update latency per data center (runs that measure it: strategy ekko);
- `links.png`: utilisation of the busiest links per time window, with congestion and failed
  links shaded;
- `quality.png`: the SLO drop per inference DC per window (runs with the quality model), with
  congestion, faults, biased bursts and the state manager's incidents marked.

They are drawn from the tables the run has just written and its summary, before the summary is
written, so a finished run has its figures.
"""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import PercentFormatter

from ekkosim.plots.draw import Curve, draw_curves, figure, legend_below, write
from ekkosim.plots.latency import by_dc_figure
from ekkosim.results.run_folder import RunFolder
from ekkosim.run_files import LATENCY, LATENCY_FIGURE, LINKS_FIGURE, QUALITY, QUALITY_FIGURE, TIMESERIES
from ekkosim.schema import Scenario
from ekkosim.units import BANDWIDTH, DURATION

BUSIEST = 8  # links drawn one by one; the others as one line, their highest utilisation per window


def run_figures(scenario: Scenario, summary: dict, tables: dict[str, dict]) -> dict[str, Figure]:
    """The run's figures by file name, from its tables (file name to columns) and summary."""
    figures = {}
    if LATENCY in tables:
        dcs = [dc.name for dc in scenario.topology.datacenters]
        undelivered = {dc: stats["undelivered"] for dc, stats in summary["latency_by_dc_s"].items()}
        figures[LATENCY_FIGURE] = by_dc_figure(scenario.name, tables[LATENCY], dcs, scenario.training_dc.name, undelivered)
    figures[LINKS_FIGURE] = _links_figure(scenario, summary, tables[TIMESERIES])
    if QUALITY in tables:
        figures[QUALITY_FIGURE] = _quality_figure(scenario, summary, tables[QUALITY])
    return figures


def draw_run(folder: RunFolder, scenario: Scenario, summary: dict, tables: dict[str, dict]) -> list[str]:
    """Write the run's figures into its run folder (each in the folder's manifest, so a rerun
    clears it); their file names."""
    figures = run_figures(scenario, summary, tables)
    for name, fig in figures.items():
        folder.write_file(name, write(fig))
    return list(figures)


def _windows(starts: np.ndarray, window_s: float) -> np.ndarray:
    """Every window start from 0 to the last, so a window without a row reads as 0."""
    last = float(starts.max()) if starts.size else 0.0
    return np.arange(0.0, last + window_s / 2, window_s)


def _step(windows: np.ndarray, window_s: float, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A per-window series as a step line that holds its last value to the end of its window."""
    return np.append(windows, windows[-1] + window_s), np.append(values, values[-1])


def _links_figure(scenario: Scenario, summary: dict, columns: dict) -> Figure:
    window_s = scenario.output.window
    starts = np.asarray(columns["window_start_s"], dtype=float)
    links = np.asarray(columns["link"], dtype=object)
    utilisation = np.asarray(columns["utilisation"], dtype=float)
    windows = _windows(starts, window_s)
    index = np.rint(starts / window_s).astype(np.int64)
    names = list(dict.fromkeys(links.tolist()))
    series = {}
    for name in names:
        rows = (links == name) & np.isfinite(utilisation)
        if rows.any():  # a link of unlimited capacity has no utilisation
            values = np.zeros(windows.size)
            np.add.at(values, index[rows], utilisation[rows])
            series[name] = values
    ranked = sorted(series, key=lambda name: (-series[name].mean(), names.index(name)))
    fig, (ax,) = figure()
    curves = [Curve(f"{name}: mean {series[name].mean():.1%}, peak {series[name].max():.1%}",
                    *_step(windows, window_s, series[name])) for name in ranked[:BUSIEST]]
    draw_curves(ax, curves, step=True)
    rest = ranked[BUSIEST:]
    if rest:
        highest = np.max([series[name] for name in rest], axis=0)
        ax.plot(*_step(windows, window_s, highest), drawstyle="steps-post", color="0.6", linewidth=0.8,
                label=f"the other {len(rest)} links: the highest of them")
    ax.set_xlim(0, max(float(summary["sim_time_s"]), window_s))
    _shade_network(ax, scenario, summary)  # a link still down at the end is hatched to the axis' end
    peak = max((float(values.max()) for values in series.values()), default=0.0)
    ax.set_ylim(0, min(1.05, max(peak * 1.1, 0.01)))  # a lightly used network still shows its curves
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel(f"utilisation of nominal capacity per {DURATION.format(window_s)} window")
    ax.set_title(f"{scenario.name}: the {min(BUSIEST, len(ranked))} busiest of {len(series)} links", fontsize=10)
    ax.grid(True, alpha=0.3)
    legend_below(fig, ax)
    return fig


def _congestion_label(event) -> str:
    left = f"{event.fraction:.0%}" if event.fraction is not None else BANDWIDTH.format(event.capacity)
    return f"congestion {event.start:g}-{event.end:g} s: {event.link} at {left}"


def _shade_network(ax: Axes, scenario: Scenario, summary: dict) -> None:
    """Congestion periods shaded red, failed links and partitions hatched (as injected)."""
    for event in scenario.network.congestion:
        ax.axvspan(event.start, event.end, color="tab:red", alpha=0.08, label=_congestion_label(event))
    for fault in summary.get("faults", {}).get("injected", []):
        if fault["kind"] in ("link_down", "partition"):
            spec = scenario.faults[fault["fault"]]
            what = spec.link if fault["kind"] == "link_down" else ", ".join(spec.dcs) + " cut off"
            end = fault["recovered_s"] if fault["recovered_s"] is not None else ax.get_xlim()[1]
            ax.axvspan(fault["at_s"], end, facecolor="none", edgecolor="0.5", hatch="//", linewidth=0,
                       label=f"{fault['kind']} {fault['at_s']:g}-{end:g} s: {what}")


def _quality_figure(scenario: Scenario, summary: dict, columns: dict) -> Figure:
    window_s = scenario.output.window
    starts = np.asarray(columns["window_start_s"], dtype=float)
    dc = np.asarray(columns["dc"], dtype=object)
    served = np.asarray(columns["served_loss"], dtype=float)
    ideal = np.asarray(columns["ideal_loss"], dtype=float)
    windows = _windows(starts, window_s)
    index = np.rint(starts / window_s).astype(np.int64)
    curves = []
    for name in scenario.receiving_dcs:
        rows = dc == name
        if not rows.any():
            continue
        served_sum, ideal_sum = np.zeros(windows.size), np.zeros(windows.size)
        np.add.at(served_sum, index[rows], served[rows])
        np.add.at(ideal_sum, index[rows], ideal[rows])
        with np.errstate(divide="ignore", invalid="ignore"):
            drop = np.where(ideal_sum > 0, 100 * (served_sum - ideal_sum) / ideal_sum, np.nan)
        peak = summary.get("slo", {}).get("by_dc", {}).get(name, {}).get("peak_pct")
        label = name if peak is None else f"{name}: peak {peak:.2f} %"
        curves.append(Curve(label, *_step(windows, window_s, drop)))
    fig, (ax,) = figure()
    draw_curves(ax, curves, step=True)
    ax.set_xlim(0, max(float(summary["sim_time_s"]), window_s))
    _shade_network(ax, scenario, summary)
    extra = _mark_incidents(ax, scenario, summary)
    ax.axhline(0, color="0.3", linewidth=0.6)
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("SLO drop: loss above an ideal replica's (%)")
    ax.set_title(f"{scenario.name}: service quality per inference DC, {DURATION.format(window_s)} windows",
                 fontsize=10)
    ax.grid(True, alpha=0.3)
    legend_below(fig, ax, extra)
    return fig


def _mark_incidents(ax: Axes, scenario: Scenario, summary: dict) -> list[tuple]:
    """Biased bursts shaded orange, other injected faults as dotted lines, and each of the state
    manager's incidents: detected (a dashed red line), traffic switched until rolled back in the
    slowest DC (green), drawn unlabelled once per incident: the legend entries for them are returned."""
    for burst in scenario.quality.biased_updates:
        ax.axvspan(burst.start, burst.end, color="tab:orange", alpha=0.15,
                   label=f"biased updates on {burst.model} {burst.start:g}-{burst.end:g} s")
    for fault in summary.get("faults", {}).get("injected", []):
        if fault["kind"] not in ("link_down", "partition"):
            ax.axvline(fault["at_s"], color="0.4", linestyle=":", linewidth=1,
                       label=f"{fault['kind']} at {fault['at_s']:g} s: {fault.get('target', '')}".rstrip(": "))
    incidents = summary.get("manager", {}).get("incidents", [])
    for incident in incidents:
        ax.axvline(incident["detected_at_s"], color="tab:red", linestyle="--", linewidth=1)
        complete = incident["rollback_complete_s"]
        if incident["traffic_switched_at_s"] is not None and complete:
            ax.axvspan(incident["traffic_switched_at_s"], max(complete.values()), color="tab:green", alpha=0.2)
    if not incidents:
        return []
    return [(Line2D([], [], color="tab:red", linestyle="--", linewidth=1), f"incident detected ({len(incidents)})"),
            (Patch(color="tab:green", alpha=0.2), "traffic switched to the baseline until rolled back")]
