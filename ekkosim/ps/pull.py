"""One shard's part of a pull: what the peer answers, and how the puller applies it.

The puller asks either with its cursor, the peer's shard version it saw at its last complete
pull of this shard (`sync.shard_version: true`), or with its knowledge (without shard versions).
The peer answers with the keys the puller may lack, their versions and values, and its own
knowledge and shard version. A shard with nothing new is skipped: with a cursor, one comparison
of shard versions says so; with knowledge, a comparison of version vectors. A shard with news is
answered from the update cache when the cache covers the cursor or knowledge, else from a full
scan; a cursor reads only the cache's newer tail (the cache is in shard-version order), while
knowledge must be compared with every cache entry. The puller applies the keys (newest wins) and
takes the union of knowledges.

Why a cursor is enough: after applying a complete answer, the puller holds everything the peer
held at that shard version, so what it may lack is exactly what the peer changed since.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ekkosim.ps import knowledge as kn
from ekkosim.ps.shard import Change, ShardReplica


@dataclass(frozen=True)
class ShardAnswer:
    """The peer's answer for one shard, a snapshot taken when it was computed."""

    keys: np.ndarray
    time: np.ndarray
    origin: np.ndarray
    counter: np.ndarray
    value: np.ndarray
    knowledge: np.ndarray
    version: int
    examined: int  # keys compared (cache entries or scanned keys)
    full_scan: bool

    def __len__(self) -> int:
        return self.keys.size


def _answer(peer: ShardReplica, keys: np.ndarray, examined: int, full_scan: bool) -> ShardAnswer:
    return ShardAnswer(
        keys, peer.time[keys], peer.origin[keys], peer.counter[keys], peer.value[keys],
        peer.knowledge.copy(), peer.version, examined, full_scan,
    )


def answer_cursor(peer: ShardReplica, cursor: int, use_cache: bool) -> ShardAnswer | None:
    """Answer a puller that last saw shard version `cursor`; None if the shard has not moved."""
    if peer.version == cursor:
        return None
    cached = peer.cache.since(cursor, peer) if use_cache and peer.cache is not None else None
    if cached is not None:
        return _answer(peer, *cached, full_scan=False)
    return _answer(peer, np.flatnonzero(peer.seq > cursor), peer.n_keys, full_scan=True)


def answer_knowledge(peer: ShardReplica, knowledge: np.ndarray, use_cache: bool) -> ShardAnswer | None:
    """Answer a puller that holds `knowledge` of this shard: every key it may lack; None if its
    knowledge covers the peer's (nothing to send)."""
    if kn.covers(knowledge, peer.knowledge):
        return None
    cached = peer.cache.unknown_to(knowledge, peer) if use_cache and peer.cache is not None else None
    if cached is not None:
        return _answer(peer, *cached, full_scan=False)
    lacking = ~kn.contains(knowledge, peer.origin, peer.counter)
    return _answer(peer, np.flatnonzero(lacking), peer.n_keys, full_scan=True)


def apply_answer(puller: ShardReplica, answer: ShardAnswer) -> Change:
    """Apply the peer's keys (newest wins), then take the union of the two knowledges."""
    change = puller.apply(answer.keys, answer.time, answer.origin, answer.counter, answer.value)
    puller.knowledge = kn.union(puller.knowledge, answer.knowledge)
    return change


def answer_pull(
    peers: list[ShardReplica], cursors: np.ndarray | None, knowledges: list[np.ndarray] | None, use_cache: bool
) -> list[tuple[int, ShardAnswer]]:
    """A peer's answer to one pull over several shards: (index, answer) for every shard with
    news. The request holds a cursor per shard (shard versions on) or a knowledge per shard."""
    answers = []
    for i, peer in enumerate(peers):
        if cursors is not None:
            answer = answer_cursor(peer, int(cursors[i]), use_cache)
        else:
            answer = answer_knowledge(peer, knowledges[i], use_cache)
        if answer is not None:
            answers.append((i, answer))
    return answers
