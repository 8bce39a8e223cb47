"""The inference model state manager in a run (docs/manager.md): baselines,
the detector, the replicated model states, the traffic switch and the rollback, wired to time.
Its parts are `ekkosim.manager`; it lives with the sync because it acts through it: the witness's
rollback is written at the origins like a trainer's push, and it watches the pullers' applies.

- Baselines. Each model's baseline is its published model `manager.baseline_delay` ago (a
  `LaggedCopy`); it serves `manager.baseline_share` of the model's requests in every serving DC,
  drawn per request, and is scored on them. The copy is the same in every DC: a model minutes
  behind needs no sync latency of its own.
- Detector. Every `manager.window` each model's CUSUM (`Cusum`) takes the relative gap between
  the mean loss of the online model's requests and of the baseline's, over every DC.
- States. The detector's level drives proposals to the replicated state machine (`ManagerGroup`):
  healthy -> uncertain when the level leaves healthy, uncertain -> damaged or -> healthy as it
  goes on; one proposal per model in flight, and the level is looked at again when it commits
  (a level already damaged proposes damaged at once); the level is ignored while damaged. Actions follow
  commits, not proposals: a transition acts once a majority holds it.
- The witness keeps a second lagged copy, `manager.witness_lag` behind (shorter than the
  baseline's delay, so that a rollback undoes less training). Uncertain freezes both copies:
  they stop taking the published writes, so that they cannot take the damage.
- Damaged: the model's requests are served by its replacement, the baseline (traffic switched);
  then the witness (on the model's trainer host) republishes its frozen healthy values of every
  key published since its state as new versions at the origins, over the LAN like a trainer's
  push, and the ordinary sync carries them. A DC's rollback is complete when every replica of the
  model there holds those versions (or newer ones); once every DC's is, the manager proposes
  healthy with reason rollback, and on its commit the model takes its traffic back, its chart
  restarts and its baseline thaws.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

import numpy as np
import simpy

from ekkosim.arrays import distinct, ranges
from ekkosim.manager.baseline import LaggedCopy
from ekkosim.manager.detector import Cusum
from ekkosim.manager.health import DAMAGED, HEALTHY, UNCERTAIN
from ekkosim.manager.replicated import ROLLBACK, ManagerGroup, ManagerParams
from ekkosim.metrics.latency import LatencyTracker
from ekkosim.net.topology import Server
from ekkosim.ps.store import Store
from ekkosim.ps.version import newer
from ekkosim.simulation import Simulation
from ekkosim.sync.cluster import ORIGIN, Cluster
from ekkosim.sync.trainer import origin_rows, push

ROLLBACK_PUSH = "manager:rollback"


@dataclass
class Incident:
    """One damaged episode of one model, each step timed (seconds of simulated time)."""

    model: str
    injected_at_s: float | None  # start of the latest biased burst before detection; None: a false alarm
    uncertain_at_s: float | None  # when uncertain was committed
    detected_at_s: float  # when the detector's level reached damaged (the proposal)
    traffic_switched_at_s: float | None = None  # damaged committed: requests go to the replacement
    rollback_keys: int = 0
    rollback_complete_s: dict[str, float] = field(default_factory=dict)  # DC -> every replica holds the rollback
    healthy_at_s: float | None = None  # healthy (reason rollback) committed: traffic back

class _Rollback:
    """The versions a rollback wrote and which replicas of the model lack them yet, in arrays
    over the shards it writes (every replica holds the other shards' state already): its cost
    follows the keys rolled back, not the model's shards. A replica holds the rollback once its
    shard's versions are written and none of them is newer than the replica's."""

    def __init__(self, incident: Incident, cluster: Cluster, m: int, shards: np.ndarray):
        self.incident = incident
        model = cluster.scenario.models[m]
        self.model_shards, self.shards = model.shards, shards  # the shards it writes (sorted, distinct)
        self.written = np.zeros(shards.size, dtype=bool)  # per shard: its versions are written
        self.keys = np.zeros(0, dtype=np.int64)  # the keys written, sorted by shard, their shards and versions
        self.key_shard = np.zeros(0, dtype=np.int64)
        self.version: tuple[np.ndarray, ...] = (np.zeros(0), np.zeros(0, dtype=np.int16), np.zeros(0, dtype=np.int64))
        # per shard, which of its replicas lack it, in number order: DC by DC, copy by copy (`Cluster.number`)
        self.first_number = int(cluster.number(m, 0, 0, 0))
        self.replicas, self.copies = model.replicas, len(cluster.dc_names) * model.replicas
        self.missing = np.ones((shards.size, self.copies), dtype=bool)
        self.missing_in = dict.fromkeys(cluster.dc_names, shards.size * model.replicas)  # DC -> replicas lacking it
        self.dc_names = cluster.dc_names

    @property
    def waiting(self) -> bool:
        """Whether some shard's versions are not written yet."""
        return not self.written.all()

    def wrote(self, keys: np.ndarray, time: np.ndarray, origin: np.ndarray, counter: np.ndarray) -> None:
        """The origins wrote these versions: all the rollback's keys of their shards."""
        keys = np.concatenate([self.keys, keys])
        columns = [np.concatenate([mine, new]) for mine, new in zip(self.version, (time, origin, counter))]
        key_shard = keys % self.model_shards
        order = np.argsort(key_shard, kind="stable")
        self.keys, self.key_shard = keys[order], key_shard[order]
        self.version = tuple(column[order] for column in columns)
        self.written[self.shards.searchsorted(distinct(key_shard))] = True

    def check(self, store: Store, holdings: np.ndarray) -> bool:
        """Mark those of `store`'s `holdings` (distinct) that lacked the rollback and hold it now;
        return whether any did."""
        if not (holdings.size and self.shards.size):
            return False
        shards = store.shards[holdings]
        at = np.minimum(self.shards.searchsorted(shards), self.shards.size - 1)
        copy = (store.replica[holdings] - self.first_number) % self.copies
        ask = (self.shards[at] == shards) & self.written[at]
        ask[ask] = self.missing[at[ask], copy[ask]]
        if not ask.any():
            return False
        holdings, at, copy = holdings[ask], at[ask], copy[ask]
        # each asked holding's versions: the range of its shard among the keys written
        starts = self.key_shard.searchsorted(self.shards[at])
        lengths = self.key_shard.searchsorted(self.shards[at], side="right") - starts
        rows = ranges(starts, lengths)
        owner = np.repeat(np.arange(holdings.size), lengths)
        _, *held = store.versions(self.keys[rows])
        lacking = np.bincount(owner[newer(*(column[rows] for column in self.version), *held)], minlength=holdings.size)
        done = lacking == 0
        self.missing[at[done], copy[done]] = False
        dc = self.dc_names[int(copy[0]) // self.replicas]  # a store's holdings are all in its DC
        self.missing_in[dc] -= int(done.sum())
        return bool(done.any())


class StateManager:
    """One run's model state manager: per model a baseline, a witness, a detector and the
    incidents; one replicated group of manager replicas for all models."""

    def __init__(self, sim: Simulation, cluster: Cluster, service, tracker: LatencyTracker, end_s: float):
        scenario, params = sim.scenario, sim.scenario.manager
        self.sim, self.env, self.cluster, self.service, self.tracker = sim, sim.env, cluster, service, tracker
        self.params = params
        self.models = scenario.models
        self.names = [m.name for m in scenario.models]
        # the published model at time 0 is the trained start the service gave every replica
        self.baselines = [LaggedCopy(start, params.baseline_delay) for start in service.start_values]  # the baselines
        self.witnesses = [LaggedCopy(start, params.witness_lag) for start in service.start_values]
        self.window, self.end_s = params.window, end_s
        shape = (len(self.models), max(1, math.ceil(end_s / self.window)))
        self.online_loss, self.online_n = np.zeros(shape), np.zeros(shape, dtype=np.int64)
        self.baseline_loss, self.baseline_n = np.zeros(shape), np.zeros(shape, dtype=np.int64)
        d = params.detector
        self.detectors = [Cusum(d.k, d.h, d.warmup, d.uncertain_at, d.ceiling) for _ in self.models]
        self.group = ManagerGroup(sim.env, sim.randomness.stream("manager.elections"),
                                  ManagerParams(replicas=params.replicas, one_way_delay_s=params.one_way_delay))
        self.state = [HEALTHY] * len(self.models)  # as committed, and acted upon
        self.proposing = [False] * len(self.models)
        self.switched = [False] * len(self.models)
        self.uncertain_since: list[float | None] = [None] * len(self.models)
        self.detected_at: list[float | None] = [None] * len(self.models)
        self.incidents: list[Incident] = []
        self.open_incident: dict[int, Incident] = {}
        self.transitions: list[dict] = []
        self.crashes: list[dict] = []
        self._rollbacks: dict[int, _Rollback] = {}
        # every rollback write: (model, keys, (time, origin, counter), values), one a push
        self.republished: list[tuple] = []
        self._baseline_rngs: dict[tuple[int, int], np.random.Generator] = {}
        # the witness runs on each model's trainer host (a trainer's NIC, in the training DC)
        self.witness_hosts = [Server(scenario.training_dc.name, m % scenario.workload.trainers, "trainer")
                        for m in range(len(self.models))]
        self.dcs = [dc.name for dc in scenario.topology.datacenters]
        cluster.apply_hooks.append(self._applied)
        service.manager = self
        sim.env.process(self._watch())

    # -- called by the service and the trainers --------------------------------------------------

    def published(self, m: int, keys: np.ndarray, values: np.ndarray, now: float) -> None:
        for copy in (self.baselines[m], self.witnesses[m]):
            copy.advance(now)
            copy.record(keys, values, now)

    def route(self, d: int, m: int, keys: np.ndarray, served: np.ndarray, now: float) -> tuple[np.ndarray, np.ndarray]:
        """Which requests the baseline serves (drawn per request), and the values every request
        is served: the baseline's for its requests and, while the traffic is switched, for all."""
        rng = self._baseline_rngs.get((d, m))
        if rng is None:
            stream = f"manager.baseline.{self.service.dcs[d]}.{self.names[m]}"
            rng = self._baseline_rngs[(d, m)] = self.sim.randomness.stream(stream)
        baseline = rng.random(keys.size) < self.params.baseline_share
        copy = self.baselines[m]
        copy.advance(now)
        if self.switched[m]:
            return copy.value.get(keys), baseline
        served = served.copy()
        served[baseline] = copy.value.get(keys[baseline])
        return served, baseline

    def observe(self, m: int, times: np.ndarray, loss: np.ndarray, baseline: np.ndarray) -> None:
        """Add scored requests to the detector's windows (online requests only while not switched)."""
        window = np.minimum((times // self.window).astype(np.int64), self.online_n.shape[1] - 1)
        np.add.at(self.baseline_loss[m], window[baseline], loss[baseline])
        np.add.at(self.baseline_n[m], window[baseline], 1)
        if not self.switched[m]:
            online = ~baseline
            np.add.at(self.online_loss[m], window[online], loss[online])
            np.add.at(self.online_n[m], window[online], 1)

    # -- the detector's loop ------------------------------------------------------------------

    def _watch(self) -> Iterator[simpy.Event]:
        """At the end of every window, one observation per model, and the proposals it calls for.
        Only while the trainers train (`workload.duration`): in the drain the online model ages
        like its baseline, and their comparison says nothing of damage."""
        env, training_s = self.env, self.sim.scenario.workload.duration
        for w in range(math.ceil(training_s / self.window)):
            yield env.timeout(max(0.0, min((w + 1) * self.window, training_s) - env.now))
            for m, detector in enumerate(self.detectors):
                n_on, n_base = int(self.online_n[m, w]), int(self.baseline_n[m, w])
                gap = math.nan
                if n_on and n_base:
                    base = self.baseline_loss[m, w] / n_base
                    gap = (self.online_loss[m, w] / n_on - base) / base
                level = detector.observe(gap, n_on, n_base)
                self._decide(m, level)

    def _decide(self, m: int, level: str) -> None:
        if self.proposing[m]:
            return
        state = self.state[m]
        if state == HEALTHY and level != HEALTHY:
            self._propose(m, UNCERTAIN, "detector")
        elif state == UNCERTAIN and level == DAMAGED:
            self.detected_at[m] = self.env.now
            self._propose(m, DAMAGED, "detector")
        elif state == UNCERTAIN and level == HEALTHY:
            self._propose(m, HEALTHY, "cleared")

    def _propose(self, m: int, target: str, reason: str) -> None:
        self.proposing[m] = True
        decided = self.env.now
        done = self.group.propose((self.names[m], target, reason, decided))
        done.callbacks.append(lambda event: self._committed(m, target, reason, decided))

    # -- acting on commits ----------------------------------------------------------------------

    def _committed(self, m: int, target: str, reason: str, decided: float) -> None:
        now = self.env.now
        self.proposing[m] = False
        self.transitions.append({"model": self.names[m], "state": target, "reason": reason,
                                 "decided_s": decided, "committed_s": now})
        self.state[m] = target
        copies = (self.baselines[m], self.witnesses[m])
        if target == UNCERTAIN:
            for copy in copies:
                copy.advance(now)
                copy.frozen = True
            self.uncertain_since[m] = now
        elif target == HEALTHY and reason != ROLLBACK:  # a suspicion cleared
            for copy in copies:
                copy.frozen = False
            self.uncertain_since[m] = None
        elif target == DAMAGED:
            self.switched[m] = True
            incident = Incident(self.names[m], self._injected_before(m, self.detected_at[m]), self.uncertain_since[m],
                                self.detected_at[m], traffic_switched_at_s=now)
            self.incidents.append(incident)
            self.open_incident[m] = incident
            self._start_rollback(m, incident)
        else:  # healthy after a rollback: traffic back, the chart restarts, the baseline thaws
            self.switched[m] = False
            self.detectors[m].reset()
            for copy in copies:
                copy.frozen = False
            self.uncertain_since[m] = None
            self.open_incident.pop(m).healthy_at_s = now
        if target != DAMAGED:  # the level may already call for the next move: no need to wait a window
            self._decide(m, self.detectors[m].level)

    def _injected_before(self, m: int, t: float) -> float | None:
        starts = [b.start for b in self.service.bias[m].bursts if b.start <= t]
        return max(starts) if starts else None

    # -- the rollback ---------------------------------------------------------------------------

    def _start_rollback(self, m: int, incident: Incident) -> None:
        witness, model = self.witnesses[m], self.models[m]
        keys = witness.unapplied_keys()
        values = witness.value.get(keys)
        # the baseline will not replay what the rollback undid
        self.baselines[m].discard_after(witness.state_time_s)
        witness.discard_pending(self.env.now)
        incident.rollback_keys = int(keys.size)
        rollback = self._rollbacks[m] = _Rollback(incident, self.cluster, m, distinct(keys % model.shards))
        origin_dc = self.sim.scenario.training_dc.name
        for server, rows in origin_rows(keys, model.shards, self.cluster.dcs[origin_dc].servers):
            self.env.process(self._republish(m, rollback, Server(origin_dc, server), keys[rows], values[rows]))
        self._check_complete(m, rollback)

    def _republish(self, m: int, rollback: _Rollback, server: Server, keys: np.ndarray,
                   values: np.ndarray) -> Iterator[simpy.Event]:
        """The witness pushes a group of shards' healthy values to their origin server, which
        writes them as new versions (the timing of a trainer's push)."""
        model = self.models[m]
        yield from push(self.sim, self.cluster, self.witness_hosts[m], server, keys.size, model.value_bytes, ROLLBACK_PUSH)
        store = self.cluster.stores[(server, m)]
        change = store.write(ORIGIN, keys, values, self.env.now)
        self.tracker.produced(m, change)
        self.published(m, keys, values, self.env.now)
        self.republished.append((m, change.keys, (change.time, change.origin, change.counter), values))
        rollback.wrote(change.keys, change.time, change.origin, change.counter)
        # every replica of these shards may already hold newer versions (the origin does)
        written = distinct(change.keys % model.shards)
        for (_, model_index), copies in self.cluster.stores.items():
            if model_index == m:
                rollback.check(copies, np.flatnonzero(np.isin(copies.shards, written)))
        self._check_complete(m, rollback)

    def _applied(self, server: Server, m: int, store, change, now: float) -> None:
        """A puller applied an answer to `server`'s copies of model `m`: do they hold the rollback now?"""
        rollback = self._rollbacks.get(m)
        if rollback is None or change.keys.size == 0:
            return
        if rollback.check(store, distinct(change.holding)):
            self._check_complete(m, rollback)

    def _check_complete(self, m: int, rollback: _Rollback) -> None:
        if self._rollbacks.get(m) is not rollback:  # already complete
            return
        incident = rollback.incident
        for dc in self.dcs:
            if dc not in incident.rollback_complete_s and not rollback.missing_in[dc]:
                if not rollback.waiting:
                    incident.rollback_complete_s[dc] = self.env.now
        if len(incident.rollback_complete_s) == len(self.dcs):
            del self._rollbacks[m]
            self._propose(m, HEALTHY, ROLLBACK)

    # -- faults -----------------------------------------------------------------------------------

    def crash(self, replica: int | str, recover_s: float | None) -> int | None:
        """Crash a manager replica (`leader`: whichever leads now); return its index, None if
        there was no leader to crash. The fault schedule (`ekkosim.sync.faults`) calls this."""
        index = self.group.leader if replica == "leader" else replica
        self.crashes.append({"replica": index, "at_s": self.env.now, "recover_s": recover_s})
        if index is not None:
            self.group.crash(index)
        return index

    def recover(self, index: int) -> None:
        self.group.recover(index)

    # -- results ----------------------------------------------------------------------------------

    def summary(self) -> dict:
        """`manager` of summary.json."""
        logs = [[(a.index, a.proposal, tuple(a.command), a.accepted) for a in r.applied] for r in self.group.replicas]
        longest = max(logs, key=len)
        return {
            "incidents": [asdict(incident) for incident in self.incidents],
            "false_alarms": sum(1 for incident in self.incidents if incident.injected_at_s is None),
            "transitions": self.transitions,
            "states": {name: self.state[m] for m, name in enumerate(self.names)},
            "crashes": self.crashes,
            "elections": len(self.group.elections),
            "replicas_agree": all(log == longest[:len(log)] for log in logs),
            "applied_by_replica": [len(log) for log in logs],
            "detector": {name: {"scale": None if math.isnan(d.scale) else d.scale, "statistic": d.statistic,
                                "warming_up": d.warming_up} for name, d in zip(self.names, self.detectors)},
            "biased_keys": {name: self.service.bias[m].touched.size for m, name in enumerate(self.names)},
        }
