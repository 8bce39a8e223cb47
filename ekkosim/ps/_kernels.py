"""A pull's and a write's per-shard and per-key loops, compiled by Numba (`ekkosim.compiled`):
what moved, the journal's live entries of what moved in entry order, a cursor answer from the
update caches whole (those entries, the lane's filter and the columns), new journal entries and
their links, the versions a store holds of keys, the rows an apply writes, the union of
knowledges, a write's counters, and a store's apply whole (those steps, the comparison of
versions and the new rows in the hash table). Each is a pass or two over its input, where NumPy
would make a temporary array, or a call, per step. (The apply's comparison of versions is
`ekkosim.ps.version.newer`'s rule with `&` and `|`, which evaluate both sides: no branch on
versions no predictor guesses, as on a dense store's applies of tens of thousands of keys.)

Numba's cache knows a compiled loop by its own file: `apply_versions` calls the hash table's
`place_missing` (`ekkosim.ps._probe`), whose code it holds compiled in, so an edit of
`_probe.py` must also change this file. `PROBE_SOURCE` does: the SHA-256 of `_probe.py`,
checked by `tests/ps/test_key_index.py`.
"""

from __future__ import annotations

import numpy as np

from ekkosim.compiled import INT, array, compiled
from ekkosim.ps._probe import place_missing

# SHA-256 of ekkosim/ps/_probe.py, whose loops those here hold compiled in (the docstring says why)
PROBE_SOURCE = "1ec86fd43a397427c937e6ae8a79c9343eee933c0ba55ef9c9682057ce9406a2"


