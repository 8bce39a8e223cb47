"""Parameter-server state and Ekko's sync protocol, as plain functions and classes over arrays.

No SimPy here: `ekkosim.sync` wires these to time and the network. Everything is vectorised
over keys, and each rule has a unit test on tiny arrays.
"""
