"""The network: a flow-level model (max-min fair sharing), the topology, congestion and background traffic."""

from functools import cache


@cache
def kernels():
    """The compiled loops (`ekkosim.net._fill`), imported on first use (importing Numba takes
    about a second, which importing `ekkosim` should not cost); compiled, or loaded from
    Numba's cache, as they are (`ekkosim.compiled`)."""
    from ekkosim.net import _fill

    return _fill
