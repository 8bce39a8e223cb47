"""The few figures that say how a run went, read off its summary: what `ekkosim sweep` shows
per run and `ekkosim compare` shows first. A figure the run does not have (latency of a
baseline, SLO without the quality model) is left out."""

from __future__ import annotations

from typing import Any


def headline(summary: dict) -> dict[str, Any]:
    """Label to value, in a fixed order, for the figures this run has."""
    figures: dict[str, Any] = {}
    if "cross_dc_latency_s" in summary:
        figures["cross-DC latency mean s"] = summary["cross_dc_latency_s"]
        figures["latency p99 s"] = summary["latency_s"]["p99"]
    if "slo" in summary:
        figures["SLO drop peak %"] = summary["slo"]["slo_drop_peak_pct"]
    if "model_ready_s" in summary:
        ready = list(summary["model_ready_s"].values())
        figures["slowest DC ready s"] = None if None in ready or not ready else max(ready)
    if "converged" in summary:
        figures["converged"] = summary["converged"]
    figures["WAN GB"] = summary["bytes_wan"] / 1e9
    return figures
