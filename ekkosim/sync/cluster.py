"""The parameter servers of every DC: their shard replicas and their CPU cores."""

from __future__ import annotations

import numpy as np
import simpy

from ekkosim.net.topology import Server
from ekkosim.ps.placement import ReplicaId, all_replicas, server_of, upstream
from ekkosim.ps.shard import ShardReplica
from ekkosim.scenario.schema import Scenario

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

    def _warm_start(self) -> None:
        """Steady state at time 0: every replica holds the same versions of each shard's first
        `cache_size` keys, and its cache is full of them."""
        for replica in self.replicas:
            keys = np.arange(min(self.scenario.sync.cache_size, replica.n_keys), dtype=np.int64)
            counters = 1 + np.arange(keys.size, dtype=np.int64)
            replica.apply(keys, np.zeros(keys.size), np.full(keys.size, ORIGIN, dtype=np.int16), counters,
                          np.zeros(keys.size), np.zeros(keys.size, dtype=bool))
            replica.knowledge[ORIGIN] = keys.size

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

    def converged(self) -> bool:
        """Does every replica of every shard equal its origin, key by key (version and value)?"""
        return all(
            self.replica(rid).state_equals(self.replica(self.origin(rid.model, rid.shard))) for rid in self.ids
        )
