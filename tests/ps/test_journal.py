"""The journal read per shard copy: a holding's entries after a bound, newest links followed back."""

import numpy as np
import pytest

from ekkosim.ps import journal as journal_module
from ekkosim.ps.journal import Journal


def _journal() -> Journal:
    """Holdings 0-2; clock 1: rows 10 (h0), 11 (h1), 12 (h0); clock 2: row 13 (h2); clock 3:
    rows 10 (h0, again) and 14 (h1)."""
    journal = Journal(3)
    journal.append(np.array([10, 11, 12]), np.array([0, 1, 0]), 1)
    journal.append(np.array([13]), np.array([2]), 2)
    journal.append(np.array([10, 14]), np.array([0, 1]), 3)
    return journal


def _read(journal: Journal, holdings, after, seq=None):
    """(row, clock, which) of the live entries read; `seq`: each row's last clock (default: that
    of the rows of `_journal`, 15 appended at 4 by a test)."""
    if seq is None:
        seq = np.zeros(16, dtype=np.int64)
        seq[[10, 11, 12, 13, 14, 15]] = [3, 1, 1, 2, 3, 4]
    rows, which = journal.of_holdings(np.array(holdings), np.array(after), seq)
    return list(zip(rows.tolist(), seq[rows].tolist(), which.tolist()))


def test_a_holdings_entries_after_its_bound_in_clock_order():
    journal = _journal()
    assert journal.newest.tolist() == [4, 5, 3]  # entry positions
    # h0 after 0: rows 10 and 12 at clock 1, 10 again at 3: the entry of 10 at 1 is stale
    assert _read(journal, [0], [0]) == [(12, 1, 0), (10, 3, 0)]
    # each holding its own bound; which names the position in the request
    assert _read(journal, [1, 0, 2], [1, 1, 2]) == [(10, 3, 1), (14, 3, 0)]
    assert _read(journal, [2, 1], [0, 0]) == [(11, 1, 1), (13, 2, 0), (14, 3, 1)]
    assert _read(journal, [], []) == []


def test_the_tail_after_a_clock_is_every_holdings():
    seq = np.zeros(15, dtype=np.int64)
    seq[[10, 11, 12, 13, 14]] = [3, 1, 1, 2, 3]
    rows, seqs = _journal().since(1, seq)
    assert rows.tolist() == [13, 10, 14] and seqs.tolist() == [2, 3, 3]
    seq[13] = 4  # row 13 changed again, in an entry not in this journal: its entry is stale
    assert _journal().since(0, seq)[0].tolist() == [11, 12, 10, 14]


def test_keeping_entries_relinks_them():
    journal = _journal()
    journal.keep(np.array([12, 13, 10]), np.array([1, 2, 3]), np.array([0, 2, 0]))
    assert journal.newest.tolist() == [2, -1, 1]
    assert _read(journal, [0, 1, 2], [0, 0, 0]) == [(12, 1, 0), (13, 2, 2), (10, 3, 0)]
    journal.append(np.array([15]), np.array([1]), 4)  # appends link after the kept entries
    assert _read(journal, [1, 0], [0, 1]) == [(10, 3, 1), (15, 4, 0)]


def test_growth_keeps_the_links():
    journal = Journal(2)
    for clock in range(1, 101):  # past the initial capacity of 64 entries
        journal.append(np.array([clock]), np.array([clock % 2]), clock)
    assert [r for r, _, _ in _read(journal, [1], [90], np.arange(101))] == [91, 93, 95, 97, 99]


def test_reads_equal_a_scan_of_every_entry_few_or_many():
    """Random journals read for one holding (few of the entries: sorted) and for most holdings
    (many of them: marked in order) give exactly the live entries a scan of the whole journal finds."""
    rng = np.random.default_rng(7)
    for holdings in (2, 50, 400):
        journal, entries, seq = Journal(holdings), [], np.zeros(10**4, dtype=np.int64)
        for clock in range(1, 200):
            owners = rng.integers(0, holdings, rng.integers(1, 20))
            rows = rng.integers(0, seq.size, owners.size)
            journal.append(rows, owners, clock)
            seq[rows] = clock
            entries += [(int(r), clock, int(h)) for r, h in zip(rows, owners)]
        for asked in (rng.choice(holdings, 1, replace=False), rng.permutation(holdings)[: max(1, holdings * 3 // 4)]):
            after = rng.integers(0, 200, asked.size)
            bound = dict(zip(asked.tolist(), after.tolist()))
            j = {h: i for i, h in enumerate(asked.tolist())}
            expected = [(r, c, j[h]) for r, c, h in entries if h in bound and c > bound[h] and c == seq[r]]
            assert _read(journal, asked, after, seq) == expected


def test_a_journal_refuses_more_entries_than_int32_can_number(monkeypatch):
    journal = _journal()  # 6 entries
    monkeypatch.setattr(journal_module, "MAX_ENTRIES", 7)
    journal.append(np.array([20]), np.array([0]), 4)
    with pytest.raises(OverflowError, match="at most 7 entries"):
        journal.append(np.array([20]), np.array([0]), 4)
    assert journal.n == 7
