"""What a whole-model strategy reports: when each receiving DC held the complete models."""

from __future__ import annotations

import simpy

from ekkosim.simulation import Outcome, Simulation


class WholeModelOutcome(Outcome):
    """The outcome of a whole-model strategy: when each receiving DC held the complete models."""

    def __init__(self, sim: Simulation, done: simpy.Event | None = None):
        super().__init__(done if done is not None else sim.env.event())
        self.sim = sim
        self.model_ready_s: dict[str, float] = {}

    def ready_when(self, dc: str, event: simpy.Event) -> None:
        """When `event` fires, note the time as the moment `dc` holds the complete models."""
        event.callbacks.append(lambda _: self.model_ready_s.__setitem__(dc, self.sim.env.now))

    def summary(self) -> dict:
        return {"model_ready_s": {dc: self.model_ready_s.get(dc) for dc in self.sim.scenario.receiving_dcs}}
