"""Where a whole model's bytes live: striped contiguously over a DC's parameter servers.

Server i of n holds bytes [i*S/n, (i+1)*S/n) of a model of S bytes. Moving a model between
two DCs is then a set of (sender, receiver, bytes) portions: the overlaps of the two stripings.
A chunk belongs to the server whose stripe holds its first byte.
"""

from __future__ import annotations

import numpy as np


def portions(size_bytes: float, n_src: int, n_dst: int) -> list[tuple[int, int, int]]:
    """(sender index, receiver index, bytes) for every non-empty overlap of the two stripings."""
    total = int(size_bytes)
    src_cuts = [total * i // n_src for i in range(n_src + 1)]
    dst_cuts = [total * j // n_dst for j in range(n_dst + 1)]
    result = []
    i = j = 0
    while i < n_src and j < n_dst:
        lo = max(src_cuts[i], dst_cuts[j])
        hi = min(src_cuts[i + 1], dst_cuts[j + 1])
        if hi > lo:
            result.append((i, j, hi - lo))
        if src_cuts[i + 1] <= dst_cuts[j + 1]:
            i += 1
        else:
            j += 1
    return result


def chunks(size_bytes: float, chunk_bytes: float) -> np.ndarray:
    """Sizes of the chunks of a model: all `chunk_bytes` but the last, which holds the rest."""
    count = max(1, int(np.ceil(size_bytes / chunk_bytes)))
    sizes = np.full(count, float(chunk_bytes))
    sizes[-1] = size_bytes - chunk_bytes * (count - 1)
    return sizes


def chunk_owners(sizes: np.ndarray, n_servers: int) -> np.ndarray:
    """Index of the server whose stripe holds each chunk's first byte."""
    total = float(sizes.sum())
    starts = np.concatenate(([0.0], np.cumsum(sizes)[:-1]))
    return np.minimum((starts * n_servers // total).astype(np.int64), n_servers - 1)
