"""Helpers for the ps tests: stores in either layout, and a store's whole state read through its
public API (every key of every shard copy it holds, written or not)."""

from __future__ import annotations

import numpy as np

from ekkosim.ps.pull import Answer
from ekkosim.ps.store import Store, shard_keys

# dense_keys for each layout: a row for every key (DenseIndex), or rows for written keys only (KeyIndex)
LAYOUTS = {"dense": 2**22, "sparse": 0}


def make_store(model_keys: int, model_shards: int, shards, layout: str, cache: int | None = None,
               warm: int = 0, n_origins: int = 1) -> Store:
    shards = np.asarray(shards, dtype=np.int64)
    store = Store(model_keys, model_shards, shards=shards, replica=np.zeros(shards.size, dtype=np.int64),
                  n_origins=n_origins, cache_size=cache, warm_keys=warm, dense_keys=LAYOUTS[layout])
    assert store.dense == (layout == "dense")
    return store


def held_keys(store: Store, shards=None) -> np.ndarray:
    """Every key of the store's shards (or of `shards`, which it must hold), ascending."""
    shards = store.shards if shards is None else np.asarray(shards)
    keys = [shard + store.model_shards * np.arange(shard_keys(store.model_keys, store.model_shards, shard))
            for shard in shards.tolist()]
    return np.sort(np.concatenate(keys)) if keys else np.zeros(0, dtype=np.int64)


def state(store: Store, shards=None) -> tuple[np.ndarray, ...]:
    """(keys, time, origin, counter, value, high) of every key of the store's shards, by key."""
    keys = held_keys(store, shards)
    rows, time, origin, counter = store.versions(keys)
    high = np.zeros(keys.size, dtype=bool)
    high[rows >= 0] = store.rows.high[rows[rows >= 0]]
    return keys, time, origin.astype(np.int64), counter, store.values(keys), high


def same_state(a: Store, b: Store, shards=None) -> bool:
    """Same version, value and class for every key of `shards` (default: a's)."""
    shards = a.shards if shards is None else shards
    return all(np.array_equal(x, y) for x, y in zip(state(a, shards), state(b, shards)))


def sorted_keys(answer: Answer) -> list[int]:
    return sorted(answer.keys.tolist())


def answer_table(answer: Answer) -> tuple:
    """An answer as plain values, keys in (pair, key) order: equal for equal answers whatever the
    order a store's rows are in."""
    order = np.lexsort((answer.keys, answer.pair))
    per_key = tuple(np.asarray(column)[order].tolist() for column in (
        answer.pair, answer.keys, answer.time, answer.origin, answer.counter, answer.value, answer.high))
    return (per_key, answer.moved.tolist(), answer.version.tolist(), answer.knowledge.tolist(),
            answer.cache_entries, answer.scanned, answer.full_scans)
