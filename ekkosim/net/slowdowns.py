"""Slowdowns: a server or a link k times slower for a while, short of failing (fault kinds
`slow_server` and `slow_link`, docs/faults.md). Its links keep 1/k of their nominal capacity,
held by the congestion schedule (where a congestion period holds a link lower, the lower wins);
flows keep their routes and go on at the new rates. A slow server's CPU, which only the sync
models, is the sync's to slow (`ekkosim.sync.faults`). Every strategy takes slowdowns.
"""

from __future__ import annotations

from collections.abc import Callable

from ekkosim.net.congestion import CongestionSchedule
from ekkosim.net.topology import Server, Topology
from ekkosim.schema import SlowLink, SlowServer

def slow_server_nic(congestion: CongestionSchedule, topology: Topology, fault: SlowServer, entry: dict) -> Callable[[], None]:
    """The server's NIC (both directions) at 1/`factor` of its capacity now; return how to restore it."""
    server = Server(fault.dc, fault.server)
    entry["target"] = str(server)
    return congestion.degrade(topology.nic_links(server), 1.0 / fault.factor)


def slow_link(congestion: CongestionSchedule, topology: Topology, fault: SlowLink, entry: dict) -> Callable[[], None]:
    """The link at 1/`factor` of its capacity now; return how to restore it."""
    return congestion.degrade(topology.links_of(fault.link), 1.0 / fault.factor)