@compiled(array(np.int64), array(np.int32), array(np.int64), array(np.int64), array(np.int64))
def entries_after(newest: np.ndarray, prev: np.ndarray, seqs: np.ndarray, holdings: np.ndarray,
                  after: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(positions, which) of the journal entries of each `holdings[j]` with a clock above
    `after[j]` (`ekkosim.ps.journal.Journal.of_holdings`): from the holding's newest entry, the
    links back to older ones while their clock is above the bound. Two passes, one counting and
    one filling, so the result is allocated once."""
    total = 0
    for j in range(holdings.size):
        i = newest[holdings[j]]
        while i >= 0 and seqs[i] > after[j]:
            total += 1
            i = prev[i]
    positions = np.empty(total, dtype=np.int64)
    which = np.empty(total, dtype=np.int64)
    k = 0
    for j in range(holdings.size):
        i = newest[holdings[j]]
        while i >= 0 and seqs[i] > after[j]:
            positions[k] = i
            which[k] = j
            k += 1
            i = prev[i]
    return positions, which


@compiled(array(np.int64, written=True), array(np.int64, written=True), INT)
def in_entry_order(positions: np.ndarray, which: np.ndarray, end: int) -> tuple[np.ndarray, np.ndarray]:
    """`positions` (distinct journal entries, all below `end`) ascending, each with its `which`:
    by marking them in the span from the smallest to `end` and reading it in order when they
    fill an eighth of it or more (a pull that brings much of the journal), else by sorting."""
    if positions.size == 0:
        return positions, which
    low = positions.min()
    span = end - low
    if span > 8 * positions.size:
        order = np.argsort(positions)
        return positions[order], which[order]
    slot = np.full(span, -1, dtype=np.int64)
    for k in range(positions.size):
        slot[positions[k] - low] = which[k]
    ordered = np.empty(positions.size, dtype=np.int64)
    ordered_which = np.empty(positions.size, dtype=np.int64)
    k = 0
    for i in range(span):
        if slot[i] >= 0:
            ordered[k] = low + i
            ordered_which[k] = slot[i]
            k += 1
    return ordered, ordered_which


@compiled(array(np.int64), array(np.int32), array(np.int64), array(np.int32), array(np.int64), array(np.int64),
          array(np.int64), INT)
def live_entries_after(newest: np.ndarray, prev: np.ndarray, seqs: np.ndarray, rows: np.ndarray,
                       row_seq: np.ndarray, holdings: np.ndarray, after: np.ndarray, end: int
                       ) -> tuple[np.ndarray, np.ndarray]:
    """(rows, which) of the live journal entries (of `end`) of each `holdings[j]` with a clock
    above `after[j]`, in entry order (`ekkosim.ps.journal.Journal.of_holdings`): an entry is live
    while its row's clock `row_seq[row]` is still the entry's."""
    positions, which = entries_after(newest, prev, seqs, holdings, after)
    positions, which = in_entry_order(positions, which, end)
    live_rows = np.empty(positions.size, dtype=np.int64)
    live_which = np.empty(positions.size, dtype=np.int64)
    k = 0
    for i in range(positions.size):
        row = rows[positions[i]]
        if row >= row_seq.size:  # (Numba checks no bounds)
            raise IndexError("a journal row beyond the rows' clocks")
        if row_seq[row] == seqs[positions[i]]:
            live_rows[k], live_which[k] = row, which[i]
            k += 1
    return live_rows[:k].copy(), live_which[:k].copy()


@compiled(array(np.int64), array(np.int64), array(np.int64), array(np.int64), array(np.int64), array(np.int64),
          array(np.int32), array(np.int64), array(np.int32), INT, array(np.int64), array(np.bool_), INT, array(np.int64),
          array(np.int64), array(np.float64), array(np.int16), array(np.int64), array(np.float64),
          array(np.int64, dims=2))
def cached_answer(moved: np.ndarray, theirs: np.ndarray, cursors: np.ndarray, version: np.ndarray,
                  seq_floor: np.ndarray, newest: np.ndarray, prev: np.ndarray, seqs: np.ndarray,
                  entry_rows: np.ndarray, end: int, row_seq: np.ndarray, row_high: np.ndarray, high_lane: int,
                  express: np.ndarray, row_keys: np.ndarray, row_time: np.ndarray, row_origin: np.ndarray,
                  row_counter: np.ndarray, row_value: np.ndarray, knowledge: np.ndarray):
    """A peer's answer to a cursor puller whose moved pairs (`moved`, of pairs to the peer's
    holdings `theirs`, cursors `cursors`) its update caches all cover (`seq_floor`), in one pass
    (`ekkosim.ps.pull.answer_cursor`): the live journal entries after each cursor, in entry order,
    kept by lane (the high lane's high-priority keys; with `express` cursors, the all lane's keys
    less the high-priority ones changed at or before them), and their columns; the moved pairs'
    shard versions and knowledge rows. Returns (covered, pair, keys, time, origin, counter, value,
    high, versions, knowledge, entries read); covered False, and nothing else, where a moved
    pair's cache does not cover its cursor (a full scan's business)."""
    if cursors.size != theirs.size or seq_floor.size != version.size or knowledge.shape[0] != version.size:
        raise ValueError("a cursor for each pair; a cache floor and a knowledge row for each holding")
    columns = (row_high.size, row_keys.size, row_time.size, row_origin.size, row_counter.size, row_value.size)
    for size in columns:
        if size != row_seq.size:
            raise ValueError("a value of each column for each row")
    m = moved.size
    holdings = np.empty(m, dtype=np.int64)
    after = np.empty(m, dtype=np.int64)
    covered = True
    for j in range(m):
        p = moved[j]
        if not (0 <= p < theirs.size and 0 <= theirs[p] < version.size):  # (Numba checks no bounds)
            raise IndexError("a moved pair beyond the pairs, or a holding beyond the peer's")
        holdings[j], after[j] = theirs[p], cursors[p]
        covered &= cursors[p] >= seq_floor[theirs[p]]
    if not covered or (express.size and express.size != cursors.size):
        nothing = np.zeros(0, dtype=np.int64)
        return (False, nothing, nothing, np.zeros(0), np.zeros(0, dtype=np.int16), nothing, np.zeros(0),
                np.zeros(0, dtype=np.bool_), nothing, np.zeros((0, knowledge.shape[1]), dtype=np.int64), 0)
    rows, which = live_entries_after(newest, prev, seqs, entry_rows, row_seq, holdings, after, end)
    n = rows.size
    pair = np.empty(n, dtype=np.int64)
    keys = np.empty(n, dtype=np.int64)
    time = np.empty(n, dtype=np.float64)
    origin = np.empty(n, dtype=np.int16)
    counter = np.empty(n, dtype=np.int64)
    value = np.empty(n, dtype=np.float64)
    high = np.empty(n, dtype=np.bool_)
    k = 0
    for i in range(n):  # (the lane's test is the same for every key; a kept key moves the end on)
        row, p = rows[i], moved[which[i]]
        h = row_high[row]
        if high_lane:
            keep = h
        elif express.size:
            keep = not (h & (row_seq[row] <= express[p]) & (express[p] > cursors[p]))
        else:
            keep = True
        pair[k], keys[k], time[k], origin[k] = p, row_keys[row], row_time[row], row_origin[row]
        counter[k], value[k], high[k] = row_counter[row], row_value[row], h
        k += keep
    versions = np.empty(m, dtype=np.int64)
    rows_known = np.empty((m, knowledge.shape[1]), dtype=np.int64)
    for j in range(m):
        versions[j] = version[holdings[j]]
        rows_known[j] = knowledge[holdings[j]]
    if k < n:  # (copies: the arrays answered hold only what they show)
        pair, keys, time, origin = pair[:k].copy(), keys[:k].copy(), time[:k].copy(), origin[:k].copy()
        counter, value, high = counter[:k].copy(), value[:k].copy(), high[:k].copy()
    return True, pair, keys, time, origin, counter, value, high, versions, rows_known, n


@compiled(array(np.int64, written=True), array(np.int32, written=True), array(np.int64), INT)
def link_entries(newest: np.ndarray, prev: np.ndarray, holdings: np.ndarray, start: int) -> None:
    """Link the journal entries `start + i` (of holding `holdings[i]`, in entry order) each after
    its holding's newest entry, which it becomes (`ekkosim.ps.journal.Journal`)."""
    for i in range(holdings.size):
        prev[start + i] = newest[holdings[i]]
        newest[holdings[i]] = start + i


