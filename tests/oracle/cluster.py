"""The parameter servers of every DC: their shard replicas, their CPU cores, which of them are
up, and which copy of each shard leads in each DC.

A server that crashes loses its memory: its replicas go back to the checkpoint of time 0 (the
state every replica loaded at deployment), and pull the rest from their peers once it restarts.
Every crash, restart and election moves `epoch`, which tells pullers to look again at whom they
pull from and whether the replicas they knew are still the same incarnations.
"""

from __future__ import annotations

import copy

import numpy as np
import simpy

from ekkosim.net.topology import Server
from ekkosim.ps.placement import Leaders, ReplicaId, all_replicas, leader, pull_groups, server_of, upstream
from tests.oracle.version import newer
from tests.oracle.shard import ShardReplica
from ekkosim.schema import Scenario

N_ORIGINS = 1  # the training DC's copy 0 of each shard; rollback (issue 6) adds the witness
ORIGIN = 0  # the origin id of trainer writes


def shard_keys(keys: int, shards: int, shard: int) -> int:
    """Keys of `shard` when key k lives in shard k mod shards."""
    return (keys - shard + shards - 1) // shards


class Cluster:
    """Every shard replica, indexed by ReplicaId and by a dense number, and each server's CPU."""

    def __init__(self, env: simpy.Environment, scenario: Scenario):
        self.scenario = scenario
        self.dcs = {dc.name: dc for dc in scenario.topology.datacenters}
        cache = scenario.sync.cache_size if scenario.sync.update_cache else None
        self.ids = all_replicas(scenario)
        self.index = {rid: i for i, rid in enumerate(self.ids)}
        self.replicas = [
            ShardReplica(shard_keys(scenario.models[r.model].keys, scenario.models[r.model].shards, r.shard), N_ORIGINS, cache)
            for r in self.ids
        ]
        if scenario.sync.warm_start:
            self._warm_start()
        # called as hook(replica id, replica, now) after a puller applies an answer (the manager's
        # rollback watch); none by default
        self.apply_hooks: list = []
        self.cpu = {
            Server(dc.name, i): simpy.Resource(env, capacity=dc.cores)
            for dc in scenario.topology.datacenters
            for i in range(dc.servers)
        }
        self.env = env
        self.on_server: dict[Server, list[int]] = {}  # replica numbers by server
        for i, rid in enumerate(self.ids):
            self.on_server.setdefault(self.server(rid), []).append(i)
        self.leaders: Leaders = {}  # (model, shard, DC) to its leading copy, where not copy 0
        self.down: dict[Server, simpy.Event] = {}  # crashed servers, each with the event of its restart
        self.epoch = 0
        self.checkpoint: dict[tuple[int, int], ShardReplica] = {}

    def take_checkpoint(self) -> None:
        """Keep the state of time 0 that a crashed server reloads (every copy of a shard holds the
        same one then)."""
        for rid in self.ids:
            if rid.dc == self.scenario.training_dc.name and rid.copy == 0:
                self.checkpoint[(rid.model, rid.shard)] = copy.deepcopy(self.replica(rid))

    def crash(self, server: Server) -> list[tuple[int, ShardReplica]]:
        """`server` goes down and its replicas lose their memory; return (number, lost replica)."""
        self.down[server] = self.env.event()
        lost = []
        for i in self.on_server.get(server, []):
            rid = self.ids[i]
            lost.append((i, self.replicas[i]))
            self.replicas[i] = copy.deepcopy(self.checkpoint[(rid.model, rid.shard)])
        self.epoch += 1
        return lost

    def restart(self, server: Server) -> None:
        self.down.pop(server).succeed()
        self.epoch += 1

    def is_up(self, server: Server) -> bool:
        return server not in self.down

    def serving(self, rid: ReplicaId) -> ShardReplica:
        """The replica that serves requests meant for `rid`: itself while its server is up, else
        the next copy of its shard in its DC whose server is (none: its own checkpoint state)."""
        copies = self.scenario.models[rid.model].replicas
        for step in range(copies if self.down else 1):
            other = ReplicaId(rid.model, rid.shard, rid.dc, (rid.copy + step) % copies)
            if self.is_up(self.server(other)):
                return self.replica(other)
        return self.replica(rid)

    def leader(self, model: int, shard: int, dc: str) -> ReplicaId:
        return ReplicaId(model, shard, dc, leader(self.leaders, model, shard, dc))

    def elect(self) -> int:
        """Wherever a shard's leader is down, the lowest live copy in its DC takes over (none: it
        waits); return how many leaders changed."""
        origin = self.scenario.training_dc.name
        changed = 0
        for rid in self.ids:
            if rid.dc == origin or rid.copy != 0:
                continue
            lead = self.leader(rid.model, rid.shard, rid.dc)
            if self.is_up(self.server(lead)):
                continue
            copies = self.scenario.models[rid.model].replicas
            live = [c for c in range(copies) if self.is_up(self.server(ReplicaId(rid.model, rid.shard, rid.dc, c)))]
            if live:
                self.leaders[(rid.model, rid.shard, rid.dc)] = live[0]
                changed += 1
        if changed:
            self.epoch += 1
        return changed

    def pull_groups(self) -> dict[tuple[Server, Server], list[tuple[ReplicaId, ReplicaId]]]:
        """Who pulls what from whom, under the current leaders."""
        return pull_groups(self.scenario, self.leaders)

    def _warm_start(self) -> None:
        """Steady state at time 0: every replica holds the same versions of each shard's first
        `cache_size` keys, and its cache is full of them."""
        versions = {}  # (keys, time, origin, counter, value, high) per number of keys, shared: apply copies them
        for replica in self.replicas:
            n = min(self.scenario.sync.cache_size, replica.n_keys)
            if n not in versions:
                keys = np.arange(n, dtype=np.int64)
                versions[n] = (keys, np.zeros(n), np.full(n, ORIGIN, dtype=np.int16), 1 + keys, np.zeros(n),
                               np.zeros(n, dtype=bool))
            replica.apply(*versions[n])
            replica.knowledge[ORIGIN] = n

    def replica(self, rid: ReplicaId) -> ShardReplica:
        return self.replicas[self.index[rid]]

    def server(self, rid: ReplicaId) -> Server:
        return server_of(self.dcs, rid)

    def origin(self, model: int, shard: int) -> ReplicaId:
        return ReplicaId(model, shard, self.scenario.training_dc.name, 0)

    def holders(self) -> dict[tuple[int, int], int]:
        """Per (model, shard): how many replicas receive its updates (all but the origin)."""
        counts: dict[tuple[int, int], int] = {}
        for rid in self.ids:
            if upstream(self.scenario, rid) is not None:
                counts[(rid.model, rid.shard)] = counts.get((rid.model, rid.shard), 0) + 1
        return counts

    def live(self) -> list[ReplicaId]:
        """The replicas on servers that are up."""
        return [rid for rid in self.ids if self.is_up(self.server(rid))]

    def converged(self) -> bool:
        """Does every live replica of every shard equal its origin: every key's version and value,
        and its knowledge?"""
        return self.first_difference() is None

    def first_difference(self) -> tuple[ReplicaId, int | None] | None:
        """The first live replica that differs from its origin, with the first key that differs
        (None: only the knowledge does); None if every live replica equals its origin."""
        for rid in self.live():
            replica, origin = self.replica(rid), self.replica(self.origin(rid.model, rid.shard))
            differs = ((replica.time != origin.time) | (replica.origin != origin.origin)
                       | (replica.counter != origin.counter) | (replica.value != origin.value))
            if differs.any():
                return rid, int(differs.argmax())
            if not np.array_equal(replica.knowledge, origin.knowledge):
                return rid, None
        return None

    def lost_updates(self) -> int:
        """Keys whose newest version at the origin, the effect of the last update a trainer (or a
        rollback) wrote there, some live replica does not hold, nor a newer one."""
        behind: dict[tuple[int, int], np.ndarray] = {}
        for rid in self.live():
            replica, origin = self.replica(rid), self.replica(self.origin(rid.model, rid.shard))
            lacks = newer(origin.time, origin.origin, origin.counter, replica.time, replica.origin, replica.counter)
            shard = (rid.model, rid.shard)
            behind[shard] = lacks if shard not in behind else behind[shard] | lacks
        return sum(int(lacks.sum()) for lacks in behind.values())
