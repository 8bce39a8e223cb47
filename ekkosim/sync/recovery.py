"""How a restarted parameter server comes back (docs/faults.md): log-less, from its peers.

A restarted server's stores hold the checkpoint of time 0. Its copies that are not origins catch
up through the sync, pulling from their leaders with cursor 0. A training-DC server also holds
the origins of some shards, where trainers write: before it takes writes again it pulls each of
those shards whole from every live copy of it, in every DC (one request and one reply per peer
server, their CPU not modelled), and keeps the newest version of each key and the union of the
knowledges. Trainers wait and push again meanwhile (`ekkosim.sync.trainer`). A version that no
surviving copy held is lost for good (`Cluster.lost_in_crashes`, counted at the crash).

A restarted server serves no inference request until it has caught up: until every shard copy
it holds knows at least what the live copies of that shard knew, together, when it restarted.
The time that took is its fault's `caught_up_s` in the summary (null: not within the run).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import simpy

from ekkosim.net.flows import FlowFailed
from ekkosim.net.topology import Server
from ekkosim.ps.pull import answer_cursor, apply_answer
from ekkosim.ps.store import Change, Store
from ekkosim.simulation import Simulation
from ekkosim.sync.cluster import Cluster

REQUEST, REPLY = "recovery:request", "recovery:reply"


class Recovery:
    """Brings restarted servers back: origins from their peers, and every server into service
    once it has caught up."""

    def __init__(self, sim: Simulation, cluster: Cluster):
        self.sim, self.env, self.cluster = sim, sim.env, cluster
        self.targets: dict[Server, tuple[list[np.ndarray], dict]] = {}  # per server catching up: knowledge per model, its fault's entry
        cluster.apply_hooks.append(self._applied)

    def restarted(self, server: Server, entry: dict) -> None:
        """`server` has just restarted (its fault's summary line `entry`): out of service until
        it has caught up; a training-DC server first recovers its origins."""
        entry["caught_up_s"] = None
        self.targets[server] = ([self._peer_knowledge(server, m) for m in range(len(self.sim.scenario.models))], entry)
        self.cluster.catching_up.add(server)
        if server.dc == self.sim.scenario.training_dc.name:
            self.cluster.recovering[server] = self.env.event()
            self.env.process(self._recover_origins(server))
        else:
            self._check(server)

    def _peer_knowledge(self, server: Server, m: int) -> np.ndarray:
        """Per holding of `server`'s store of model `m`, the union of the knowledges of the live
        copies of its shard elsewhere."""
        mine = self.cluster.stores[(server, m)]
        knowledge = np.zeros_like(mine.knowledge)
        for other, model, store in self.cluster.live_stores():
            if model != m or other == server:
                continue
            common = np.flatnonzero(np.isin(mine.shards, store.shards))
            theirs = store.knowledge[store.shards.searchsorted(mine.shards[common])]
            knowledge[common] = np.maximum(knowledge[common], theirs)
        return knowledge

    def _applied(self, server: Server, m: int, store: Store, change: Change, now: float) -> None:
        if server in self.targets:
            self._check(server)

    def _check(self, server: Server) -> None:
        """Has `server` caught up? Then it serves again."""
        targets, entry = self.targets[server]
        if server in self.cluster.recovering:
            return
        for m, target in enumerate(targets):
            if (self.cluster.stores[(server, m)].knowledge < target).any():
                return
        del self.targets[server]
        self.cluster.catching_up.discard(server)
        entry["caught_up_s"] = self.env.now

    def crashed(self, server: Server) -> None:
        """`server` crashed again before it caught up: its new restart starts afresh."""
        self.targets.pop(server, None)
        self.cluster.catching_up.discard(server)
        recovering = self.cluster.recovering.pop(server, None)
        if recovering is not None:
            recovering.succeed()  # whoever waited for it now waits for the next restart

    def _recover_origins(self, server: Server) -> Iterator[simpy.Event]:
        """Pull the origin shards of `server` whole from every live peer server holding them."""
        cluster = self.cluster
        n = cluster.dcs[server.dc].servers
        pulls = []
        for peer in sorted({other for other, _, _ in cluster.live_stores() if other != server}):
            groups = []
            for m in range(len(self.sim.scenario.models)):
                store, theirs_store = cluster.stores[(server, m)], cluster.stores[(peer, m)]
                origins = store.shards[(server.index - store.shards) % n == 0]
                common = origins[np.isin(origins, theirs_store.shards)]
                if common.size:
                    groups.append((m, store.shards.searchsorted(common), theirs_store.shards.searchsorted(common)))
            if groups:
                pulls.append(self.env.process(self._pull_whole(server, peer, groups)))
        recovering = cluster.recovering[server]
        yield simpy.AllOf(self.env, pulls)
        if cluster.recovering.get(server) is recovering:  # not crashed again meanwhile
            del cluster.recovering[server]
            recovering.succeed()
            self._check(server)

    def _pull_whole(self, server: Server, peer: Server, groups: list) -> Iterator[simpy.Event]:
        """One whole pull of `groups` (model, my holdings, the peer's holdings) from `peer`; a
        peer that goes down meanwhile held nothing that survived."""
        cluster, costs = self.cluster, self.sim.scenario.sync.costs
        incarnations = [cluster.stores[(server, m)] for m, _, _ in groups]
        try:
            yield self.sim.send(server, peer, costs.header_bytes, REQUEST).done
            if not cluster.is_up(peer):
                return
            answers = [answer_cursor(cluster.stores[(peer, m)], theirs, np.zeros(theirs.size, dtype=np.int64), False)
                       for m, _, theirs in groups]
            size = costs.header_bytes + sum(
                len(answer) * (costs.key_bytes + costs.version_bytes + self.sim.scenario.models[m].value_bytes)
                for (m, _, _), answer in zip(groups, answers))
            yield self.sim.send(peer, server, size, REPLY).done
        except FlowFailed:
            return
        for (m, mine, _), answer, store in zip(groups, answers, incarnations):
            if cluster.stores[(server, m)] is not store:
                return  # crashed again meanwhile
            change = apply_answer(store, mine, answer, whole=True)
            for hook in cluster.apply_hooks:
                hook(server, m, store, change, self.env.now)