@compiled(array(np.int32, written=True), array(np.int64, written=True), array(np.int64, written=True),
          array(np.int32, written=True), array(np.int64), array(np.int64), INT, INT)
def append_entries(entry_rows: np.ndarray, seqs: np.ndarray, newest: np.ndarray, prev: np.ndarray,
                   rows: np.ndarray, holdings: np.ndarray, clock: int, start: int) -> None:
    """Write the journal entries `start + i`: row `rows[i]` of holding `holdings[i]` changed at
    `clock`, each linked after its holding's newest entry, which it becomes
    (`ekkosim.ps.journal.Journal.append`; the caller makes room)."""
    if rows.size != holdings.size or start + rows.size > entry_rows.size or entry_rows.size != seqs.size:
        raise ValueError("a holding for each row, and room for the entries")
    for i in range(rows.size):
        if not 0 <= holdings[i] < newest.size:
            raise IndexError("a holding beyond the journal's")
        entry_rows[start + i], seqs[start + i] = rows[i], clock
    link_entries(newest, prev, holdings, start)


@compiled(array(np.int64), array(np.int64), array(np.float64), array(np.int16), array(np.int64), array(np.float64),
          array(np.bool_), INT, array(np.int32, written=True), array(np.float64, written=True),
          array(np.int16, written=True), array(np.int64, written=True), array(np.float64, written=True),
          array(np.int64, written=True), array(np.bool_, written=True), array(np.int64, written=True))
