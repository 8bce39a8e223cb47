"""A puller: one parameter server pulling a group of shards from one peer, again and again.

Timing of one pull: the request crosses the network; the peer takes a core, answers every
shard (skipping unmoved ones with shard versions), and holds the core for the CPU that work
costs; the answer, a snapshot taken when the peer started, crosses back; the puller takes a
core for the cost of applying, then applies it (the new state is visible from that instant).
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
from ekkosim.ps.pull import ShardAnswer, answer_cursor, answer_knowledge, apply_answer
from ekkosim.simulation import Simulation
from ekkosim.sync.cluster import N_ORIGINS, Cluster

REQUEST, REPLY = "sync:request", "sync:reply"


@dataclass
class SyncCounters:
    """Work done by every puller together."""

    pulls: int = 0
    shards_answered: int = 0
    keys_sent: int = 0
    keys_examined: int = 0  # keys compared by scans and cache lookups
    full_scans: int = 0


def pull_forever(
    sim: Simulation,
    cluster: Cluster,
    tracker: LatencyTracker,
    counters: SyncCounters,
    puller: Server,
    peer: Server,
    pairs: list[tuple[ReplicaId, ReplicaId]],
) -> Iterator[simpy.Event]:
    sync, env = sim.scenario.sync, sim.env
    costs = sync.costs
    mine = [cluster.replica(rid) for rid, _ in pairs]
    theirs = [cluster.replica(source) for _, source in pairs]
    indices = [cluster.index[rid] for rid, _ in pairs]
    value_bytes = [sim.scenario.models[rid.model].value_bytes for rid, _ in pairs]
    # Where replicas start as copies of their peers (warm start), a puller has seen it all.
    cursors = np.array([replica.version if replica.state_equals(m) else 0 for replica, m in zip(theirs, mine)], dtype=np.int64)
    vector_bytes = N_ORIGINS * costs.vector_entry_bytes
    if sync.shard_version:
        request_bytes = costs.header_bytes + len(pairs) * costs.shard_version_bytes
    else:
        request_bytes = costs.header_bytes + len(pairs) * vector_bytes

    yield env.timeout(sim.randomness.stream(f"sync.puller.{puller}.{peer}").uniform(0, sync.pull_interval))
    while True:
        started = env.now
        asked = None if sync.shard_version else [replica.knowledge.copy() for replica in mine]
        yield sim.send(puller, peer, request_bytes, REQUEST).done

        with cluster.cpu[peer].request() as core:
            yield core
            answers: list[tuple[int, ShardAnswer]] = []
            for i, replica in enumerate(theirs):
                if asked is None:
                    answer = answer_cursor(replica, int(cursors[i]), sync.update_cache)
                else:
                    answer = answer_knowledge(replica, asked[i], sync.update_cache)
                if answer is not None:
                    answers.append((i, answer))
            scanned = sum(a.examined for _, a in answers if a.full_scan)
            cached = sum(a.examined for _, a in answers if not a.full_scan)
            yield env.timeout(
                costs.cpu_per_request + costs.cpu_per_shard * len(pairs)
                + costs.cpu_per_key_scanned * scanned + costs.cpu_per_cache_entry * cached
            )

        sent = sum(len(a) for _, a in answers)
        reply_bytes = costs.header_bytes + sum(
            len(a) * (costs.key_bytes + costs.version_bytes + value_bytes[i]) + vector_bytes + costs.shard_version_bytes
            for i, a in answers
        )
        yield sim.send(peer, puller, reply_bytes, REPLY).done

        with cluster.cpu[puller].request() as core:
            yield core
            yield env.timeout(costs.cpu_per_shard * len(answers) + costs.cpu_per_key_applied * sent)
            for i, answer in answers:
                change = apply_answer(mine[i], answer)
                cursors[i] = answer.version
                rid = pairs[i][0]
                tracker.applied(rid.model, rid.shard, indices[i], change, mine[i], env.now)

        counters.pulls += 1
        counters.shards_answered += len(answers)
        counters.keys_sent += sent
        counters.keys_examined += scanned + cached
        counters.full_scans += sum(1 for _, a in answers if a.full_scan)
        wait = started + sync.pull_interval - env.now
        if wait > 0:
            yield env.timeout(wait)
