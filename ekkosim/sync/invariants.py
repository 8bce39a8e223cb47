"""The sync's invariants, checked as a run goes (`ekkosim run --check`; the tests always check).

After every apply of a pulled answer to a replica:

- *versions never go backwards*: every key the apply changed now holds a strictly newer version
  than before, and neither the shard version nor the knowledge went back (within one incarnation:
  a crash loses the replica's memory, and its successor starts from the checkpoint);
- *knowledge is sound*: wherever the origin's version of a key is one the replica's knowledge
  claims (its counter is at most the knowledge of its origin), the replica holds that version
  or a newer one. A knowledge that claims more than the replica holds would let a cursor or a
  version vector skip what the replica lacks, for good.

At the end of a run that drained after every fault was repaired: every live replica equals its
origin, key by key and in knowledge (`converged`), and no update is lost. The first violation
stops the run with an `InvariantViolation` naming the rule, the replica, the shard and the key.
"""

from __future__ import annotations

import numpy as np

from ekkosim.ps.placement import ReplicaId
from ekkosim.net.topology import Server
from ekkosim.ps.store import Change, Store
from ekkosim.ps.version import newer
from ekkosim.sync.cluster import Cluster
from ekkosim.sync.puller import Pullers


# a replica still behind at the end may be slow rather than wrong: say which to look at first
LATE = " (a sync.drain too short for the load, or an update the sync lost)"


class InvariantViolation(Exception):
    """A run broke one of the sync's invariants: a bug in the protocol (or a broken variant).
    (SimPy re-creates an exception from its args when it crashes the run: all three are args.)"""

    def __init__(self, message: str, rule: str, key: int | None):
        super().__init__(message, rule, key)
        self.rule, self.key = rule, key

    def __str__(self) -> str:
        return self.args[0]


def _violation(rule: str, where: str, key: int | None, detail: str, now: float) -> InvariantViolation:
    at_key = "" if key is None else f", key {key}"
    return InvariantViolation(f"invariant '{rule}' violated at t = {now:.6f} s by {where}{at_key}: {detail}", rule, key)


class Checker:
    """Watches every apply of a cluster, and checks its end state."""

    def __init__(self, cluster: Cluster, now, pullers: Pullers | None = None):
        """`pullers`: whose cursors to check (None: no cursor is checked)."""
        self.cluster, self.now, self.pullers = cluster, now, pullers
        # per (server, model): the incarnation (store) last seen, its shard versions and knowledge
        self.seen: dict[tuple[Server, int], tuple[Store, np.ndarray, np.ndarray]] = {}
        cluster.apply_hooks.append(self.applied)

    def _where(self, rid: ReplicaId) -> str:
        return f"replica {self.cluster.server(rid)}/shard{rid.shard}/copy{rid.copy} (model {rid.model}, DC {rid.dc})"

    def _where_holding(self, store: Store, holding: int) -> str:
        return self._where(self.cluster.rid(int(store.replica[holding])))

    def applied(self, server: Server, m: int, store: Store, change: Change, now: float) -> None:
        keys = change.keys
        _, *held = store.versions(keys)
        back = ~newer(*held, change.prev_time, change.prev_origin, change.prev_counter)
        if back.any():
            i = int(back.argmax())
            raise _violation("versions never go backwards", self._where_holding(store, change.holding[i]),
                             int(keys[i] // store.model_shards), "an apply left a key at a version no newer than before", now)
        incarnation, version, knowledge = self.seen.get((server, m), (None, None, None))
        if incarnation is store:
            went_back = np.flatnonzero(store.version < version)
            if went_back.size:
                h = int(went_back[0])
                raise _violation("versions never go backwards", self._where_holding(store, h), None,
                                 f"shard version {store.version[h]} after {version[h]}", now)
            went_back = np.flatnonzero((store.knowledge < knowledge).any(axis=1))
            if went_back.size:
                h = int(went_back[0])
                raise _violation("versions never go backwards", self._where_holding(store, h), None,
                                 f"knowledge {store.knowledge[h].tolist()} after {knowledge[h].tolist()}", now)
            grown = np.flatnonzero((store.knowledge != knowledge).any(axis=1))
        else:
            grown = np.arange(store.shards.size)
        self.seen[(server, m)] = (store, store.version.copy(), store.knowledge.copy())
        if grown.size:
            self._sound(m, store, grown, now)
        if self.pullers is not None:
            self._cursors(server, m, now)

    def _cursors(self, server: Server, m: int, now: float) -> None:
        """No cursor of `server`'s pullers for model `m` exceeds its peer copy's shard version."""
        for puller in self.pullers.active.values():
            if puller.puller != server:
                continue
            for lane, cursors in puller.cursors.items():
                for model, cursor in zip(puller.models, cursors):
                    if model.m != m:
                        continue
                    ahead = np.flatnonzero(cursor > model.peer.version[model.theirs])
                    if ahead.size:
                        p = int(ahead[0])
                        raise _violation(
                            "a cursor never exceeds its peer's shard version", self._where_holding(model.store, model.mine[p]),
                            None, f"cursor {cursor[p]} ({lane} lane) of its pull from {puller.peer}, whose shard version "
                                  f"is {model.peer.version[model.theirs[p]]}", now)

    def _sound(self, m: int, store: Store, holdings: np.ndarray, now: float) -> None:
        """Every origin version the knowledge of `holdings` claims is held (or a newer one)."""
        origin_dc = self.cluster.scenario.training_dc.name
        shards = store.shards[holdings]
        for i in range(self.cluster.dcs[origin_dc].servers):
            origin = self.cluster.stores[(Server(origin_dc, i), m)]
            rows = origin.rows_of(shards)
            if not rows.size:
                continue
            keys, o, c = origin.keys[rows], origin.rows.origin[rows], origin.rows.counter[rows]
            h = store.holdings_of(keys)
            claimed = c <= store.knowledge[h, o]
            _, *held = store.versions(keys)
            lacking = claimed & newer(origin.rows.time[rows], o, c, *held)
            if lacking.any():
                j = int(np.lexsort((keys[lacking], store.replica[h[lacking]]))[0])
                key, hj = int(keys[lacking][j]), int(h[lacking][j])
                raise _violation(
                    "knowledge is sound", self._where_holding(store, hj), key // store.model_shards,
                    f"knowledge {store.knowledge[hj].tolist()} claims the origin's version (origin {o[lacking][j]}, "
                    f"counter {c[lacking][j]}), but the replica holds counter {held[2][lacking][j]}", now)

    def at_end(self) -> None:
        """Every live replica equals its origin; call after a drain that followed every repair."""
        cluster = self.cluster
        difference, _ = cluster.end_state()
        if difference is None:
            return
        rid, key = difference
        store, holding = cluster.replica(rid)
        if key is not None:
            model_key = np.array([key * store.model_shards + rid.shard])
            held = store.versions(model_key)[3][0]
            origin = cluster.origin_versions(rid.model, model_key)[2][0]
            raise _violation("converged", self._where(rid), key,
                             f"holds counter {held}, the origin {origin}{LATE}", self.now())
        origin_knowledge = cluster.origin_knowledge(rid.model, np.array([rid.shard]))[0]
        raise _violation("converged", self._where(rid), None,
                         f"knowledge {store.knowledge[holding].tolist()}, the origin's {origin_knowledge.tolist()}{LATE}",
                         self.now())