def write_rows(rows: np.ndarray, holdings: np.ndarray, time: np.ndarray, origin: np.ndarray, counter: np.ndarray,
               value: np.ndarray, high: np.ndarray, clock: int, row_holding: np.ndarray, row_time: np.ndarray,
               row_origin: np.ndarray, row_counter: np.ndarray, row_value: np.ndarray, row_seq: np.ndarray,
               row_high: np.ndarray, version: np.ndarray) -> None:
    """Write into each row `rows[i]` its key's new version (`holdings[i]`, `time[i]`, ...,
    changed at `clock`), and move each holding's shard version to `clock`
    (`ekkosim.ps.store.Store.apply`): one pass where NumPy makes a scatter per column."""
    n = rows.size
    for size in (holdings.size, time.size, origin.size, counter.size, value.size, high.size):
        if size != n:  # (Numba checks no bounds)
            raise ValueError("a holding, version, value and class for each row")
    for size in (row_time.size, row_origin.size, row_counter.size, row_value.size, row_seq.size, row_high.size):
        if size != row_holding.size:
            raise ValueError("a value of each column for each row")
    for i in range(n):
        row, h = rows[i], holdings[i]
        if not (0 <= row < row_holding.size and 0 <= h < version.size):
            raise IndexError("a row beyond the store's rows, or a holding beyond its holdings")
        row_holding[row], row_time[row], row_origin[row], row_counter[row] = h, time[i], origin[i], counter[i]
        row_value[row], row_seq[row], row_high[row] = value[i], clock, high[i]
        version[h] = clock


@compiled(array(np.int64), array(np.int64), array(np.int64))
def moved_pairs(version: np.ndarray, theirs: np.ndarray, cursors: np.ndarray) -> np.ndarray:
    """The pairs p whose peer shard version `version[theirs[p]]` is not the cursor `cursors[p]`."""
    moved = np.empty(theirs.size, dtype=np.int64)
    k = 0
    for p in range(theirs.size):
        if version[theirs[p]] != cursors[p]:
            moved[k] = p
            k += 1
    return moved[:k].copy()


@compiled(array(np.int64), array(np.int64), array(np.int64), array(np.int64), INT, INT, array(np.float64),
          array(np.int16), array(np.int64))
