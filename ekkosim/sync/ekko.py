"""The `ekko` strategy: trainers write sparse updates at the origin; every other replica pulls
them through the peer-to-peer, log-less, state-based sync (docs/sync.md).

The run lasts `workload.duration` plus `sync.drain`; then every live replica is compared with
its origin (`converged`, `lost_updates`), and the update latencies of the sampled updates are
summarised. The scenario's faults are injected as scheduled (`ekkosim.sync.faults`); with
`check`, the sync's invariants are checked as the run goes (`ekkosim.sync.invariants`).
"""

from __future__ import annotations

import functools

import numpy as np

from ekkosim.sync.state_manager import StateManager
from ekkosim.arrays import distinct
from ekkosim.metrics.censored import latency_stats
from ekkosim.metrics.latency import LatencyTracker
from ekkosim.metrics.regime import regime
from ekkosim.run_files import LATENCY, QUALITY
from ekkosim.simulation import Outcome, Simulation
from ekkosim.sync.cluster import Cluster
from ekkosim.sync.faults import FaultSchedule
from ekkosim.sync.invariants import Checker
from ekkosim.sync.puller import Pullers, SyncCounters
from ekkosim.scheduler.grader import PriorityGrader
from ekkosim.quality.service import Service
from ekkosim.sync.trainer import train, update_sources


def end_s(scenario) -> float:
    return scenario.workload.duration + scenario.sync.drain


class EkkoOutcome(Outcome):
    def __init__(self, sim: Simulation, cluster: Cluster, tracker: LatencyTracker, counters: SyncCounters,
                 service: Service | None, manager: StateManager | None = None, faults: FaultSchedule | None = None):
        super().__init__(sim.env.timeout(end_s(sim.scenario)), end_s(sim.scenario))
        self.sim, self.cluster, self.tracker, self.counters, self.service = sim, cluster, tracker, counters, service
        self.manager, self.faults = manager, faults

    @functools.cached_property
    def latency_table(self) -> dict[str, np.ndarray]:
        """One row per (sampled update, replica that received it), in delivery order."""
        update, replica, latency = self.tracker.rows()
        models, keys, produced, high = self.tracker.sampled_updates()
        model_names = np.array([m.name for m in self.sim.scenario.models], dtype=object)
        replica_dc, replica_name = self.cluster.names(replica)
        return {
            "update": update,
            "produced_s": produced[update],
            "model": model_names[models[update]],
            "key": keys[update],
            "dc": replica_dc,
            "replica": replica_name,
            "latency_s": latency,
            **({"high_priority": high[update]} if self.sim.scenario.scheduler.enabled else {}),
        }

    def state_table(self) -> dict[str, np.ndarray]:
        """The final per-key state of every live replica (the differential test's contract): one
        row per (replica, model key) that holds a version, by replica number, then key; `replica`
        is "model/shard/dc/copy" and `key` the model's key."""
        parts = []
        for _, m, store in self.cluster.live_stores():
            keys = store.held_keys()
            rows, time, origin, counter = store.versions(keys)
            high = np.zeros(keys.size, dtype=bool)
            high[rows >= 0] = store.rows.high[rows[rows >= 0]]
            replica = store.replica[store.holdings_of(keys)]
            parts.append((replica, keys, time, origin.astype(np.int64), counter, store.values(keys), high))
        columns = [np.concatenate(c) for c in zip(*parts)]
        order = np.lexsort((columns[1], columns[0]))
        replica, *rest = (c[order] for c in columns)
        return {"replica": self._labels(replica),
                **dict(zip(("key", "time", "origin", "counter", "value", "high"), rest))}

    def knowledge_table(self) -> dict[str, np.ndarray]:
        """Every live replica's knowledge entries above 0 (the differential test's contract): by
        replica number, then origin."""
        replicas = [store.replica for _, _, store in self.cluster.live_stores()]
        knowledge = [store.knowledge for _, _, store in self.cluster.live_stores()]
        replica, knowledge = np.concatenate(replicas), np.concatenate(knowledge)
        by_replica = np.argsort(replica, kind="stable")
        replica, knowledge = replica[by_replica], knowledge[by_replica]
        row, origin = np.nonzero(knowledge > 0)
        return {"replica": self._labels(replica[row]), "origin": origin.astype(np.int64),
                "counter": knowledge[row, origin]}

    def _labels(self, numbers: np.ndarray) -> np.ndarray:
        """"model/shard/dc/copy" of each replica number."""
        seen, inverse = np.unique(numbers, return_inverse=True)
        labels = np.array([f"{r.model}/{r.shard}/{r.dc}/{r.copy}" for r in map(self.cluster.rid, seen.tolist())],
                          dtype=object)
        return labels[inverse.reshape(-1)] if numbers.size else np.zeros(0, dtype=object)

    def tables(self) -> dict[str, dict]:
        tables = {LATENCY: self.latency_table}
        if self.service is not None:
            tables[QUALITY] = self.service.table()
        return tables

    @functools.cached_property
    def undelivered_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """(update id, DC) of every sampled (update, replica) pair not delivered when the run
        stopped, one row per pair: per update some replica lacks, each DC's copies of its shard
        (all but the origin) less the rows it was delivered to there."""
        incomplete = np.sort(self.tracker.incomplete())
        table = self.latency_table
        dc_names = self.cluster.dc_names
        if incomplete.size == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=object)
        copies = np.array([m.replicas for m in self.sim.scenario.models])[self.tracker.sampled_updates()[0][incomplete]]
        expected = np.repeat(copies[:, None], len(dc_names), axis=1)
        expected[:, self.cluster.dc_index[self.sim.scenario.training_dc.name]] -= 1  # the origin
        rows = np.isin(table["update"], incomplete)
        dc_of_row = np.array([self.cluster.dc_index[dc] for dc in table["dc"][rows]], dtype=np.int64)
        delivered = np.zeros_like(expected)
        np.add.at(delivered, (np.searchsorted(incomplete, table["update"][rows]), dc_of_row), 1)
        missing = expected - delivered
        at, dc = np.nonzero(missing)
        counts = missing[at, dc]
        return np.repeat(incomplete[at], counts), np.repeat(np.array(dc_names, dtype=object)[dc], counts)

    def summary(self) -> dict:
        table = self.latency_table
        latency, dcs = table["latency_s"], table["dc"]
        origin = self.sim.scenario.training_dc.name
        _, _, produced, high = self.tracker.sampled_updates()
        missing_update, missing_dc = self.undelivered_pairs
        waited = self.sim.env.now - produced[missing_update]  # how long each undelivered pair had waited

        def stats(delivered: np.ndarray, undelivered: np.ndarray) -> dict:
            return latency_stats(latency[delivered], waited[undelivered])

        by_dc = {dc.name: stats(dcs == dc.name, missing_dc == dc.name) for dc in self.sim.scenario.topology.datacenters}
        cross, intra = dcs != origin, dcs == origin
        end = self.cluster.end_state() if self.done.processed else None
        everywhere = np.ones(missing_update.size, dtype=bool)
        return {
            "updates": self.tracker.produced_updates,
            "sampled_updates": self.tracker.n_sampled,
            "latency_sample": self.sim.scenario.output.latency_sample,
            "latency_s": stats(np.ones(latency.size, dtype=bool), everywhere),
            "latency_by_dc_s": by_dc,
            **({"latency_by_priority_s": {
                "high": stats(table["high_priority"], high[missing_update]),
                "low": stats(~table["high_priority"], ~high[missing_update])}}
               if "high_priority" in table else {}),
            "cross_dc_latency_s": _mean(latency[cross], (missing_dc != origin).any()),
            "intra_dc_latency_s": _mean(latency[intra], (missing_dc == origin).any()),
            "all_replica_latency_s": latency_stats(
                _slowest_per_update(table["update"], latency, self.tracker),
                self.sim.env.now - produced[distinct(missing_update)]),
            "undelivered": self.tracker.undelivered(),
            # only meaningful after the drain: a run stopped early by `until` has not converged yet
            "converged": None if end is None else end[0] is None,
            "lost_updates": None if end is None else end[1],
            "pulls": self.counters.pulls,
            "failed_pulls": self.counters.failed_pulls,
            "keys_sent": self.counters.keys_sent,
            "keys_examined": self.counters.keys_examined,
            "full_scans": self.counters.full_scans,
            "regime": regime(self.sim, self.cluster, self.counters),
            **({"slo": self.service.summary()} if self.service is not None else {}),
            **({"manager": self.manager.summary()} if self.manager is not None else {}),
            **({"faults": self.faults.summary()} if self.faults is not None else {}),
        }


