"""Chain replication across DCs: the models pass DC to DC in chunks, pipelined.

The chain starts at the training DC and visits the inference DCs in `chain.order`. Every
chunk belongs to one server per DC (striping); each server forwards its chunks to the next DC
in chunk order, one chunk at a time, as soon as a chunk has fully arrived (store and forward).
With per-chunk hop time h_i = L_i + c / B_i, the last DC holds C chunks at
sum(h_i) + (C - 1) * max(h_i): the slowest hop sets the pace.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import simpy

from ekkosim.baselines.outcome import WholeModelOutcome
from ekkosim.baselines.striping import chunk_owners, chunks
from ekkosim.net.topology import Server
from ekkosim.simulation import Simulation

TAG = "chain"


def start(sim: Simulation) -> WholeModelOutcome:
    order = [sim.scenario.training_dc.name, *(sim.scenario.chain.order or sim.scenario.receiving_dcs)]
    per_model = [chunks(model.size_bytes, sim.scenario.chain.chunk) for model in sim.scenario.models]
    sizes = np.concatenate(per_model)
    owners = {
        dc: np.concatenate([chunk_owners(s, sim.topology.datacenters[dc].servers) for s in per_model]) for dc in order
    }
    arrived = {dc: [sim.env.event() for _ in sizes] for dc in order}
    for event in arrived[order[0]]:
        event.succeed()  # the training DC holds every chunk from the start
    ready = []
    for src_dc, dst_dc in zip(order, order[1:]):
        for server in range(sim.topology.datacenters[src_dc].servers):
            mine = np.flatnonzero(owners[src_dc] == server)
            sim.env.process(_forward(sim, src_dc, dst_dc, server, mine, sizes, owners[dst_dc], arrived))
        ready.append((dst_dc, simpy.AllOf(sim.env, arrived[dst_dc])))
    # `done` fires after every ready time is recorded: AllOf is processed after its parts.
    outcome = WholeModelOutcome(sim, simpy.AllOf(sim.env, [event for _, event in ready]))
    for dc, event in ready:
        outcome.ready_when(dc, event)
    return outcome


def _forward(sim, src_dc, dst_dc, server, mine, sizes, dst_owners, arrived) -> Iterator[simpy.Event]:
    """One server's forwarding loop for one hop: its chunks, in order, one at a time."""
    for k in mine:
        yield arrived[src_dc][k]
        yield sim.send(Server(src_dc, server), Server(dst_dc, int(dst_owners[k])), float(sizes[k]), TAG).done
        arrived[dst_dc][k].succeed()
