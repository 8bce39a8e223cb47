"""Trainers: every `workload.batch_interval` a batch of sparse updates per model goes from a
trainer host to the origin parameter servers of the touched shards, over the LAN.

On arrival a server takes a core for the cost of writing the batch, then writes it: each key
gets a new version from the origin (the training DC's copy 0 of its shard), stamped with that
instant. That instant is when the update is produced; latency is measured from it. A key's new
value is its old value plus the update's magnitude (the oracle has no quality model). With the
scheduler, the updates a server writes are graded high or low priority as they are written.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
import simpy

from tests.oracle.latency import LatencyTracker
from ekkosim.net.topology import Server
from tests.oracle.shard import ShardReplica, rows_by_shard
from ekkosim.simulation import Simulation
from tests.oracle.cluster import ORIGIN, Cluster
from ekkosim.kernel import Randomness
from ekkosim.schema import Scenario
from ekkosim.scheduler.grader import PriorityGrader
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
    grader: PriorityGrader | None,
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
        servers: dict[Server, dict[int, np.ndarray]] = {}  # per server, its shards' rows of the batch
        for shard, rows in rows_by_shard(batch.keys, shards).items():
            servers.setdefault(cluster.server(cluster.origin(model, shard)), {})[shard] = rows
        for server, shard_rows in servers.items():
            env.process(_push(sim, cluster, tracker, model, host, server, shard_rows, batch, grader))


def push(sim, cluster: Cluster, host: Server, server: Server, n_keys: int, value_bytes: float,
         tag: str) -> Iterator[simpy.Event]:
    """A push of `n_keys` rows to an origin server: the bytes cross the network, then the server
    takes a core for the cost of writing them. The caller writes them when this returns."""
    costs = sim.scenario.sync.costs
    yield sim.send(host, server, costs.header_bytes + n_keys * (costs.key_bytes + value_bytes), tag).done
    with cluster.cpu[server].request() as core:
        yield core
        yield sim.env.timeout(costs.cpu_per_key_applied * n_keys)


def _push(sim, cluster: Cluster, tracker: LatencyTracker, model: int, host: Server, server: Server,
          shard_rows: dict[int, np.ndarray], batch: UpdateBatch,
          grader: PriorityGrader | None) -> Iterator[simpy.Event]:
    env, spec = sim.env, sim.scenario.models[model]
    yield from push(sim, cluster, host, server, sum(rows.size for rows in shard_rows.values()), spec.value_bytes, PUSH)
    writes = []
    for shard, rows in shard_rows.items():
        local = batch.keys[rows] // spec.shards
        replica = cluster.replica(cluster.origin(model, shard))
        magnitudes = batch.magnitudes[rows]
        values = replica.value[local] + magnitudes
        writes.append(_Write(shard, replica, local, values, magnitudes, batch.is_new[rows]))
    high = [False] * len(writes)
    if grader is not None:  # one grading for all the server's writes of the batch
        graded = grader.grade(model, np.concatenate([w.magnitudes for w in writes]),
                              np.concatenate([w.created for w in writes]), env.now)
        high = np.split(graded, np.cumsum([w.local.size for w in writes])[:-1])
    for w, is_high in zip(writes, high):
        change = w.replica.write(ORIGIN, w.local, w.values, env.now, is_high)
        tracker.produced(model, w.shard, change)


class _Write(NamedTuple):
    """A batch's updates to one shard at its origin, before they are written."""

    shard: int
    replica: ShardReplica
    local: np.ndarray  # local key indices
    values: np.ndarray  # the new values
    magnitudes: np.ndarray
    created: np.ndarray  # does the update create its key
