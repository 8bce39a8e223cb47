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

Faults (`ekkosim.sync.faults`): a pull fails when one of its flows fails (a link or a server
down) or its peer crashed before answering, and is abandoned when it is not done
`sync.retry.timeout` after it started (doubled for each pull of the lane abandoned in a row);
the puller then waits a backoff that doubles with each failure in a row, and pulls again. When its own
server crashes it stops, and resumes when the server restarts. When the cluster's epoch moves
(a crash, a restart, an election), it takes its pairs afresh from `Pullers`: a pair whose peer
or replica is a new incarnation starts again from cursor 0 (a whole pull), and a puller left
with no pair retires. An answer is applied only to the incarnation that asked for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import simpy

from ekkosim.metrics.latency import LatencyTracker
from ekkosim.net.flows import Flow, FlowFailed
from ekkosim.net.topology import Server
from ekkosim.ps.pull import LANES, Answer, answer_cursor, answer_knowledge, apply_answer, shards_with_news
from ekkosim.schema import Costs, Sync
from ekkosim.simulation import Simulation
from ekkosim.sync.cluster import Cluster

REQUEST, REPLY = "sync:request", "sync:reply"
CRASHED, TIMED_OUT = "crashed", "timed out"  # why a puller's process is interrupted


@dataclass
class SyncCounters:
    """Work done by every puller together."""

    pulls: int = 0
    keys_sent: int = 0
    keys_examined: int = 0  # keys compared by scans and cache lookups
    full_scans: int = 0
    failed_pulls: int = 0  # pulls that failed or timed out
    shards_asked: int = 0  # shard pairs the completed pulls covered
    shards_moved: int = 0  # of those, shards with news (answered)
    request_bytes: float = 0.0
    reply_bytes: float = 0.0


def lanes(scenario) -> tuple[str, ...]:
    """The lanes every puller pulls in (`ekkosim.ps.pull`): an express lane for high-priority
    keys with the scheduler on."""
    return LANES if scenario.scheduler.enabled else LANES[:1]


class Pullers:
    """Every puller of the run, one per (pulling server, peer server) with pairs to pull: started
    at time 0, and again wherever an election gives a server a new peer."""

    def __init__(self, sim: Simulation, cluster: Cluster, tracker: LatencyTracker, counters: SyncCounters):
        self.sim, self.cluster, self.tracker, self.counters = sim, cluster, tracker, counters
        self.groups = cluster.pull_groups()
        self.active: dict[tuple[Server, Server], Puller] = {}
        for key in self.groups:
            self._start(key, seen_all=True)

    def _start(self, key: tuple[Server, Server], seen_all: bool) -> None:
        self.active[key] = puller = Puller(self, *key, seen_all=seen_all)
        puller.start()

    def regroup(self) -> None:
        """Leaders changed: pairs move between pullers; start the pullers new groups need."""
        self.groups = self.cluster.pull_groups()
        for key in self.groups:
            if key not in self.active:
                self._start(key, seen_all=False)

    def retire(self, puller: Puller) -> None:
        puller.retired = True
        if self.active.get((puller.puller, puller.peer)) is puller:
            del self.active[(puller.puller, puller.peer)]

    def crashed(self, server: Server) -> None:
        """`server` crashed: its pullers stop where they are."""
        for puller in list(self.active.values()):
            if puller.puller == server:
                puller.interrupt(CRASHED)


class _Model:
    """A puller's pairs of one model: its store and holdings, the peer's store and holdings."""

    def __init__(self, cluster: Cluster, puller: Server, peer: Server, m: int, shards, copies, peer_copies):
        self.m, self.shards = m, shards
        self.store, self.peer = cluster.stores[(puller, m)], cluster.stores[(peer, m)]
        self.mine = self.store.shards.searchsorted(shards)
        self.theirs = self.peer.shards.searchsorted(shards)
        model = cluster.scenario.models[m]
        self.value_bytes = model.value_bytes
        self.split, self.real_shards = model.shard_split, model.shards * model.shard_split


