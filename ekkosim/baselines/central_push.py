"""Central push: the training DC sends every DC its copy directly, then commits.

As in a two-phase-commit design (Project Adam's parameter servers): the copies go out in
parallel (prepare); each DC's first server acknowledges to the training DC's first server; when
every acknowledgement is in, a commit goes to every DC, and the new model is visible there when
the commit arrives. With `central_push.commit: false` a DC's model is ready when its copy is.
Acknowledgements and commits are zero-byte messages: they cost one one-way latency each.
"""

from __future__ import annotations

from collections.abc import Iterator

import simpy

from ekkosim.baselines.broadcast import broadcast
from ekkosim.baselines.outcome import WholeModelOutcome
from ekkosim.net.topology import Server
from ekkosim.simulation import Simulation

TAG = "central_push"


def start(sim: Simulation) -> WholeModelOutcome:
    outcome = WholeModelOutcome(sim)
    sim.env.process(_push(sim, outcome))
    return outcome


def _acknowledge(sim: Simulation, arrived: simpy.Event, dc: str, coordinator: Server) -> Iterator[simpy.Event]:
    yield arrived
    yield sim.send(Server(dc, 0), coordinator, 0, f"{TAG}:ack").done


def _push(sim: Simulation, outcome: WholeModelOutcome) -> Iterator[simpy.Event]:
    arrivals = broadcast(sim, TAG)
    if not sim.scenario.central_push.commit:
        for dc, arrived in arrivals.items():
            outcome.ready_when(dc, arrived)
        yield simpy.AllOf(sim.env, list(arrivals.values()))
    else:
        coordinator = Server(sim.scenario.training_dc.name, 0)
        acks = [sim.env.process(_acknowledge(sim, arrived, dc, coordinator)) for dc, arrived in arrivals.items()]
        yield simpy.AllOf(sim.env, acks)
        commits = {dc: sim.send(coordinator, Server(dc, 0), 0, f"{TAG}:commit").done for dc in arrivals}
        for dc, committed in commits.items():
            outcome.ready_when(dc, committed)
        yield simpy.AllOf(sim.env, list(commits.values()))
    outcome.done.succeed()
