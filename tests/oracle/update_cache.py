"""The update cache: a shard replica's recently changed keys, so a pull need not scan the shard.

Entries are (key, seq) in the order the keys changed, where seq is the shard version of the
change; an entry is live while it is its key's latest change. The cache keeps at least the
`capacity` most recently changed keys; its buffer holds twice that, and when it is full it
compacts: it drops stale entries and evicts the oldest. Eviction raises two floors that say what the cache still
covers:

- `seq_floor`: every key changed at a shard version above it is in the cache, so a puller that
  has seen shard version `cursor >= seq_floor` can be answered from the cache;
- `floor` (a version vector, the "DVV" of some summaries): every key whose version is not
  contained in it is in the cache, so a puller whose knowledge covers it can be answered from
  the cache.

Otherwise the peer falls back to a full scan of the shard.
"""

from __future__ import annotations

import numpy as np

from tests.oracle import knowledge as kn


class UpdateCache:
    """Recently changed keys of one shard replica (local key indices)."""

    def __init__(self, capacity: int, n_origins: int):
        self.capacity = capacity
        # A buffer of twice the capacity, filled from the front; `keys` and `seqs` view its used part.
        self._keys = np.zeros(2 * capacity, dtype=np.int64)
        self._seqs = np.zeros(2 * capacity, dtype=np.int64)
        self._used = 0
        self.seq_floor = 0
        self.floor = kn.empty(n_origins)

    @property
    def keys(self) -> np.ndarray:
        return self._keys[: self._used]

    @property
    def seqs(self) -> np.ndarray:
        return self._seqs[: self._used]

    def __len__(self) -> int:
        return self._used

    def record(self, keys: np.ndarray, seq: int, shard) -> None:
        """Note that `keys` changed at shard version `seq` (`shard.seq[keys]` already says so)."""
        if self._used + keys.size > self._keys.size:
            self._compact(shard, room=keys.size)
        end = self._used + keys.size
        if end > self._keys.size:  # one batch larger than the whole buffer
            self._keys = np.concatenate([self.keys, np.zeros(keys.size, dtype=np.int64)])
            self._seqs = np.concatenate([self.seqs, np.zeros(keys.size, dtype=np.int64)])
        self._keys[self._used : end] = keys
        self._seqs[self._used : end] = seq
        self._used = end

    def _compact(self, shard, room: int) -> None:
        """Drop stale entries, then evict the oldest live ones beyond `capacity`."""
        keys, seqs = self.keys, self.seqs
        live = np.flatnonzero(shard.seq[keys] == seqs)  # positions: indexing with a mask this mixed is slower
        keys, seqs = keys[live], seqs[live]
        evict = keys.size - self.capacity
        if evict > 0:  # the buffer is in change order: the oldest go first
            gone = keys[:evict]
            self.seq_floor = max(self.seq_floor, int(seqs[evict - 1]))
            np.maximum.at(self.floor, shard.origin[gone], shard.counter[gone])
            keys, seqs = keys[evict:], seqs[evict:]
        self._used = keys.size
        self._keys[: self._used] = keys
        self._seqs[: self._used] = seqs

    def since(self, cursor: int, shard) -> tuple[np.ndarray, int] | None:
        """Keys changed after shard version `cursor`, and the entries examined; None if the
        cache no longer covers `cursor`. Entries are in seq order: only the newer tail is read."""
        if cursor < self.seq_floor:
            return None
        start = int(self.seqs.searchsorted(cursor, side="right"))
        keys, seqs = self._keys[start : self._used], self._seqs[start : self._used]
        live = keys[shard.seq[keys] == seqs]
        return live, live.size  # issue 15: only live entries count as examined

    def unknown_to(self, knowledge: np.ndarray, shard) -> tuple[np.ndarray, int] | None:
        """Keys whose version `knowledge` does not contain, and the entries examined; None if
        `knowledge` does not cover the floor. Every entry is compared (versions are not ordered
        by the buffer across origins)."""
        if not kn.covers(knowledge, self.floor):
            return None
        keys = self.keys[shard.seq[self.keys] == self.seqs]
        lacking = ~kn.contains(knowledge, shard.origin[keys], shard.counter[keys])
        return keys[lacking], keys.size  # issue 15: only live entries count as examined
