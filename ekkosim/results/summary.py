"""What a finished simulation reports: the summary numbers and the result tables."""

from __future__ import annotations

import numpy as np

from ekkosim.net.background import TAG as BACKGROUND
from ekkosim.simulation import Simulation


def flows_table(sim: Simulation) -> dict[str, np.ndarray | list]:
    """One row per completed flow, in completion order."""
    log = sim.flow_log
    ends = log.endpoints
    return {
        "flow_id": np.array(log.id, dtype=np.int64),
        "tag": list(log.tag),
        "src": [e.src for e in ends],
        "dst": [e.dst for e in ends],
        "src_dc": [e.src_dc for e in ends],
        "dst_dc": [e.dst_dc for e in ends],
        "size_bytes": np.array(log.size_bytes, dtype=np.float64),
        "start_s": np.array(log.start_s, dtype=np.float64),
        "end_s": np.array(log.end_s, dtype=np.float64),
    }


def timeseries_table(sim: Simulation) -> dict[str, np.ndarray | list]:
    """Per link and time window: bytes carried, and utilisation of the link's nominal capacity."""
    rows = sim.meter.rows()
    window = sim.scenario.output.window
    starts = np.array([r[0] for r in rows], dtype=np.float64)
    links = np.array([r[1] for r in rows], dtype=np.int64)
    carried = np.array([r[2] for r in rows], dtype=np.float64)
    nominal = np.array([sim.nominal_capacity_Bps[i] for i in links], dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        utilisation = np.where(np.isfinite(nominal), carried / (nominal * window), np.nan)
    return {
        "window_start_s": starts,
        "link": [sim.link_names[i] for i in links],
        "bytes": carried,
        "utilisation": utilisation,
    }


def summarise(sim: Simulation, flows: dict) -> dict:
    """The summary numbers of a run (without version, wall time and digest, added by the runner)."""
    tags = flows["tag"]
    background = np.array([t.startswith(BACKGROUND) for t in tags], dtype=bool)
    cross = np.array([a != b for a, b in zip(flows["src_dc"], flows["dst_dc"])], dtype=bool)
    size = flows["size_bytes"]
    return {
        "scenario": sim.scenario.name,
        "seed": sim.scenario.seed,
        "strategy": sim.scenario.strategy,
        "complete": bool(sim.outcome.done.processed),
        "sim_time_s": float(sim.env.now),
        "events": sim.env.events_processed,
        "flows": len(tags),
        "bytes_wan": float(size[cross & ~background].sum()),
        "bytes_lan": float(size[~cross & ~background].sum()),
        "bytes_background": float(size[background].sum()),
        **sim.outcome.summary(),
    }
