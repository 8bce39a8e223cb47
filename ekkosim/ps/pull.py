"""One pull between two servers: what the peer answers for every shard the pull covers, and how
the puller applies it, each in a bounded number of array operations whatever the number of shards.

A pull covers *pairs*: a shard copy the puller holds (`mine[p]`, a holding of its store) and the
copy of the same shard it pulls from (`theirs[p]`, a holding of the peer's store). The puller
asks either with a cursor per pair, the peer's shard version it saw at its last complete answer
(`sync.shard_version: true`), or with its knowledge per pair (without shard versions). The peer
answers with the keys the puller may lack, their versions and values, and per shard with news
its shard version and knowledge. A shard with nothing new is skipped: with a cursor, one
comparison of shard versions says so; with knowledge, a comparison of version vectors. A shard
with news is answered from the update cache when the cache covers the cursor or knowledge, else
from a full scan; a cursor reads only the cache's newer tail (the journal is in shard-version
order), while knowledge must be compared with every cache entry of the shard. A cursor answer
that the caches cover for every shard with news, most answers, is one compiled pass
(`ekkosim.ps._kernels.cached_answer`); the array operations answer the rest. The puller applies
the keys (newest wins) and takes the union of knowledges.

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

from ekkosim.arrays import distinct, ranges
from ekkosim.ps import kernels
from ekkosim.ps.store import Change, Store
from ekkosim.ps.update_cache import WARM_SEQ

LANES = ("all", "high")  # what a lane's answers hold: every key, or the high-priority ones


@dataclass
class Answer:
    """The peer's answer to one pull, a snapshot taken when it was computed: per key (in no
    particular order) its pair, version, value and class; per pair with news (`moved`) the peer's
    shard version and knowledge."""

    pair: np.ndarray
    keys: np.ndarray
    time: np.ndarray
    origin: np.ndarray
    counter: np.ndarray
    value: np.ndarray
    high: np.ndarray
    moved: np.ndarray  # pairs answered (shards with news)
    version: np.ndarray  # the peer's shard version of each moved pair
    knowledge: np.ndarray  # the peer's knowledge of each moved pair (rows)
    cache_entries: int  # cache entries compared
    scanned: int  # keys compared by full scans
    full_scans: int

    def __len__(self) -> int:
        return self.keys.size


def shards_with_news(answer: Answer, real_shards: int, split: int) -> int:
    """The real shards an answer has news of, when each simulated shard stands for `split` of
    the model's `real_shards` (`models[].shard_split`): per moved shard, the real shards among
    its keys, and one for a shard that moved without a key in this answer (its knowledge grew,
    or its keys are the other lane's)."""
    if split == 1:
        return int(answer.moved.size)
    keyed = distinct(answer.pair).size
    return int(distinct(answer.keys % real_shards).size + answer.moved.size - keyed)


def _snapshot(peer: Store, pair: np.ndarray, rows: np.ndarray, moved: np.ndarray, theirs: np.ndarray,
              cache_entries: int, scanned: int, full_scans: int,
              extra: tuple[np.ndarray, ...] | None = None) -> Answer:
    r = peer.rows
    columns = [pair, peer.keys[rows], r.time[rows], r.origin[rows], r.counter[rows], r.value[rows], r.high[rows]]
    if extra is not None:  # base-state keys a full scan from cursor 0 sends too
        columns = [np.concatenate([a, b]) for a, b in zip(columns, extra)]
    h = theirs[moved]  # (an index array: the rows read are copies)
    return Answer(*columns, moved, peer.version[h], peer.knowledge[h], cache_entries, scanned, full_scans)


_NOTHING_NEW: dict[int, Answer] = {}  # per width of the knowledge rows: the answer with no key and no pair


def _nothing_new(peer: Store, moved: np.ndarray, theirs: np.ndarray) -> Answer:
    """The answer with no key and no pair (`moved` is empty): one, read-only, serves every such
    pull to stores whose knowledge rows are as wide as the peer's."""
    answer = _NOTHING_NEW.get(peer.knowledge.shape[1])
    if answer is None:
        answer = _NOTHING_NEW[peer.knowledge.shape[1]] = _snapshot(peer, moved, moved, moved, theirs, 0, 0, 0)
        for column in vars(answer).values():
            if isinstance(column, np.ndarray):
                column.flags.writeable = False
    return answer


def _pair_index(peer: Store, theirs: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Per holding of the peer, the pair (among `pairs`) it belongs to, -1 if none."""
    pair_at = np.full(peer.shards.size, -1, dtype=np.int64)
    pair_at[theirs[pairs]] = pairs
    return pair_at


def _changed_after(peer: Store, theirs: np.ndarray, pairs: np.ndarray, after: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, pair) of the journal's rows in the shards of `pairs` changed after shard version
    `after[pair]` (a cursor, or the cache's floor), in clock order: read per shard copy from the
    journal, so what a pull costs follows what changed, whatever the shards and their ages."""
    rows, which = peer.changed_after(theirs[pairs], after[pairs])
    return rows, pairs[which]


def _scan(peer: Store, theirs: np.ndarray, pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, pair) of every row of the peer in the shards of `pairs`."""
    pair_at = _pair_index(peer, theirs, pairs)
    pair = pair_at[peer.rows.holding]
    rows = np.flatnonzero(pair >= 0)
    return rows, pair[rows]


def answer_cursor(peer: Store, theirs: np.ndarray, cursors: np.ndarray, use_cache: bool, lane: str = "all",
                  express: np.ndarray | None = None) -> Answer:
    """Answer a puller that last saw shard versions `cursors` (per pair) in `lane`: the keys of
    the lane's class changed since, less, in the all lane, the high-priority keys changed at or
    before the puller's `express` cursors."""
    moved = kernels().moved_pairs(peer.version, np.ascontiguousarray(theirs, dtype=np.int64), np.ascontiguousarray(cursors, dtype=np.int64))
    if not moved.size:  # nothing new: the empty answer
        return _nothing_new(peer, moved, theirs)
    cached = np.zeros(moved.size, dtype=bool)
    if use_cache and peer.cache is not None:
        answer = _cached_answer(peer, theirs, cursors, moved, lane, express)
        if answer is not None:  # most answers: every moved pair from the cache, compiled
            return answer
        cached = peer.cache.covers_cursor(theirs[moved], cursors[moved])
    rows, pair = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    cache_entries = 0
    if cached.any():
        rows, pair = _changed_after(peer, theirs, moved[cached], cursors)
        cache_entries = rows.size
    scans = moved[~cached]
    scanned, extra = 0, None
    if scans.size:
        scan_rows, scan_pair = _scan(peer, theirs, scans)
        keep = peer.rows.seq[scan_rows] > cursors[scan_pair]
        rows, pair = np.concatenate([rows, scan_rows[keep]]), np.concatenate([pair, scan_pair[keep]])
        scanned = int(peer.n_keys[theirs[scans]].sum())
        extra = _warm_keys(peer, theirs, scans[cursors[scans] < WARM_SEQ])
    high = peer.rows.high[rows]
    if lane == "high":
        keep = high
    elif express is not None:
        keep = ~(high & (peer.rows.seq[rows] <= express[pair]) & (express[pair] > cursors[pair]))
    else:
        keep = None
    if keep is not None:
        rows, pair = rows[keep], pair[keep]
        if extra is not None and lane == "high":
            extra = None  # warm keys are low priority
    return _snapshot(peer, pair, rows, moved, theirs, cache_entries, scanned, int(scans.size), extra)


def _cached_answer(peer: Store, theirs: np.ndarray, cursors: np.ndarray, moved: np.ndarray, lane: str,
                   express: np.ndarray | None) -> Answer | None:
    """`answer_cursor`'s answer where the peer's caches cover every moved pair's cursor, in one
    compiled pass (`ekkosim.ps._kernels.cached_answer`); None where a pair needs a full scan."""
    r = peer.rows
    covered, *columns, versions, knowledge, entries = kernels().cached_answer(
        moved, np.ascontiguousarray(theirs, dtype=np.int64), np.ascontiguousarray(cursors, dtype=np.int64),
        peer.version, peer.cache.seq_floor,
        *peer.journal.links, r.seq, r.high, int(lane == "high"),
        _NO_CURSORS if express is None or lane == "high" else np.ascontiguousarray(express, dtype=np.int64),
        peer.keys, r.time, r.origin, r.counter, r.value, peer.knowledge)
    if not covered:
        return None
    return Answer(*columns, moved, versions, knowledge, entries, 0, 0)


_NO_CURSORS = np.zeros(0, dtype=np.int64)  # no express cursors


def _warm_keys(peer: Store, theirs: np.ndarray, pairs: np.ndarray) -> tuple[np.ndarray, ...] | None:
    """The warm-start keys without a row in the shards of `pairs`: a full scan from cursor 0
    sends them too (they changed at the warm start, shard version 1)."""
    if not pairs.size or not peer.warm[theirs[pairs]].any():
        return None
    h = theirs[pairs]
    counts = peer.warm[h]
    pair = np.repeat(pairs, counts)
    local = ranges(np.zeros_like(counts), counts)
    keys = local * peer.model_shards + peer.shards[np.repeat(h, counts)]
    absent = peer.index.find(keys) < 0
    pair, keys = pair[absent], keys[absent]
    time, origin, counter = peer.base_version(keys)
    return pair, keys, time, origin, counter, peer.base_values(keys), np.zeros(keys.size, dtype=bool)


def answer_knowledge(peer: Store, theirs: np.ndarray, knowledge: np.ndarray, use_cache: bool) -> Answer:
    """Answer a puller that holds `knowledge` (a row per pair): every key whose version it does
    not contain, in every shard whose knowledge it does not cover."""
    moved = np.flatnonzero((knowledge < peer.knowledge[theirs]).any(axis=1))
    cached = np.zeros(moved.size, dtype=bool)
    if use_cache and peer.cache is not None:
        cached = peer.cache.covers_knowledge(theirs[moved], knowledge[moved])
    rows, pair = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    cache_entries = 0
    if cached.any():
        h = theirs[moved[cached]]
        rows, pair = _changed_after(peer, theirs, moved[cached], peer.cache.seq_floor[theirs])
        cache_entries = rows.size + int(peer.cache.warm_entries[h].sum())
    scans = moved[~cached]
    scanned = 0
    if scans.size:
        scan_rows, scan_pair = _scan(peer, theirs, scans)
        rows, pair = np.concatenate([rows, scan_rows]), np.concatenate([pair, scan_pair])
        scanned = int(peer.n_keys[theirs[scans]].sum())
    lacking = peer.rows.counter[rows] > knowledge[pair, peer.rows.origin[rows]]
    return _snapshot(peer, pair[lacking], rows[lacking], moved, theirs, cache_entries, scanned, int(scans.size))


def apply_answer(store: Store, mine: np.ndarray, answer: Answer, whole: bool = True) -> Change:
    """Apply the peer's keys (newest wins) and, if the answer is `whole` (every key the puller
    may lack, not the express lane's part), take the union of the two knowledges."""
    if not answer.moved.size and not answer.keys.size:  # nothing (most pulls): the empty change, at once
        return Change(answer.pair, answer.keys, answer.time, answer.origin, answer.counter, answer.high,
                      answer.time, answer.origin, answer.counter)
    return store.apply(mine[answer.pair], answer.keys, answer.time, answer.origin, answer.counter, answer.value,
                       answer.high, mine[answer.moved] if whole else None, answer.knowledge if whole else None)
