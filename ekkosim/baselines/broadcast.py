"""Sending every inference DC a complete copy of the models, straight from the training DC.

Each training-DC server sends each receiving server the overlap of their stripes (one flow per
server pair, carrying every model), all DCs at once; the training DC's uplink is shared by all.
"""

from __future__ import annotations

import simpy

from ekkosim.baselines.striping import portions
from ekkosim.net.topology import Server
from ekkosim.simulation import Simulation


def broadcast(sim: Simulation, tag: str) -> dict[str, simpy.Event]:
    """Start the broadcast; return, per receiving DC, the event of its last byte arriving."""
    origin = sim.scenario.training_dc
    arrivals: dict[str, simpy.Event] = {}
    for dc_name in sim.scenario.receiving_dcs:
        dc = sim.topology.datacenters[dc_name]
        per_pair: dict[tuple[int, int], float] = {}
        for model in sim.scenario.models:
            for i, j, size in portions(model.size_bytes, origin.servers, dc.servers):
                per_pair[(i, j)] = per_pair.get((i, j), 0.0) + size
        flows = [
            sim.send(Server(origin.name, i), Server(dc_name, j), size, tag).done
            for (i, j), size in sorted(per_pair.items())
        ]
        arrivals[dc_name] = simpy.AllOf(sim.env, flows)
    return arrivals
