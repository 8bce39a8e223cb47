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
held at that shard version, so what it may lack is exactly what the peer changed since. A
change of knowledge alone (a whole answer that brought no key the puller lacked) moves the shard
version too, so a cursor puller downstream hears of it.

Priorities (the SLO-aware scheduler): every key's version carries a class, high or low, and a
puller pulls in two lanes with cursors of their own. The "high" lane's answers hold only the
high-priority keys changed since its cursor: an express lane that a low-priority backlog cannot
hold up. The "all" lane's answers hold every key changed since its cursor except the
high-priority keys the express lane has already brought: the puller sends its express cursor
too, and a high-priority key changed at or before it is skipped (its version then is the one
the express lane delivered, as a key's class is its version's). So a key travels once, except
when the express lane is carrying it at the moment the all lane is answered. An all-lane answer
is still whole: after applying it the puller holds everything the peer held at its shard
version, so it brings the peer's knowledge; a high-lane answer says nothing of the low-priority
keys, so it brings none.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tests.oracle import knowledge as kn
from tests.oracle.shard import Change, ShardReplica


LANES = ("all", "high")  # what a lane's answers hold: every key, or the high-priority ones


@dataclass  # not frozen: a frozen dataclass's __init__ costs ten times a plain one's, per answer
class ShardAnswer:
    """The peer's answer for one shard, a snapshot taken when it was computed at shard version
    `version`, with the peer's knowledge then."""

    keys: np.ndarray
    time: np.ndarray
    origin: np.ndarray
    counter: np.ndarray
    value: np.ndarray
    high: np.ndarray
    knowledge: np.ndarray
    version: int
    examined: int  # keys compared (cache entries or scanned keys)
    full_scan: bool

    def __len__(self) -> int:
        return self.keys.size


def _answer(peer: ShardReplica, keys: np.ndarray, examined: int, full_scan: bool) -> ShardAnswer:
    return ShardAnswer(
        keys, peer.time[keys], peer.origin[keys], peer.counter[keys], peer.value[keys], peer.high[keys],
        peer.knowledge.copy(), peer.version, examined, full_scan,
    )


def answer_cursor(
    peer: ShardReplica, cursor: int, use_cache: bool, lane: str = "all", express_cursor: int | None = None
) -> ShardAnswer | None:
    """Answer a puller that last saw shard version `cursor` in this `lane`: the keys of the
    lane's class changed since, less, in the all lane, the high-priority keys changed at or
    before the puller's `express_cursor`; None if the shard has not moved. From the update cache
    when it covers the cursor (only its newer tail is read), else from a full scan."""
    if peer.version == cursor:
        return None
    cached = peer.cache.since(cursor, peer) if use_cache and peer.cache is not None else None
    if cached is not None:
        (keys, examined), full_scan = cached, False
    else:
        keys, examined, full_scan = np.flatnonzero(peer.seq > cursor), peer.n_keys, True
    if lane == "high":
        keys = keys[peer.high[keys]]
    elif express_cursor is not None and express_cursor > cursor:
        keys = keys[~(peer.high[keys] & (peer.seq[keys] <= express_cursor))]
    return _answer(peer, keys, examined, full_scan)


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


def apply_answer(puller: ShardReplica, answer: ShardAnswer, whole: bool = True) -> Change:
    """Apply the peer's keys (newest wins) and, if the answer is `whole` (every key the puller
    may lack, not the high-priority lane's part), take the union of the two knowledges."""
    return puller.apply(answer.keys, answer.time, answer.origin, answer.counter, answer.value, answer.high,
                        answer.knowledge if whole else None)


def answer_pull(
    peers: list[ShardReplica],
    cursors: np.ndarray | None,
    knowledges: list[np.ndarray] | None,
    use_cache: bool,
    lane: str = "all",
    express_cursors: np.ndarray | None = None,
) -> list[tuple[int, ShardAnswer]]:
    """A peer's answer to one pull over several shards: (index, answer) for every shard with
    news. The request holds a cursor per shard (shard versions on), and in the all lane with an
    express lane beside it the express cursor per shard too; or a knowledge per shard."""
    answers = []
    for i, peer in enumerate(peers):
        if cursors is not None:
            express = None if express_cursors is None else int(express_cursors[i])
            answer = answer_cursor(peer, int(cursors[i]), use_cache, lane, express)
        else:
            answer = answer_knowledge(peer, knowledges[i], use_cache)
        if answer is not None:
            answers.append((i, answer))
    return answers