class Puller:
    """`puller` pulling the shard copies of its pairs from `peer`, one process per lane. At time 0
    every replica starts alike (empty, or warm-started the same way), so a puller has seen all of
    its peers' state: every lane's cursors are their shard versions; a puller or pair that starts
    later has seen nothing (cursor 0)."""

    def __init__(self, pullers: Pullers, puller: Server, peer: Server, seen_all: bool):
        self.pullers = pullers
        self.sim, self.cluster, self.tracker, self.counters = pullers.sim, pullers.cluster, pullers.tracker, pullers.counters
        self.puller, self.peer = puller, peer
        self.retired = False
        self.models: list[_Model] = []
        self.cursors: dict[str, list[np.ndarray]] = {lane: [] for lane in lanes(self.sim.scenario)}
        self._refresh()
        if seen_all:
            for cursors in self.cursors.values():
                for model, cursor in zip(self.models, cursors):
                    cursor[:] = model.peer.version[model.theirs]
        self.processes: dict[str, simpy.Process] = {}
        self.attempt: dict[str, object | None] = dict.fromkeys(self.cursors)  # the pull in progress
        self.in_flight: dict[str, Flow] = {}
        self.timeouts = dict.fromkeys(self.cursors, 0)  # pulls of each lane timed out in a row

    def _refresh(self) -> None:
        """Take this puller's pairs afresh, keeping the cursors of pairs whose stores are the
        incarnations they were."""
        old = {model.m: (model, i) for i, model in enumerate(self.models)}
        self.models = [_Model(self.cluster, self.puller, self.peer, *group)
                       for group in self.pullers.groups.get((self.puller, self.peer), [])]
        self.n_pairs = sum(model.shards.size for model in self.models)
        # the real shards the pairs stand for (`models[].shard_split`): what a request carries
        # and the peer compares
        self.real_pairs = sum(model.shards.size * model.split for model in self.models)
        for lane, cursors in self.cursors.items():
            fresh = []
            for model in self.models:
                cursor = np.zeros(model.shards.size, dtype=np.int64)
                was, i = old.get(model.m, (None, None))
                if was is not None and was.store is model.store and was.peer is model.peer:
                    at = np.minimum(was.shards.searchsorted(model.shards), was.shards.size - 1)
                    kept = was.shards[at] == model.shards
                    cursor[kept] = cursors[i][at[kept]]
                fresh.append(cursor)
            self.cursors[lane] = fresh
        self.epoch = self.cluster.epoch

    def start(self) -> None:
        for lane in self.cursors:
            self.processes[lane] = self.sim.env.process(self._pull_forever(lane))
            self.sim.env.process(self._watch(lane))

    def interrupt(self, cause: str) -> None:
        for process in self.processes.values():
            if process.is_alive:
                process.interrupt(cause)

    def _pull_forever(self, lane: str) -> Iterator[simpy.Event]:
        """Pull in `lane` again and again: on failure after a backoff, else at the pull rate."""
        sim, cluster, env, sync = self.sim, self.cluster, self.sim.env, self.sim.scenario.sync
        stream = f"sync.puller.{self.puller}.{self.peer}" + ("" if lane == "all" else f".{lane}")
        rng = sim.randomness.stream(stream)
        pause = rng.uniform(0, sync.pull_interval)
        failures = 0
        while True:
            try:
                if pause > 0:
                    yield env.timeout(pause)
                pause = 0
                if not cluster.is_up(self.puller):
                    yield cluster.down[self.puller]  # the event of its restart
                if self.epoch != cluster.epoch:
                    self._refresh()
                if self.retired or not self.n_pairs:
                    self.pullers.retire(self)
                    return
                started = env.now
                self.attempt[lane] = (object(), started)
                yield from self._pull(lane)
                self.attempt[lane] = None
                failures = self.timeouts[lane] = 0
                pause = started + sync.pull_interval - env.now
            except (FlowFailed, simpy.Interrupt) as failure:
                self.attempt[lane] = None
                timed_out = isinstance(failure, simpy.Interrupt) and failure.cause == TIMED_OUT
                self.timeouts[lane] = self.timeouts[lane] + 1 if timed_out else 0
                flow = self.in_flight.pop(lane, None)
                if flow is not None and not flow.done.triggered:
                    sim.network.abort(flow)
                if isinstance(failure, simpy.Interrupt) and failure.cause == CRASHED:
                    continue
                failures += 1
                self.counters.failed_pulls += 1
                retry = sync.retry
                pause = rng.uniform(0.5, 1.0) * min(retry.max_backoff, retry.backoff * 2 ** min(failures - 1, 60))

    def _watch(self, lane: str) -> Iterator[simpy.Event]:
        """Abandon a pull of `lane` not done `sync.retry.timeout` after it started."""
        env, timeout = self.sim.env, self.sim.scenario.sync.retry.timeout
        process = self.processes[lane]
        while process.is_alive:
            attempt = self.attempt[lane]
            if attempt is None:  # idle: a pull that starts meanwhile ends its time after this wakes
                yield env.timeout(timeout)
                continue
            # each timeout in a row doubles the next pull's time: a whole pull after a crash may
            # take longer than one timeout, and a pull abandoned brings nothing
            yield env.timeout(attempt[1] + timeout * 2 ** min(self.timeouts[lane], 10) - env.now)
            if self.attempt[lane] is attempt and process.is_alive:
                self.attempt[lane] = None
                process.interrupt(TIMED_OUT)

    def _send(self, lane: str, src: Server, dst: Server, size_bytes: float, tag: str) -> simpy.Event:
        """Send a message of the pull in `lane`; the flow is the lane's in flight until done."""
        flow = self.sim.send(src, dst, size_bytes, tag)
        self.in_flight[lane] = flow
        return flow.done

    def _pull(self, lane: str) -> Iterator[simpy.Event]:
        """One pull in `lane`, advancing its cursors; the all lane also sends the express lane's."""
        sim, cluster, counters, env = self.sim, self.cluster, self.counters, self.sim.env
        sync = sim.scenario.sync
        costs = sync.costs
        models, epoch, real_pairs = self.models, self.epoch, self.real_pairs
        own = self.cursors[lane]
        express = self.cursors.get("high") if lane == "all" else None
        entries, entry_bytes = _request_entries(sync, express is not None)
        request_bytes = costs.header_bytes + real_pairs * entries * entry_bytes

        asked = None if sync.shard_version else [model.store.knowledge[model.mine].copy() for model in models]
        sent_express = None if express is None else [cursor.copy() for cursor in express]
        yield self._send(lane, self.puller, self.peer, request_bytes, REQUEST)

        with cluster.cpu[self.peer].request() as core:
            yield from core
            if epoch != cluster.epoch and (not cluster.is_up(self.peer) or any(
                    cluster.stores[(self.peer, model.m)] is not model.peer for model in models)):
                raise FlowFailed(f"{self.peer} crashed before it answered")
            answers = []
            for i, model in enumerate(models):
                if asked is None:
                    answers.append(answer_cursor(model.peer, model.theirs, own[i], sync.update_cache, lane,
                                                 None if sent_express is None else sent_express[i]))
                else:
                    answers.append(answer_knowledge(model.peer, model.theirs, asked[i], sync.update_cache))
            news = [shards_with_news(answer, model.real_shards, model.split) for model, answer in zip(models, answers)]
            yield from cluster.work(self.peer, _answer_cpu_s(costs, real_pairs * entries, sum(news), answers))

        whole = lane == "all"
        reply = _reply_bytes(sync, answers, news, [model.value_bytes for model in models], whole)
        yield self._send(lane, self.peer, self.puller, reply, REPLY)
        del self.in_flight[lane]

        sent = sum(len(answer) for answer in answers)
        with cluster.cpu[self.puller].request() as core:
            yield from core
            merged = sync.knowledge_entries * costs.cpu_per_vector_entry if whole else 0.0
            yield from cluster.work(self.puller, (costs.cpu_per_shard + merged) * sum(news)
                               + costs.cpu_per_key_applied * sent)
            for i, (model, answer) in enumerate(zip(models, answers)):
                if epoch != cluster.epoch and cluster.stores[(self.puller, model.m)] is not model.store:
                    continue  # the server that asked crashed meanwhile
                change = apply_answer(model.store, model.mine, answer, whole)
                if epoch == cluster.epoch and answer.moved.size:  # else the cursors are taken afresh
                    own[i][answer.moved] = answer.version
                self.tracker.applied(model.m, model.store, change, env.now)
                for hook in cluster.apply_hooks:
                    hook(self.puller, model.m, model.store, change, env.now)

        counters.pulls += 1
        counters.keys_sent += sent
        counters.keys_examined += sum(answer.cache_entries + answer.scanned for answer in answers)
        counters.full_scans += sum(answer.full_scans for answer in answers)
        counters.shards_asked += real_pairs
        counters.shards_moved += sum(news)
        counters.request_bytes += request_bytes
        counters.reply_bytes += reply


