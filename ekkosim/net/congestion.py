"""Congestion schedules: periods during which a link keeps only part of its capacity.

Where periods overlap on one link, the smallest capacity wins; when the last one ends the
link is back at its nominal capacity. Each change takes effect at its instant, and the network
recomputes every flow's rate then.
"""

from __future__ import annotations

from collections.abc import Iterator

import simpy

from ekkosim.net.flows import Network
from ekkosim.net.topology import Topology
from ekkosim.schema import Congestion

BYTES_PER_BIT = 1.0 / 8.0


class CongestionSchedule:
    """Applies a scenario's congestion periods to the network's links, as SimPy processes."""

    def __init__(self, env: simpy.Environment, network: Network, topology: Topology, periods: list[Congestion]):
        self.env = env
        self.network = network
        self.nominal: dict[int, float] = {}
        self.active: dict[int, list[float]] = {}
        for period in periods:
            for link in topology.links_of(period.link):
                self.nominal.setdefault(link, network.capacity(link))
                env.process(self._period(link, period))

    def _capacity_during(self, link: int, period: Congestion) -> float:
        if period.capacity is not None:
            return period.capacity * BYTES_PER_BIT
        return self.nominal[link] * period.fraction

    def _period(self, link: int, period: Congestion) -> Iterator[simpy.Event]:
        yield self.env.timeout(period.start)
        reduced = self._capacity_during(link, period)
        self.active.setdefault(link, []).append(reduced)
        self._apply(link)
        yield self.env.timeout(period.end - period.start)
        self.active[link].remove(reduced)
        self._apply(link)

    def _apply(self, link: int) -> None:
        levels = self.active.get(link)
        self.network.set_capacity(link, min(levels) if levels else self.nominal[link])
