"""The `ekko` strategy: trainers write sparse updates at the origin; every other replica pulls
them through the peer-to-peer, log-less, state-based sync (docs/design.md, "The sync").

The run lasts `workload.duration` plus `sync.drain`; then every live replica is compared with
its origin (`converged`, `lost_updates`), and the update latencies of the sampled updates are
summarised. The scenario's faults are injected as scheduled (`tests.oracle.faults`); with
`check`, the sync's invariants are checked as the run goes (`tests.oracle.invariants`).

The oracle has neither the quality model nor the state manager: `start` refuses a scenario
that enables either.
"""

from __future__ import annotations

import functools

import numpy as np

from tests.oracle.latency import LatencyTracker
from ekkosim.ps.placement import ReplicaId
from ekkosim.simulation import Outcome, Simulation
from tests.oracle.cluster import N_ORIGINS, Cluster
from tests.oracle.faults import FaultSchedule
from tests.oracle.invariants import Checker
from tests.oracle.puller import Pullers, SyncCounters
from ekkosim.scheduler.grader import PriorityGrader
from tests.oracle.trainer import train, update_sources


def end_s(scenario) -> float:
    return scenario.workload.duration + scenario.sync.drain


class EkkoOutcome(Outcome):
    def __init__(self, sim: Simulation, cluster: Cluster, tracker: LatencyTracker, counters: SyncCounters,
                 faults: FaultSchedule | None = None):
        super().__init__(sim.env.timeout(end_s(sim.scenario)), end_s(sim.scenario))
        self.sim, self.cluster, self.tracker, self.counters = sim, cluster, tracker, counters
        self.faults = faults

    @functools.cached_property
    def latency_table(self) -> dict[str, np.ndarray]:
        """One row per (sampled update, replica that received it), in delivery order."""
        update, replica, latency = self.tracker.rows()
        models, keys, produced, high = self.tracker.sampled_updates()
        ids = self.cluster.ids
        model_names = np.array([m.name for m in self.sim.scenario.models], dtype=object)
        replica_dc = np.array([rid.dc for rid in ids], dtype=object)
        replica_name = np.array([f"{self.cluster.server(rid)}/shard{rid.shard}/copy{rid.copy}" for rid in ids], dtype=object)
        return {
            "update": update,
            "produced_s": produced[update],
            "model": model_names[models[update]],
            "key": keys[update],
            "dc": replica_dc[replica],
            "replica": replica_name[replica],
            "latency_s": latency,
            **({"high_priority": high[update]} if self.sim.scenario.scheduler.enabled else {}),
        }

    def state_table(self) -> dict[str, np.ndarray]:
        """The final per-key state of every live replica (the differential test's contract): one
        row per (replica, model key) that holds a version, by replica in `cluster.ids` order,
        then key; `replica` is "model/shard/dc/copy" and `key` the model's key."""
        live = self.cluster.live()
        replicas = [self.cluster.replica(rid) for rid in live]
        held = [np.flatnonzero(replica.counter > 0) for replica in replicas]
        shards = [self.sim.scenario.models[rid.model].shards for rid in live]
        return {
            "replica": np.repeat(_labels(live), [keys.size for keys in held]),
            "key": _joined([keys * n + rid.shard for keys, n, rid in zip(held, shards, live)], np.int64),
            **{column: _joined([getattr(replica, column)[keys] for replica, keys in zip(replicas, held)], dtype)
               for column, dtype in (("time", np.float64), ("origin", np.int64), ("counter", np.int64),
                                     ("value", np.float64), ("high", bool))},
        }

    def knowledge_table(self) -> dict[str, np.ndarray]:
        """Every live replica's knowledge entries above 0 (the differential test's contract): by
        replica in `cluster.ids` order, then origin."""
        live = self.cluster.live()
        knowledge = np.array([self.cluster.replica(rid).knowledge for rid in live], dtype=np.int64)
        replica, origin = np.nonzero(knowledge.reshape(len(live), N_ORIGINS) > 0)
        return {"replica": _labels(live)[replica], "origin": origin.astype(np.int64),
                "counter": knowledge[replica, origin]}

    def tables(self) -> dict[str, dict]:
        return {"latency.parquet": self.latency_table}

    def summary(self) -> dict:
        table = self.latency_table
        latency, dcs = table["latency_s"], table["dc"]
        origin = self.sim.scenario.training_dc.name
        by_dc = {dc.name: _stats(latency[dcs == dc.name]) for dc in self.sim.scenario.topology.datacenters}
        cross, intra = latency[dcs != origin], latency[dcs == origin]
        return {
            "updates": self.tracker.produced_updates,
            "sampled_updates": self.tracker.n_sampled,
            "latency_sample": self.sim.scenario.output.latency_sample,
            "latency_s": _stats(latency),
            "latency_by_dc_s": {dc: stats for dc, stats in by_dc.items() if stats["count"]},
            **({"latency_by_priority_s": {"high": _stats(latency[table["high_priority"]]),
                                          "low": _stats(latency[~table["high_priority"]])}}
               if "high_priority" in table else {}),
            "cross_dc_latency_s": float(cross.mean()) if cross.size else None,
            "intra_dc_latency_s": float(intra.mean()) if intra.size else None,
            "all_replica_latency_s": _stats(_slowest_per_update(table["update"], latency, self.tracker)),
            "undelivered": self.tracker.undelivered(),
            # only meaningful after the drain: a run stopped early by `until` has not converged yet
            "converged": self.cluster.converged() if self.done.processed else None,
            "lost_updates": self.cluster.lost_updates() if self.done.processed else None,
            "pulls": self.counters.pulls,
            "failed_pulls": self.counters.failed_pulls,
            "keys_sent": self.counters.keys_sent,
            "keys_examined": self.counters.keys_examined,
            "full_scans": self.counters.full_scans,
            **({"faults": self.faults.summary()} if self.faults is not None else {}),
        }