def held_versions(rows: np.ndarray, keys: np.ndarray, shards: np.ndarray, warm: np.ndarray, model_shards: int,
                  warm_origin: int, row_time: np.ndarray, row_origin: np.ndarray, row_counter: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(time, origin, counter) a store holds of each of `keys` (`ekkosim.ps.store.Store.versions`):
    its row's (`rows[i]`), or for a key without a row (-1) the base version: the warm-start
    version (time 0, `warm_origin`, counter local + 1) if the key's local number is below its
    shard's warm count (`warm[h]` of the holding h of shard `shards[h]`), else none (zeros)."""
    n = keys.size
    time = np.empty(n, dtype=np.float64)
    origin = np.empty(n, dtype=np.int16)
    counter = np.empty(n, dtype=np.int64)
    for i in range(n):
        row = rows[i]
        if row >= row_time.size:  # a dense store's row of a key it does not hold (Numba checks no bounds)
            raise IndexError("a row beyond the store's rows")
        if row >= 0:
            time[i] = row_time[row]
            origin[i] = row_origin[row]
            counter[i] = row_counter[row]
            continue
        time[i] = 0.0
        origin[i] = 0
        counter[i] = 0
        shard = keys[i] % model_shards
        h = np.searchsorted(shards, shard)
        local = keys[i] // model_shards
        if h < shards.size and shards[h] == shard and local < warm[h]:
            origin[i] = warm_origin
            counter[i] = local + 1
    return time, origin, counter


@compiled(array(np.int64, written=True, dims=2), array(np.int64), INT)
def next_counters(knowledge: np.ndarray, holdings: np.ndarray, origin: int) -> np.ndarray:
    """The counters of `origin` that a write of keys of `holdings[i]` (one per key, in write
    order) takes: each holding's next ones, in order; its knowledge of `origin` moves past them."""
    if not 0 <= origin < knowledge.shape[1]:  # (Numba checks no bounds)
        raise IndexError("an origin beyond the store's knowledge")
    counters = np.empty(holdings.size, dtype=np.int64)
    for i in range(holdings.size):
        if not 0 <= holdings[i] < knowledge.shape[0]:
            raise IndexError("a holding beyond the store's")
        knowledge[holdings[i], origin] += 1
        counters[i] = knowledge[holdings[i], origin]
    return counters


@compiled(array(np.int64, written=True, dims=2), array(np.int64), array(np.int64, dims=2))
def merge_knowledge(knowledge: np.ndarray, holdings: np.ndarray, theirs: np.ndarray) -> np.ndarray:
    """Take into each `knowledge[holdings[j]]` (holdings distinct) the union with `theirs[j]`
    (the larger of each entry); return the holdings whose knowledge grew, in order."""
    if theirs.shape[0] != holdings.size or theirs.shape[1] != knowledge.shape[1]:  # (Numba checks no bounds)
        raise ValueError("a knowledge row for each holding, as wide as the store's")
    grown = np.empty(holdings.size, dtype=np.int64)
    k = 0
    for j in range(holdings.size):
        h = holdings[j]
        if not 0 <= h < knowledge.shape[0]:
            raise IndexError("a holding beyond the store's")
        more = False
        for o in range(knowledge.shape[1]):
            if theirs[j, o] > knowledge[h, o]:
                knowledge[h, o] = theirs[j, o]
                more = True
        if more:
            grown[k] = h
            k += 1
    return grown[:k].copy()


@compiled(array(np.int64, written=True), array(np.int64), array(np.int64), array(np.float64), array(np.int16),
          array(np.int64), array(np.float64), array(np.bool_), array(np.int64), array(np.int64, dims=2), INT,
          array(np.int64), array(np.int64), INT, INT, array(np.int32, written=True), array(np.int64, written=True),
          INT, INT, array(np.int32, written=True), array(np.float64, written=True), array(np.int16, written=True),
          array(np.int64, written=True), array(np.float64, written=True), array(np.int64, written=True),
          array(np.bool_, written=True), array(np.int64, written=True), array(np.int64, written=True, dims=2),
          INT, array(np.int32, written=True), array(np.int64, written=True), array(np.int64, written=True),
          array(np.int32, written=True), INT)
def apply_versions(rows: np.ndarray, holdings: np.ndarray, keys: np.ndarray, time: np.ndarray, origin: np.ndarray,
                   counter: np.ndarray, value: np.ndarray, high: np.ndarray, knowledge_of: np.ndarray,
                   their_knowledge: np.ndarray, clock: int, shards: np.ndarray, warm: np.ndarray, model_shards: int,
                   warm_origin: int, slots: np.ndarray, row_keys: np.ndarray, bits: int, n_rows: int,
                   row_holding: np.ndarray, row_time: np.ndarray, row_origin: np.ndarray, row_counter: np.ndarray,
                   row_value: np.ndarray, row_seq: np.ndarray, row_high: np.ndarray, version: np.ndarray,
                   knowledge: np.ndarray, journaled: int, entry_rows: np.ndarray, seqs: np.ndarray,
                   newest: np.ndarray, prev: np.ndarray, n_entries: int):
    """A store's apply (`ekkosim.ps.store.Store.apply`) in one call where it took a dozen: the
    versions held of `keys` (their `rows`, -1 where a key has none), which given ones are newer
    (`take`), the union of knowledges for `knowledge_of` (rows of `their_knowledge`), the store's
    clock moved on if either changed anything, the taken keys without a row given the next rows
    (from `n_rows` on, in the hash table `slots` of `row_keys`; a dense store passes no table:
    every key has a row) and written into `rows`, their rows written, and with `journaled` their
    journal entries from `n_entries` on if the journal has room for them.

    Returns (need, clock, rows added, keys taken, appended, take, and the versions held before:
    time, origin, counter of each key). `need` > 0: the rows (and the table) lack room for the
    `need` taken keys without a row, and nothing was written: make room and call again. Else
    `appended` says whether the journal entries were written (where the journal lacked room, the
    caller appends them). Every input is checked before anything is written."""
    n = keys.size
    for size in (holdings.size, time.size, origin.size, counter.size, value.size, high.size, rows.size):
        if size != n:  # (Numba checks no bounds)
            raise ValueError("a version for each key, with its holding, value and class")
    for size in (row_time.size, row_origin.size, row_counter.size, row_value.size, row_seq.size, row_high.size):
        if size != row_holding.size or n_rows > size:
            raise ValueError("a value of each column for each row")
    if seqs.size != entry_rows.size or prev.size != entry_rows.size or n_entries > entry_rows.size \
            or newest.size != version.size or knowledge.shape[0] != version.size:
        raise ValueError("a clock and a link for each journal entry; a newest entry and knowledge for each holding")
    if knowledge_of.size and (their_knowledge.shape[0] != knowledge_of.size
                              or their_knowledge.shape[1] != knowledge.shape[1]):
        raise ValueError("a knowledge row for each holding, as wide as the store's")
    for j in range(knowledge_of.size):
        if not 0 <= knowledge_of[j] < knowledge.shape[0]:
            raise IndexError("a holding beyond the store's")
    for i in range(n):
        if not (rows[i] < n_rows and 0 <= holdings[i] < version.size):
            raise IndexError("a row beyond the store's rows, or a holding beyond its holdings")
    held_time, held_origin, held_counter = held_versions(rows, keys, shards, warm, model_shards, warm_origin,
                                                         row_time, row_origin, row_counter)
    take = np.empty(n, dtype=np.bool_)
    taken = 0
    missing = 0  # taken keys without a row
    for i in range(n):  # newest time wins; ties to the larger origin, then counter (`ekkosim.ps.version`)
        t, ht = time[i], held_time[i]
        o, ho = origin[i], held_origin[i]
        take[i] = (t > ht) | ((t == ht) & ((o > ho) | ((o == ho) & (counter[i] > held_counter[i]))))
        taken += take[i]
        missing += take[i] & (rows[i] < 0)
    if missing and not slots.size:
        raise IndexError("a key without a row in a store that has a row for every key")
    end = n_rows + missing
    if missing and (end > row_holding.size or end > row_keys.size or 2 * end > slots.size):
        return missing, clock, 0, 0, False, take, held_time, held_origin, held_counter
    grown = merge_knowledge(knowledge, knowledge_of, their_knowledge) if knowledge_of.size else knowledge_of
    if taken or grown.size:
        clock += 1
        for h in grown:
            version[h] = clock
    added, appended = 0, False
    if taken:
        kept = rows
        if taken < n:  # the taken keys' columns, in one pass
            kept, t_holdings, t_keys, t_time = (np.empty(taken, dtype=np.int64), np.empty(taken, dtype=np.int64),
                                                np.empty(taken, dtype=np.int64), np.empty(taken))
            t_origin, t_counter = np.empty(taken, dtype=np.int16), np.empty(taken, dtype=np.int64)
            t_value, t_high = np.empty(taken), np.empty(taken, dtype=np.bool_)
            k = 0
            for i in range(n):
                if take[i]:
                    kept[k], t_holdings[k], t_keys[k], t_time[k] = rows[i], holdings[i], keys[i], time[i]
                    t_origin[k], t_counter[k], t_value[k], t_high[k] = origin[i], counter[i], value[i], high[i]
                    k += 1
            holdings, keys, time, origin, counter, value, high = (t_holdings, t_keys, t_time, t_origin, t_counter,
                                                                  t_value, t_high)
        if missing:
            added = place_missing(slots, row_keys, bits, n_rows, keys, kept)
            if taken < n:  # the new rows into `rows` too
                k = 0
                for i in range(n):
                    if take[i]:
                        rows[i] = kept[k]
                        k += 1
        write_rows(kept, holdings, time, origin, counter, value, high, clock, row_holding, row_time, row_origin,
                   row_counter, row_value, row_seq, row_high, version)
        appended = journaled != 0 and n_entries + taken <= entry_rows.size
        if appended:
            append_entries(entry_rows, seqs, newest, prev, kept, holdings, clock, n_entries)
    return 0, clock, added, taken, appended, take, held_time, held_origin, held_counter
