"""A puller: one parameter server pulling a group of shards from one peer, again and again.

Timing of one pull: the request crosses the network; the peer takes a core, answers every
shard (skipping unmoved ones with shard versions), and holds the core for the CPU that work
costs; the answer, a snapshot taken when the peer started, crosses back; the puller takes a
core for the cost of applying, then applies it (the new state is visible from that instant).
With the SLO-aware scheduler, a puller pulls in two lanes, two such processes with cursors of
their own: an express one for high-priority keys, and one for the rest, whose requests carry
both cursors so that it skips what the express lane brought (`ekkosim.ps.pull`). Their flows
share a congested path (max-min), so the express lane, a small share of the bytes, never waits
behind the backlog of the other.
The next pull starts when this one is done, but not sooner than `sync.pull_interval` after
this one started (adaptive rate: a slow link or a busy peer slows its pullers down). Pullers
start at a random phase within the first interval, so they do not pull in lockstep.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import simpy

from ekkosim.metrics.latency import LatencyTracker
from ekkosim.net.topology import Server
from ekkosim.ps.placement import ReplicaId
from ekkosim.ps.pull import LANES, ShardAnswer, answer_pull, apply_answer
from ekkosim.scenario.schema import Costs
from ekkosim.simulation import Simulation
from ekkosim.sync.cluster import N_ORIGINS, Cluster

REQUEST, REPLY = "sync:request", "sync:reply"


@dataclass
class SyncCounters:
    """Work done by every puller together."""

    pulls: int = 0
    keys_sent: int = 0
    keys_examined: int = 0  # keys compared by scans and cache lookups
    full_scans: int = 0


def lanes(scenario) -> tuple[str, ...]:
    """The lanes every puller pulls in (`ekkosim.ps.pull`): an express lane for high-priority
    keys with the scheduler on."""
    return LANES if scenario.scheduler.enabled else LANES[:1]


class Puller:
    """`puller` pulling the replicas of `pairs` (its replica, the peer's) from `peer`, one process
    per lane. Every replica starts alike (empty, or warm-started the same way), so at its start a
    puller has seen all of its peers' state: every lane's cursors are their shard versions."""

    def __init__(
        self,
        sim: Simulation,
        cluster: Cluster,
        tracker: LatencyTracker,
        counters: SyncCounters,
        puller: Server,
        peer: Server,
        pairs: list[tuple[ReplicaId, ReplicaId]],
    ):
        self.sim, self.cluster, self.tracker, self.counters = sim, cluster, tracker, counters
        self.puller, self.peer, self.pairs = puller, peer, pairs
        self.mine = [cluster.replica(rid) for rid, _ in pairs]
        self.theirs = [cluster.replica(source) for _, source in pairs]
        self.indices = [cluster.index[rid] for rid, _ in pairs]
        self.value_bytes = [sim.scenario.models[rid.model].value_bytes for rid, _ in pairs]
        start = np.array([replica.version for replica in self.theirs], dtype=np.int64)
        self.cursors = {lane: start.copy() for lane in lanes(sim.scenario)}

    def start(self) -> None:
        for lane in self.cursors:
            self.sim.env.process(self._pull_forever(lane))

    def _pull_forever(self, lane: str) -> Iterator[simpy.Event]:
        """Pull in `lane`, advancing its cursors; the all lane also sends the express lane's."""
        sim, cluster, counters, mine, theirs = self.sim, self.cluster, self.counters, self.mine, self.theirs
        sync, env = sim.scenario.sync, sim.env
        costs = sync.costs
        own = self.cursors[lane]
        express = self.cursors.get("high") if lane == "all" else None
        if sync.shard_version:
            request_bytes = costs.header_bytes + len(mine) * costs.shard_version_bytes * (1 if express is None else 2)
        else:
            request_bytes = costs.header_bytes + len(mine) * N_ORIGINS * costs.vector_entry_bytes

        stream = f"sync.puller.{self.puller}.{self.peer}" + ("" if lane == "all" else f".{lane}")
        yield env.timeout(sim.randomness.stream(stream).uniform(0, sync.pull_interval))
        while True:
            started = env.now
            asked = None if sync.shard_version else [replica.knowledge.copy() for replica in mine]
            sent_express = None if express is None else express.copy()
            yield sim.send(self.puller, self.peer, request_bytes, REQUEST).done

            with cluster.cpu[self.peer].request() as core:
                yield core
                answers = answer_pull(theirs, own if asked is None else None, asked, sync.update_cache, lane, sent_express)
                yield env.timeout(_answer_cpu_s(costs, len(mine), answers))

            reply = _reply_bytes(costs, answers, self.value_bytes, whole=lane == "all")
            yield sim.send(self.peer, self.puller, reply, REPLY).done

            sent = sum(len(answer) for _, answer in answers)
            with cluster.cpu[self.puller].request() as core:
                yield core
                yield env.timeout(costs.cpu_per_shard * len(answers) + costs.cpu_per_key_applied * sent)
                for i, answer in answers:
                    change = apply_answer(mine[i], answer, whole=lane == "all")
                    own[i] = answer.version
                    rid = self.pairs[i][0]
                    self.tracker.applied(rid.model, rid.shard, self.indices[i], change, mine[i], env.now)
                    for hook in cluster.apply_hooks:
                        hook(rid, mine[i], env.now)

            counters.pulls += 1
            counters.keys_sent += sent
            counters.keys_examined += sum(answer.examined for _, answer in answers)
            counters.full_scans += sum(1 for _, answer in answers if answer.full_scan)
            wait = started + sync.pull_interval - env.now
            if wait > 0:
                yield env.timeout(wait)


def _answer_cpu_s(costs: Costs, n_shards: int, answers: list[tuple[int, ShardAnswer]]) -> float:
    """CPU seconds a peer spends answering: the request, every shard examined, every key compared."""
    scanned = sum(answer.examined for _, answer in answers if answer.full_scan)
    cached = sum(answer.examined for _, answer in answers if not answer.full_scan)
    return (costs.cpu_per_request + costs.cpu_per_shard * n_shards
            + costs.cpu_per_key_scanned * scanned + costs.cpu_per_cache_entry * cached)


def _reply_bytes(costs: Costs, answers: list[tuple[int, ShardAnswer]], value_bytes: list[float], whole: bool) -> float:
    """Bytes of a reply: header; per shard answered its shard version, and its knowledge if the
    answer is whole (not the express lane's); per key its id, version and value."""
    per_shard = costs.shard_version_bytes + (N_ORIGINS * costs.vector_entry_bytes if whole else 0)
    return costs.header_bytes + sum(
        len(answer) * (costs.key_bytes + costs.version_bytes + value_bytes[i]) + per_shard for i, answer in answers
    )
