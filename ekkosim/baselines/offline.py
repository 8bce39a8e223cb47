"""The offline update (the path Ekko replaces): checkpoint, validate, then broadcast.

The trainer writes a checkpoint, the checkpoint is validated, and only then is the whole model
broadcast from the training DC to every inference DC in parallel. A DC's model is ready when
its last byte has arrived.
"""

from __future__ import annotations

from collections.abc import Iterator

import simpy

from ekkosim.baselines.broadcast import broadcast, record_ready
from ekkosim.simulation import Outcome, Simulation

TAG = "offline"


def start(sim: Simulation) -> Outcome:
    outcome = Outcome(done=sim.env.event())
    sim.env.process(_update(sim, outcome))
    return outcome


def _update(sim: Simulation, outcome: Outcome) -> Iterator[simpy.Event]:
    settings = sim.scenario.offline
    yield sim.env.timeout(settings.checkpoint_time + settings.validation_time)
    arrivals = broadcast(sim, TAG)
    for dc, arrived in arrivals.items():
        record_ready(sim, outcome.model_ready_s, dc, arrived)
    yield simpy.AllOf(sim.env, list(arrivals.values()))
    outcome.done.succeed()
