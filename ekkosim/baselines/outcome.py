"""What a whole-model strategy reports: when each receiving DC held the complete models; and
the slowdowns it takes (`slow_server`, `slow_link`: `ekkosim.net.slowdowns`), injected as
scheduled. A baseline has no CPU model, so a slow server is its slow NIC."""

from __future__ import annotations

import functools

import simpy

from ekkosim.net import slowdowns
from ekkosim.simulation import Outcome, Simulation, on_schedule

SLOWDOWNS = {"slow_server": slowdowns.slow_server_nic, "slow_link": slowdowns.slow_link}  # by fault kind


class WholeModelOutcome(Outcome):
    """The outcome of a whole-model strategy: when each receiving DC held the complete models."""

    def __init__(self, sim: Simulation, done: simpy.Event | None = None):
        super().__init__(done if done is not None else sim.env.event())
        self.sim = sim
        self.model_ready_s: dict[str, float] = {}
        self.faults_log: list[dict] = []
        for i, fault in enumerate(sim.scenario.faults):
            inject = functools.partial(SLOWDOWNS[fault.kind], sim.congestion, sim.topology, fault)
            sim.env.process(on_schedule(sim.env, i, fault, inject, self.faults_log))

    def ready_when(self, dc: str, event: simpy.Event) -> None:
        """When `event` fires, note the time as the moment `dc` holds the complete models."""
        event.callbacks.append(lambda _: self.model_ready_s.__setitem__(dc, self.sim.env.now))

    def summary(self) -> dict:
        return {"model_ready_s": {dc: self.model_ready_s.get(dc) for dc in self.sim.scenario.receiving_dcs},
                **({"faults": {"injected": self.faults_log}} if self.sim.scenario.faults else {})}
