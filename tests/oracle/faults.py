"""The fault schedule: a scenario's `faults`, each broken at its time and repaired at its own.

- `link_down`: the link fails (`Network.fail_link`): flows over it fail, and pullers retry.
- `partition`: every WAN link between the given DCs and the rest fails at once.
- `server_crash`: the server's NIC links fail, its replicas lose their memory (back to the
  checkpoint of time 0), its pullers stop; `sync.election_timeout` later, wherever it led a
  shard, the lowest live copy in its DC takes over. On restart its links work again, its pullers
  pull from whoever leads now, with cursor 0, and recover what the checkpoint lacks.
- `leader_crash`: a `server_crash` of whichever server leads the shard in the DC at that time.

A link broken by several faults at once works again when the last of them is repaired.
docs/faults.md has the model and what it leaves out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import simpy

from tests.oracle.latency import LatencyTracker
from ekkosim.net.topology import Server
from ekkosim.simulation import Simulation
from tests.oracle.cluster import Cluster
from tests.oracle.puller import Pullers


class FaultSchedule:
    """Injects the scenario's faults into the network and the cluster."""

    def __init__(self, sim: Simulation, cluster: Cluster, pullers: Pullers, tracker: LatencyTracker):
        self.sim, self.env, self.cluster, self.pullers, self.tracker = sim, sim.env, cluster, pullers, tracker
        self.broken: Counter[int] = Counter()  # link id: faults holding it down
        self.log: list[dict] = []
        self.elections = 0
        if any(fault.kind in ("server_crash", "leader_crash") for fault in sim.scenario.faults):
            cluster.take_checkpoint()
        for i, fault in enumerate(sim.scenario.faults):
            self.env.process(self._inject(i, fault))

    def _inject(self, i: int, fault) -> Iterator[simpy.Event]:
        yield self.env.timeout(fault.at)
        entry = {"fault": i, "kind": fault.kind, "at_s": self.env.now, "recovered_s": None}
        repair = self._break(fault, entry)
        self.log.append(entry)
        if repair is None or fault.recover is None:
            return
        yield self.env.timeout(fault.recover - self.env.now)
        repair()
        entry["recovered_s"] = self.env.now

    def _break(self, fault, entry: dict):
        """Break what `fault` names; return how to repair it (None: nothing was broken)."""
        if fault.kind == "link_down":
            return self._fail_links(self.sim.topology.links_of(fault.link))
        if fault.kind == "partition":
            return self._fail_links(self._cut(set(fault.dcs)))
        if fault.kind == "leader_crash":
            model = next((m for m, spec in enumerate(self.sim.scenario.models) if spec.name == fault.model), 0)
            server = self.cluster.server(self.cluster.leader(model, fault.shard, fault.dc))
        else:
            server = Server(fault.dc, fault.server)
        entry["target"] = str(server)
        if not self.cluster.is_up(server):  # already down: this fault changes nothing
            return None
        repair_nic = self._crash(server)
        return lambda: self._restart(server, repair_nic)

    def _cut(self, dcs: set[str]) -> list[int]:
        """Both directions of every WAN link with one end in `dcs` and the other outside."""
        links = []
        for a, b in self.sim.topology.graph.edges():
            if (a in dcs) != (b in dcs):
                links += self.sim.topology.links_of(f"wan:{a}<->{b}")
        return links

    def _fail_links(self, links: list[int]):
        network = self.sim.network
        for link in links:
            self.broken[link] += 1
            if self.broken[link] == 1:
                network.fail_link(link)

        def repair() -> None:
            for link in links:
                self.broken[link] -= 1
                if self.broken[link] == 0:
                    network.repair_link(link)

        return repair

    def _nic(self, server: Server) -> list[int]:
        return [self.sim.network.link_id(f"{server}/{side}") for side in ("tx", "rx")]

    def _crash(self, server: Server):
        """Crash `server`; return how to repair its NIC."""
        repair_nic = self._fail_links(self._nic(server))
        for number, lost in self.cluster.crash(server):
            rid = self.cluster.ids[number]
            self.tracker.lost(rid.model, rid.shard, number, lost)
        self.pullers.crashed(server)
        self.env.process(self._elect())
        return repair_nic

    def _restart(self, server: Server, repair_nic) -> None:
        repair_nic()
        self.cluster.restart(server)
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
