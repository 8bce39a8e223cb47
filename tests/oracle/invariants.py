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
from tests.oracle.shard import Change, ShardReplica
from tests.oracle.version import newer
from tests.oracle.cluster import Cluster


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

    def __init__(self, cluster: Cluster, now):
        self.cluster, self.now = cluster, now
        self.seen: dict[int, tuple[ShardReplica, int, np.ndarray]] = {}  # number: (incarnation, version, knowledge)
        cluster.apply_hooks.append(self.applied)

    def _where(self, rid: ReplicaId) -> str:
        return f"replica {self.cluster.server(rid)}/shard{rid.shard}/copy{rid.copy} (model {rid.model}, DC {rid.dc})"

    def applied(self, rid: ReplicaId, replica: ShardReplica, change: Change, now: float) -> None:
        where = self._where(rid)
        keys = change.keys
        back = ~newer(replica.time[keys], replica.origin[keys], replica.counter[keys],
                      change.prev_time, change.prev_origin, change.prev_counter)
        if back.any():
            raise _violation("versions never go backwards", where, int(keys[back.argmax()]),
                                     "an apply left a key at a version no newer than before", now)
        number = self.cluster.index[rid]
        incarnation, version, knowledge = self.seen.get(number, (None, 0, None))
        if incarnation is replica:
            if replica.version < version:
                raise _violation("versions never go backwards", where, None,
                                         f"shard version {replica.version} after {version}", now)
            if np.any(replica.knowledge < knowledge):
                raise _violation("versions never go backwards", where, None,
                                         f"knowledge {replica.knowledge.tolist()} after {knowledge.tolist()}", now)
        self.seen[number] = (replica, replica.version, replica.knowledge.copy())
        if incarnation is not replica or not np.array_equal(replica.knowledge, knowledge):
            self._sound(rid, replica, where, now)

    def _sound(self, rid: ReplicaId, replica: ShardReplica, where: str, now: float) -> None:
        origin = self.cluster.replica(self.cluster.origin(rid.model, rid.shard))
        claimed = (origin.counter > 0) & (origin.counter <= replica.knowledge[origin.origin])
        lacking = claimed & newer(origin.time, origin.origin, origin.counter,
                                  replica.time, replica.origin, replica.counter)
        if lacking.any():
            key = int(lacking.argmax())
            raise _violation(
                "knowledge is sound", where, key,
                f"knowledge {replica.knowledge.tolist()} claims the origin's version (origin {origin.origin[key]}, "
                f"counter {origin.counter[key]}), but the replica holds counter {replica.counter[key]}", now)

    def at_end(self) -> None:
        """Every live replica equals its origin; call after a drain that followed every repair."""
        cluster = self.cluster
        difference = cluster.first_difference()
        if difference is None:
            return
        rid, key = difference
        replica, origin = cluster.replica(rid), cluster.replica(cluster.origin(rid.model, rid.shard))
        if key is not None:
            raise _violation("converged", self._where(rid), key,
                             f"holds counter {replica.counter[key]}, the origin {origin.counter[key]}{LATE}", self.now())
        raise _violation("converged", self._where(rid), None,
                         f"knowledge {replica.knowledge.tolist()}, the origin's {origin.knowledge.tolist()}{LATE}",
                         self.now())
