"""The update cache: each shard copy's recently changed keys, so a pull need not scan the shard.

A shard copy's cache holds its most recently changed keys, at least `capacity` of them; the
server's journal (`ekkosim.ps.journal.Journal`) holds them in change order, so the cache is not a
structure of its own but a floor per shard copy: its entries are the keys changed after
`seq_floor`. Two floors say what the cache still covers:

- `seq_floor`: every key changed at a shard version above it is in the cache, so a puller that
  saw shard version `cursor >= seq_floor` is answered from the cache;
- `floor` (a version vector, the "DVV" of some summaries): every key whose version it does not
  contain is in the cache, so a puller whose knowledge covers it is answered from the cache.

Otherwise the peer falls back to a full scan of the shard. Eviction happens when the server
trims: each time its shard copies together have taken as many changes as all their caches hold,
every shard copy keeps its `capacity` newest keys and evicts the older ones, raising its
floors. Between two trims a cache holds at most what changed since the last (about twice
`capacity` on average, as a buffer of twice the capacity compacted when full would).

A warm start (`sync.warm_start`) fills every cache with the warm keys, which no row stands for:
`warm_entries` counts those still cached, and they are evicted first (oldest), each raising
the floor of the warm origin by one.
"""

from __future__ import annotations

import numpy as np

WARM_ORIGIN = 0
WARM_SEQ = 1  # the shard version of the warm start


class UpdateCache:
    """The update caches of every shard copy of one store."""

    def __init__(self, capacity: int, store):
        self.capacity = capacity
        self.store = store
        holdings = store.shards.size
        self.seq_floor = np.zeros(holdings, dtype=np.int64)
        self.floor = np.zeros_like(store.knowledge)
        self.warm_entries = store.warm.copy()
        self.trim_every = max(1, capacity * holdings)
        self.added = 0  # keys changed since the last trim

    def changed(self, n: int) -> None:
        """`n` keys changed; trim when the caches have taken as many as they hold."""
        self.added += n
        if self.added >= self.trim_every:
            self.trim()

    def covers_cursor(self, holdings: np.ndarray, cursors: np.ndarray) -> np.ndarray:
        return cursors >= self.seq_floor[holdings]

    def covers_knowledge(self, holdings: np.ndarray, knowledge: np.ndarray) -> np.ndarray:
        return (knowledge >= self.floor[holdings]).all(axis=1)

    def entries(self) -> int:
        """Keys in every cache of the store now (warm ones included): the journal's live entries
        (it holds cached ones only: a trim keeps no other, and a change is above every floor)."""
        rows, _ = self.store.since(self.oldest())
        return int(rows.size + self.warm_entries.sum())

    def oldest(self) -> int:
        """Every cache entry changed after this shard version."""
        return int(self.seq_floor.min()) if self.seq_floor.size else 0

    def trim(self) -> None:
        """Every shard copy keeps its `capacity` newest keys: evict the rest, raising floors."""
        store = self.store
        rows, seqs = store.since(self.oldest())  # the cached keys (`entries`)
        holding = store.rows.holding[rows].astype(np.int64)  # indexes below: int64 indexes faster
        entries = np.bincount(holding, minlength=self.seq_floor.size)
        excess = np.maximum(entries + self.warm_entries - self.capacity, 0)
        warm_evicted = np.minimum(self.warm_entries, excess)
        if warm_evicted.any():  # the oldest: the warm keys, in counter order
            self.warm_entries -= warm_evicted
            self.floor[:, WARM_ORIGIN] = np.maximum(self.floor[:, WARM_ORIGIN], store.warm - self.warm_entries)
            self.seq_floor[warm_evicted > 0] = np.maximum(self.seq_floor[warm_evicted > 0], WARM_SEQ)
        evict = excess - warm_evicted
        if evict.any():
            order = np.argsort(holding, kind="stable")  # by holding, each in change order
            sorted_h = holding[order]
            first = np.searchsorted(sorted_h, sorted_h)  # where each entry's holding starts
            gone = order[np.arange(order.size) - first < evict[sorted_h]]
            np.maximum.at(self.seq_floor, holding[gone], seqs[gone])
            # a change leaves whole: its other keys (same shard version) go with the oldest
            gone = seqs <= self.seq_floor[holding]
            gone_h, gone_rows = holding[gone], rows[gone]
            np.maximum.at(self.floor, (gone_h, store.rows.origin[gone_rows]), store.rows.counter[gone_rows])
        kept = seqs > self.seq_floor[holding]  # the journal holds what the caches hold, no more
        store.journal.keep(rows[kept], seqs[kept], holding[kept])
        self.added = 0
