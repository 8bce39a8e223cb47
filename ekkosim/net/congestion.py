"""Congestion schedules: periods during which a link keeps only part of its capacity.

Where periods overlap on one link, the smallest capacity wins; when the last one ends the
link is back at its nominal capacity. Each change takes effect at its instant, and the network
recomputes every flow's rate then. Slowdowns (`ekkosim.net.slowdowns`) hold a link down to a
fraction of its capacity the same way, for as long as their fault lasts (`degrade`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

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
        restore = self._hold(link, self._capacity_during(link, period))
        yield self.env.timeout(period.end - period.start)
        restore()

    def degrade(self, links: list[int], fraction: float) -> Callable[[], None]:
        """Hold `links` to `fraction` of their nominal capacity from now; return how to release them."""
        for link in links:
            self.nominal.setdefault(link, self.network.capacity(link))
        releases = [self._hold(link, self.nominal[link] * fraction) for link in links]

        def release_all() -> None:
            for release in releases:
                release()

        return release_all

    def _hold(self, link: int, capacity: float) -> Callable[[], None]:
        """Hold `link` to at most `capacity` until the returned function is called."""
        self.active.setdefault(link, []).append(capacity)
        self._apply(link)

        def release() -> None:
            self.active[link].remove(capacity)
            self._apply(link)

        return release

    def _apply(self, link: int) -> None:
        levels = self.active.get(link)
        self.network.set_capacity(link, min(levels) if levels else self.nominal[link])