def _slowest_per_update(update: np.ndarray, latency: np.ndarray, tracker: LatencyTracker) -> np.ndarray:
    """Per sampled update delivered to every replica: its latency at the last replica."""
    if update.size == 0:
        return latency
    slowest = np.full(tracker.n_sampled, -np.inf)
    np.maximum.at(slowest, update, latency)
    complete = np.ones(tracker.n_sampled, dtype=bool)
    complete[tracker.incomplete()] = False
    return slowest[complete & np.isfinite(slowest)]


def _mean(values: np.ndarray, censored: bool) -> float | None:
    """The mean of delivered latencies, None when there are none or some pair of the same
    scope was never delivered (its mean is then undetermined: `latency_by_dc_s` says where)."""
    return float(values.mean()) if values.size and not censored else None


def start(sim: Simulation) -> EkkoOutcome:
    scenario = sim.scenario
    cluster = Cluster(sim.env, scenario)
    tracker = LatencyTracker(scenario.output.latency_sample, [cluster.holders(m) for m in range(len(scenario.models))])
    counters = SyncCounters()
    pullers = Pullers(sim, cluster, tracker, counters)
    sources = update_sources(scenario, sim.randomness)
    service = Service(sim, cluster, sources, end_s(scenario)) if scenario.quality.enabled else None
    if service is not None:
        sim.env.process(service.serve_forever())
    manager = StateManager(sim, cluster, service, tracker, end_s(scenario)) if scenario.manager.enabled else None
    grader = PriorityGrader(scenario, sim.randomness) if scenario.scheduler.enabled else None
    for model, source in enumerate(sources):
        sim.env.process(train(sim, cluster, tracker, model, source, service, grader))
    faults = FaultSchedule(sim, cluster, pullers, tracker, manager) if scenario.faults else None
    outcome = EkkoOutcome(sim, cluster, tracker, counters, service, manager, faults)
    if sim.check:
        checker = Checker(cluster, lambda: sim.env.now, pullers)
        if all(fault.recover is not None and fault.recover <= scenario.workload.duration for fault in scenario.faults):
            outcome.done.callbacks.append(lambda _event: checker.at_end())
    return outcome
