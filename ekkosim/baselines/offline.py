"""The offline update (the path Ekko replaces): checkpoint, validate, then broadcast.

The trainer writes a checkpoint, the checkpoint is validated, and only then is the whole model
broadcast from the training DC to every inference DC in parallel. A DC's model is ready when
its last byte has arrived.
"""

from __future__ import annotations

from collections.abc import Iterator

import simpy

from ekkosim.baselines.broadcast import broadcast
from ekkosim.baselines.outcome import WholeModelOutcome
from ekkosim.simulation import Simulation

TAG = "offline"


def start(sim: Simulation) -> WholeModelOutcome:
    outcome = WholeModelOutcome(sim)
    sim.env.process(_update(sim, outcome))
    return outcome


def _update(sim: Simulation, outcome: WholeModelOutcome) -> Iterator[simpy.Event]:
    settings = sim.scenario.offline
    yield sim.env.timeout(settings.checkpoint_time + settings.validation_time)
    arrivals = broadcast(sim, TAG)
    for dc, arrived in arrivals.items():
        outcome.ready_when(dc, arrived)
    yield simpy.AllOf(sim.env, list(arrivals.values()))
    outcome.done.succeed()
