"""The fault schedule: a scenario's `faults`, each broken at its time and repaired at its own.

- `link_down`: the link fails (`Network.fail_link`): flows over it fail, and pullers retry; with
  `network.routing: live`, flows started from then on go around a failed WAN link if they can
  (`Topology.reroute`), and back when it is repaired.
- `partition`: every WAN link between the given DCs and the rest (other DCs and transit nodes)
  fails at once, both directions: exactly the links between the two sides, so no route is left.
- `server_crash`: the server's NIC links fail, its replicas lose their memory (back to the
  checkpoint of time 0), its pullers stop; `sync.election_timeout` later, wherever it led a
  shard, the lowest live copy in its DC takes over. On restart its links work again, its pullers
  pull from whoever leads now, with cursor 0, and recover what the checkpoint lacks; a
  training-DC server first recovers its origins from their peers, and no restarted server
  serves until it has caught up (`ekkosim.sync.recovery`).
- `leader_crash`: a `server_crash` of whichever server leads the shard in the DC at that time.
- `manager_crash`: a model state manager replica crashes (`ekkosim.sync.state_manager`).
- `slow_server`: the server's NIC carries 1/k of its capacity (`ekkosim.net.slowdowns`) and its
  CPU work takes k times as long (work begun before keeps its pace); it keeps serving.
- `slow_link`: the link carries 1/k of its capacity (`ekkosim.net.slowdowns`).

A link broken by several faults at once works again when the last of them is repaired.
docs/faults.md has the model and what it leaves out. Each kind is a `FaultKind` in `KINDS`, by
the `kind` its section in the scenario (`ekkosim.schema`) has.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import simpy

from ekkosim.metrics.latency import LatencyTracker
from ekkosim.net import slowdowns
from ekkosim.net.topology import Server
from ekkosim.schema import Fault
from ekkosim.simulation import Repair, Simulation, on_schedule
from ekkosim.sync.cluster import Cluster
from ekkosim.sync.puller import Pullers
from ekkosim.sync.recovery import Recovery
from ekkosim.sync.state_manager import StateManager


class FaultSchedule:
    """Injects the scenario's faults into the network, the cluster and the manager."""

    def __init__(self, sim: Simulation, cluster: Cluster, pullers: Pullers, tracker: LatencyTracker,
                 manager: StateManager | None):
        self.sim, self.env, self.cluster, self.pullers, self.tracker = sim, sim.env, cluster, pullers, tracker
        self.manager = manager
        self.broken: Counter[int] = Counter()  # link id: faults holding it down
        self.log: list[dict] = []
        self.elections = 0
        self.recovery = Recovery(sim, cluster)
        for i, fault in enumerate(sim.scenario.faults):
            inject = functools.partial(KINDS[fault.kind].inject, self, fault)
            self.env.process(on_schedule(self.env, i, fault, inject, self.log))

    def cut(self, dcs: set[str]) -> list[int]:
        """Both directions of every WAN link with one end in `dcs` and the other outside."""
        links = []
        for a, b in self.sim.topology.graph.edges():
            if (a in dcs) != (b in dcs):
                links += self.sim.topology.links_of(f"wan:{a}<->{b}")
        return links

    def fail_links(self, links: list[int]) -> Repair:
        """Fail `links` now; return how to repair them."""
        network = self.sim.network
        for link in links:
            self.broken[link] += 1
            if self.broken[link] == 1:
                network.fail_link(link)
        self.sim.topology.reroute()

        def repair() -> None:
            for link in links:
                self.broken[link] -= 1
                if self.broken[link] == 0:
                    network.repair_link(link)
            self.sim.topology.reroute()

        return repair

    def crash(self, server: Server, entry: dict) -> Repair | None:
        """Crash `server` now; return how to restart it (None: it was down already, and this
        fault changes nothing)."""
        entry["target"] = str(server)
        if not self.cluster.is_up(server):
            return None
        repair_nic = self.fail_links(self.sim.topology.nic_links(server))
        for model, lost in enumerate(self.cluster.crash(server)):
            self.tracker.lost(model, lost)
        self.pullers.crashed(server)
        self.recovery.crashed(server)
        self.env.process(self._elect())
        return lambda: self._restart(server, repair_nic, entry)

    def _restart(self, server: Server, repair_nic: Repair, entry: dict) -> None:
        repair_nic()
        self.cluster.restart(server)
        self.recovery.restarted(server, entry)
        self.env.process(self._elect())

    def _elect(self) -> Iterator[simpy.Event]:
        """`sync.election_timeout` after a crash or restart, leaders are chosen where they are down."""
        yield self.env.timeout(self.sim.scenario.sync.election_timeout)
        changed = self.cluster.elect()
        if changed:
            self.elections += changed
            self.pullers.regroup()

    def summary(self) -> dict:
        return {"injected": self.log, "leader_changes": self.elections}


@dataclass(frozen=True)
class FaultKind:
    """How a run breaks one kind of fault: `inject(schedule, fault, entry)` breaks what the
    fault names now, notes its target in `entry` (the fault's line in the summary) if it has
    one, and returns how to repair it (None: nothing was broken, nothing to repair)."""

    inject: Callable[[FaultSchedule, Fault, dict], Repair | None]


def _link_down(schedule: FaultSchedule, fault: Fault, entry: dict) -> Repair:
    return schedule.fail_links(schedule.sim.topology.links_of(fault.link))


def _partition(schedule: FaultSchedule, fault: Fault, entry: dict) -> Repair:
    return schedule.fail_links(schedule.cut(set(fault.dcs)))


def _server_crash(schedule: FaultSchedule, fault: Fault, entry: dict) -> Repair | None:
    return schedule.crash(Server(fault.dc, fault.server), entry)


def _leader_crash(schedule: FaultSchedule, fault: Fault, entry: dict) -> Repair | None:
    model = next((m for m, spec in enumerate(schedule.sim.scenario.models) if spec.name == fault.model), 0)
    return schedule.crash(schedule.cluster.server(schedule.cluster.leader(model, fault.shard, fault.dc)), entry)


def _slow_server(schedule: FaultSchedule, fault: Fault, entry: dict) -> Repair:
    restore_nic = slowdowns.slow_server_nic(schedule.sim.congestion, schedule.sim.topology, fault, entry)
    restore_cpu = schedule.cluster.slow_down(Server(fault.dc, fault.server), fault.factor)

    def restore() -> None:
        restore_nic()
        restore_cpu()

    return restore


def _slow_link(schedule: FaultSchedule, fault: Fault, entry: dict) -> Repair:
    return slowdowns.slow_link(schedule.sim.congestion, schedule.sim.topology, fault, entry)


def _manager_crash(schedule: FaultSchedule, fault: Fault, entry: dict) -> Repair | None:
    index = schedule.manager.crash(fault.replica, fault.recover)
    entry["target"] = "no manager leader" if index is None else f"manager replica {index}"
    return None if index is None else (lambda: schedule.manager.recover(index))


KINDS = {  # by the `kind` of the fault's section in the scenario
    "link_down": FaultKind(_link_down),
    "partition": FaultKind(_partition),
    "server_crash": FaultKind(_server_crash),
    "leader_crash": FaultKind(_leader_crash),
    "manager_crash": FaultKind(_manager_crash),
    "slow_server": FaultKind(_slow_server),
    "slow_link": FaultKind(_slow_link),
}
