"""A server's journal of changes: what its update caches hold, in change order, readable per
shard copy.

Each entry is (row, clock): a key's row changed at that clock (shard version), so the journal
is in clock order and "every change after clock c" is one of its tails. Each entry also links
to the previous entry of its shard copy (its *holding*), and each holding to its newest entry,
so "the changes of holding h after shard version c" is read from h's newest entry backwards,
costing what it returns. A pull asks the second question: its shards moved at very different
times, and the tail after the oldest of their cursors can be most of the journal when shards
are many and move rarely (the paper's regime).

An entry is stale once its row changed again (the row's `seq` is then newer than the entry's);
the reads (`since`, `of_holdings`) return the live entries only. The update cache
(`ekkosim.ps.update_cache`) trims the journal to its live, cached entries, and the store drops
the stale ones when the journal would grow (`drop_stale`), so the journal follows the rows
changed, not the changes.

The links and the read per holding (the backward walk, entry order, the stale test) are loops
compiled by Numba (`ekkosim.ps._kernels`), loaded as a simulation is built (`ekkosim.compiled`).
"""

from __future__ import annotations

import numpy as np

from ekkosim.arrays import GROWTH, with_room
from ekkosim.ps import kernels

MAX_ENTRIES = 2**31 - 1  # entries are numbered in int32


class Journal:
    """(row, clock) of the changes the update caches hold, in clock order, linked per holding."""

    def __init__(self, holdings: int) -> None:
        # rows and entries are numbered in int32 (a store's index holds at most 2^31 - 1 rows); the
        # readers hand rows out as int64: NumPy indexes with an int32 array through a cast that
        # costs each time (1 us for 30 rows against 0.2: `python -m benchmarks.calls`)
        self._rows = np.zeros(64, dtype=np.int32)
        self._seqs = np.zeros(64, dtype=np.int64)
        self._prev = np.zeros(64, dtype=np.int32)  # the previous entry of the same holding, -1 none
        self.newest = np.full(holdings, -1, dtype=np.int64)  # each holding's newest entry, -1 none
        self.n = 0

    @property
    def links(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
        """(newest, prev, seqs, rows, n): the arrays a compiled reader walks (`of_holdings`'s, and
        `ekkosim.ps._kernels.cached_answer`'s) and a compiled writer appends to where they have
        room (`appended` after: `ekkosim.ps._kernels.apply_versions`), valid until the next change."""
        return self.newest, self._prev, self._seqs, self._rows, self.n

    def append(self, rows: np.ndarray, holdings: np.ndarray, clock: int) -> None:
        """Rows of `holdings` (one per row) changed at `clock`."""
        end = self.n + rows.size
        if end > MAX_ENTRIES:
            raise OverflowError(f"a journal holds at most {MAX_ENTRIES:,} entries")
        self._reserve(end)
        kernels().append_entries(self._rows, self._seqs, self.newest, self._prev, rows,
                                 np.ascontiguousarray(holdings, dtype=np.int64), clock, self.n)
        self.n = end

    def appended(self, n: int) -> None:
        """A compiled writer appended the next `n` entries (`ekkosim.ps._kernels.append_entries`)."""
        self.n += n

    def _link(self, holdings: np.ndarray, start: int) -> None:
        """Link the entries from `start` on (of `holdings`, in order) after each holding's newest."""
        kernels().link_entries(self.newest, self._prev, np.ascontiguousarray(holdings, dtype=np.int64), start)

    def since(self, clock: int, seq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(rows, clocks) of the live entries (whose row's clock `seq[row]` is still theirs) after
        `clock`, in clock order."""
        seqs = self._seqs[: self.n]
        start = int(seqs.searchsorted(clock, side="right"))
        rows, seqs = self._rows[start : self.n].astype(np.int64), seqs[start:]
        live = seq[rows] == seqs
        return rows[live], seqs[live]

    def of_holdings(self, holdings: np.ndarray, after: np.ndarray, seq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(rows, which) of the live entries (whose row's clock `seq[row]` is still theirs) of each
        `holdings[j]` after `after[j]` (holdings distinct), in clock order; `which` is each
        entry's j."""
        return kernels().live_entries_after(self.newest, self._prev, self._seqs, self._rows,
                                            np.ascontiguousarray(seq, dtype=np.int64),
                                            np.ascontiguousarray(holdings, dtype=np.int64),
                                            np.ascontiguousarray(after, dtype=np.int64), self.n)

    def drop_stale(self, seq: np.ndarray, holding: np.ndarray, room: int) -> None:
        """Keep only the live entries, those whose row's clock `seq[row]` is still theirs (reads
        skip the others; `holding[row]` is a row's holding), and make room for `room` more entries
        and at least a quarter beyond: a drop that freed little would otherwise repeat at every
        append."""
        rows, seqs = self._rows[: self.n], self._seqs[: self.n]
        live = seq[rows] == seqs
        rows, seqs = rows[live], seqs[live]
        self.keep(rows, seqs, holding[rows])
        self._reserve(int((self.n + room) * GROWTH))

    def _reserve(self, need: int) -> None:
        """Room for `need` entries in all three arrays (`ekkosim.arrays.with_room`)."""
        if need > self._rows.size:
            for name in ("_rows", "_seqs", "_prev"):
                setattr(self, name, with_room(getattr(self, name), self.n, need))

    def keep(self, rows: np.ndarray, seqs: np.ndarray, holdings: np.ndarray) -> None:
        """Hold exactly these entries (clock order; `holdings` theirs) from now on."""
        self.n = rows.size
        self._rows[: self.n] = rows
        self._seqs[: self.n] = seqs
        self.newest[:] = -1
        self._link(holdings, 0)