def _slowest_per_update(update: np.ndarray, latency: np.ndarray, tracker: LatencyTracker) -> np.ndarray:
    """Per sampled update delivered to every replica: its latency at the last replica."""
    if update.size == 0:
        return latency
    slowest = np.full(tracker.n_sampled, -np.inf)
    np.maximum.at(slowest, update, latency)
    complete = np.ones(tracker.n_sampled, dtype=bool)
    for pending in tracker.pending.values():
        complete[pending.update] = False
    return slowest[complete & np.isfinite(slowest)]


def _labels(rids: list[ReplicaId]) -> np.ndarray:
    """Replica names of the comparison tables: "model/shard/dc/copy"."""
    return np.array([f"{rid.model}/{rid.shard}/{rid.dc}/{rid.copy}" for rid in rids], dtype=object)


def _joined(arrays: list[np.ndarray], dtype) -> np.ndarray:
    return np.concatenate([np.zeros(0, dtype=dtype), *arrays]).astype(dtype)


def _stats(values: np.ndarray) -> dict:
    if values.size == 0:
        return {"count": 0, "mean": None, "p50": None, "p90": None, "p99": None, "max": None}
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    return {"count": int(values.size), "mean": float(values.mean()), "p50": float(p50), "p90": float(p90),
            "p99": float(p99), "max": float(values.max())}


def start(sim: Simulation) -> EkkoOutcome:
    scenario = sim.scenario
    for section in ("quality", "manager"):
        if getattr(scenario, section).enabled:
            raise ValueError(f"{section}.enabled: the oracle has no {section} model")
    cluster = Cluster(sim.env, scenario)
    tracker = LatencyTracker(scenario.output.latency_sample, [m.shards for m in scenario.models], cluster.holders())
    counters = SyncCounters()
    pullers = Pullers(sim, cluster, tracker, counters)
    sources = update_sources(scenario, sim.randomness)
    grader = PriorityGrader(scenario, sim.randomness) if scenario.scheduler.enabled else None
    for model, source in enumerate(sources):
        sim.env.process(train(sim, cluster, tracker, model, source, grader))
    faults = FaultSchedule(sim, cluster, pullers, tracker) if scenario.faults else None
    outcome = EkkoOutcome(sim, cluster, tracker, counters, faults)
    if sim.check:
        checker = Checker(cluster, lambda: sim.env.now)
        if all(fault.recover is not None and fault.recover <= scenario.workload.duration for fault in scenario.faults):
            outcome.done.callbacks.append(lambda _event: checker.at_end())
    return outcome