def _request_entries(sync: Sync, express: bool) -> tuple[int, float]:
    """What a request carries per shard: (entries, bytes of each). With shard versions, the last
    shard version the puller saw (and the express lane's, if the request carries both cursors);
    without, the puller's knowledge of the shard, `sync.knowledge_entries` entries."""
    if sync.shard_version:
        return 2 if express else 1, sync.costs.shard_version_bytes
    return sync.knowledge_entries, sync.costs.vector_entry_bytes


def _answer_cpu_s(costs: Costs, entries: int, news: int, answers: list[Answer]) -> float:
    """CPU seconds a peer spends answering: the request, every entry of it compared, every shard
    with news (`news` of them), every key compared."""
    scanned = sum(answer.scanned for answer in answers)
    cached = sum(answer.cache_entries for answer in answers)
    return (costs.cpu_per_request + costs.cpu_per_vector_entry * entries + costs.cpu_per_shard * news
            + costs.cpu_per_key_scanned * scanned + costs.cpu_per_cache_entry * cached)


def _reply_bytes(sync: Sync, answers: list[Answer], news: list[int], value_bytes: list[float], whole: bool) -> float:
    """Bytes of a reply: header; per shard with news (`news[i]` of answer i) its shard version,
    and its knowledge if the answer is whole (not the express lane's); per key its id, version
    and value."""
    costs = sync.costs
    per_shard = costs.shard_version_bytes + (sync.knowledge_entries * costs.vector_entry_bytes if whole else 0)
    return costs.header_bytes + sum(
        len(answer) * (costs.key_bytes + costs.version_bytes + value_bytes[i]) + per_shard * news[i]
        for i, answer in enumerate(answers)
    )
