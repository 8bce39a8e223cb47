"""How ekkosim's loops are compiled by Numba: for the argument types they are declared with,
when their module is imported.

Numba compiles a loop without declared types at its first call, which on a cold cache (a fresh
checkout, CI) takes seconds, and the first call comes inside one of the run's events. Ctrl-C
waits for the event in hand to end (`ekkosim.kernel`), so it would wait for the compilation. A
loop declared with its types is compiled, or loaded from Numba's cache, when its module is
imported, which a simulation does as it is built (`ekkosim.simulation.Simulation`). A call with
other types is a TypeError, not a compilation in the middle of a run.

Only the modules of compiled loops import this one: importing Numba takes about a second,
which importing `ekkosim` should not cost.
"""

from __future__ import annotations

from collections.abc import Callable

import numba
import numpy as np
from numba import types

INT = types.int64  # a Python int, a count or an index
UINT64 = types.uint64


def array(dtype: type, written: bool = False, dims: int = 1) -> types.Array:
    """A C-contiguous array of `dtype` and `dims` dimensions; read-only unless the loop writes it
    or returns it (a read-only argument accepts writable arrays too, and a caller's read-only
    view is read as it is, not copied)."""
    return types.Array(numba.from_dtype(np.dtype(dtype)), dims, "C", readonly=not written)


def compiled(*arguments: types.Type) -> Callable[[Callable], Callable]:
    """A loop compiled for `arguments` at import, cached on disk (keyed by the source), and
    without the GIL."""
    return numba.njit([arguments], cache=True, nogil=True)
