"""Trainers: every `workload.batch_interval` a batch of sparse updates per model goes from a
trainer host to the origin parameter servers of the touched shards, over the LAN.

On arrival a server takes a core for the cost of writing the batch, then writes it (a server down
or recovering is waited for, and the push sent again: `ekkosim.sync.recovery`): each key
gets a new version from the origin (the training DC's copy 0 of its shard), stamped with that
instant. That instant is when the update is produced; latency is measured from it. A key's new
value is its old value plus the update's magnitude; with the quality model, the trainer's step
toward the key's truth instead, whose size is the update's magnitude, taken from the trainer's
clean copy and published as it is (or biased, during a scenario's burst of biased updates). With the scheduler, the
updates a server writes are graded high or low priority as they are written.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import simpy

from ekkosim.metrics.latency import LatencyTracker
from ekkosim.net.flows import FlowFailed
from ekkosim.net.topology import Server
from ekkosim.simulation import Simulation
from ekkosim.sync.cluster import ORIGIN, Cluster
from ekkosim.kernel import Randomness
from ekkosim.schema import Scenario
from ekkosim.scheduler.grader import PriorityGrader
from ekkosim.quality.service import Service
from ekkosim.workload.batch import UpdateBatch, UpdateSource
from ekkosim.workload.synthetic import SyntheticWorkload
from ekkosim.workload.trace import TraceWorkload

PUSH = "trainer:push"


def update_sources(scenario: Scenario, randomness: Randomness) -> list[UpdateSource]:
    """Per model, its updates: replayed from `workload.trace`, or synthetic, each model with
    its own random stream."""
    if scenario.traces is not None:
        return [TraceWorkload(scenario.traces[model.name]) for model in scenario.models]
    return [
        SyntheticWorkload(model, randomness.stream(f"models[{i}].workload")) for i, model in enumerate(scenario.models)
    ]


def train(
    sim: Simulation, cluster: Cluster, tracker: LatencyTracker, model: int, source: UpdateSource,
    service: Service | None, grader: PriorityGrader | None,
) -> Iterator[simpy.Event]:
    """The trainer process of one model: produce and push batches until `workload.duration`."""
    workload, env = sim.scenario.workload, sim.env
    host = Server(sim.scenario.training_dc.name, model % workload.trainers, "trainer")
    shards = sim.scenario.models[model].shards
    for k in range(math.ceil(workload.duration / workload.batch_interval)):
        # batch k covers [k, k + 1) x batch_interval: products, not sums, so boundaries do not drift
        t, t_next = k * workload.batch_interval, min((k + 1) * workload.batch_interval, workload.duration)
        if t >= workload.duration:  # the division rounded up past the last batch
            return
        yield env.timeout(t_next - env.now)
        batch = source.batch(t, t_next)
        if len(batch) == 0:
            continue
        for server, rows in origin_rows(batch.keys, shards, cluster.dcs[host.dc].servers):
            env.process(_push(sim, cluster, tracker, model, host, Server(host.dc, server), rows, batch, service, grader))


def origin_rows(keys: np.ndarray, shards: int, servers: int) -> list[tuple[int, np.ndarray]]:
    """Per origin server (copy 0 of shard s is on server s mod `servers`), the positions in
    `keys` of its shards' keys, by shard, then position; servers in the order of their first
    shard."""
    by_shard = np.argsort(keys % shards, kind="stable")
    server = keys[by_shard] % shards % servers
    by_server = np.argsort(server, kind="stable")
    present, first, counts = np.unique(server, return_index=True, return_counts=True)
    groups = np.split(by_shard[by_server], np.cumsum(counts)[:-1])
    return [(int(present[g]), groups[g]) for g in np.argsort(first, kind="stable")]


def push(sim, cluster: Cluster, host: Server, server: Server, n_keys: int, value_bytes: float,
         tag: str) -> Iterator[simpy.Event]:
    """A push of `n_keys` rows to an origin server: the bytes cross the network, then the server
    takes a core for the cost of writing them. The caller writes them when this returns."""
    costs = sim.scenario.sync.costs
    yield sim.send(host, server, costs.header_bytes + n_keys * (costs.key_bytes + value_bytes), tag).done
    with cluster.cpu[server].request() as core:
        yield from core
        yield from cluster.work(server, costs.cpu_per_key_applied * n_keys)


def _push(sim, cluster: Cluster, tracker: LatencyTracker, model: int, host: Server, server: Server,
          rows: np.ndarray, batch: UpdateBatch, service: Service | None, grader: PriorityGrader | None
          ) -> Iterator[simpy.Event]:
    """Push `rows` of `batch` to their origin `server` and write them there. While the server is
    down or recovering its origins, the trainer waits, then pushes again (a push the crash cut
    short, or that arrived in the incarnation before, is pushed again whole)."""
    env, spec = sim.env, sim.scenario.models[model]
    while True:
        unavailable = cluster.unavailable(server)
        if unavailable is not None:
            yield unavailable
            continue
        store = cluster.stores[(server, model)]
        try:
            yield from push(sim, cluster, host, server, rows.size, spec.value_bytes, PUSH)
        except FlowFailed:
            continue
        if cluster.stores[(server, model)] is store and cluster.unavailable(server) is None:
            break
    keys = batch.keys[rows]
    if service is None:
        magnitudes = batch.magnitudes[rows]
        values = store.values(keys) + magnitudes
    else:
        values, magnitudes = service.train(model, keys, service.clean_values(model, keys), batch.examples[rows], env.now)
        values = service.publish(model, keys, values, env.now)
    high = False
    if grader is not None:  # one grading for all the server's writes of the batch
        high = grader.grade(model, magnitudes, batch.is_new[rows], env.now)
    tracker.produced(model, store.write(ORIGIN, keys, values, env.now, high))
