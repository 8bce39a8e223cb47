"""Parameter-server state and Ekko's sync protocol, as plain functions and classes over arrays.

No SimPy here: `ekkosim.sync` wires these to time and the network. Everything is vectorised
over keys, and each rule has a unit test on tiny arrays.
"""

from functools import cache


@cache
def kernels():
    """The compiled loops of a pull (`ekkosim.ps._kernels`), imported on first use (importing
    Numba takes about a second, which importing `ekkosim` should not cost); compiled, or loaded
    from Numba's cache, as they are (`ekkosim.compiled`). Cached: an import statement costs a
    microsecond each time, and the pulls of a run call the loops millions of times."""
    from ekkosim.ps import _kernels

    return _kernels


@cache
def probes():
    """The hash table's compiled probes (`ekkosim.ps._probe`), imported as `kernels`."""
    from ekkosim.ps import _probe

    return _probe
