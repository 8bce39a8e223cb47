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
readers skip stale entries. The update cache (`ekkosim.ps.update_cache`) trims the journal to
its live, cached entries.

The links and the backward walk are loops compiled by Numba, imported on first use
(`ekkosim.ps._kernels`).
"""

from __future__ import annotations

import numpy as np


def _kernels():
    """The compiled loops (`ekkosim.ps._kernels`), imported on first use: see the module's docstring."""
    from ekkosim.ps import _kernels

    return _kernels


class Journal:
    """(row, clock) of the changes the update caches hold, in clock order, linked per holding."""

    def __init__(self, holdings: int) -> None:
        self._rows = np.zeros(64, dtype=np.int64)
        self._seqs = np.zeros(64, dtype=np.int64)
        self._prev = np.zeros(64, dtype=np.int64)  # the previous entry of the same holding, -1 none
        self.newest = np.full(holdings, -1, dtype=np.int64)  # each holding's newest entry, -1 none
        self.n = 0
        self.added = 0  # entries appended since the last trim

    def append(self, rows: np.ndarray, holdings: np.ndarray, clock: int) -> None:
        """Rows of `holdings` (one per row) changed at `clock`."""
        end = self.n + rows.size
        if end > self._rows.size:
            size = max(2 * self._rows.size, end)
            for name in ("_rows", "_seqs", "_prev"):  # entries from n on are written before read
                grown = np.empty(size, dtype=np.int64)
                grown[: self.n] = getattr(self, name)[: self.n]
                setattr(self, name, grown)
        self._rows[self.n : end] = rows
        self._seqs[self.n : end] = clock
        self._link(holdings, self.n)
        self.n = end
        self.added += rows.size

    def _link(self, holdings: np.ndarray, start: int) -> None:
        """Link the entries from `start` on (of `holdings`, in order) after each holding's newest."""
        _kernels().link_entries(self.newest, self._prev, np.ascontiguousarray(holdings, dtype=np.int64), start)

    def since(self, clock: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, clocks) of the entries after `clock`, stale ones too, in clock order."""
        seqs = self._seqs[: self.n]
        start = int(seqs.searchsorted(clock, side="right"))
        return self._rows[start : self.n], seqs[start:]

    def of_holdings(self, holdings: np.ndarray, after: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rows, clocks, which) of the entries of each `holdings[j]` after `after[j]` (holdings
        distinct), stale ones too, in clock order; `which` is each entry's j."""
        kernels = _kernels()
        positions, which = kernels.entries_after(self.newest, self._prev, self._seqs,
                                                 np.ascontiguousarray(holdings, dtype=np.int64),
                                                 np.ascontiguousarray(after, dtype=np.int64))
        positions, which = kernels.in_entry_order(positions, which, self.n)  # entry order is clock order
        return self._rows[positions], self._seqs[positions], which

    def keep(self, rows: np.ndarray, seqs: np.ndarray, holdings: np.ndarray) -> None:
        """Hold exactly these entries (clock order; `holdings` theirs) from now on."""
        self.n = rows.size
        self._rows[: self.n] = rows
        self._seqs[: self.n] = seqs
        self.newest[:] = -1
        self._link(holdings, 0)
        self.added = 0
