"""The physical network: data centers, their servers, and the WAN graph, as links and routes.

Each parameter server has a NIC with a transmit and a receive link; each DC has a WAN uplink
and downlink; each WAN edge is full duplex (one link per direction). A route between two
servers of one DC is (sender NIC tx, receiver NIC rx) with the DC's LAN latency; between DCs
it is (sender tx, source uplink, the WAN links of the lowest-latency path, destination downlink,
receiver rx) with the sum of the WAN links' latencies. Scenarios give bandwidths in bits per
second; links take bytes per second.

With `network.routing: live`, a WAN link that fails or is repaired (`reroute`) moves the routes
between DCs onto the lowest-latency path over the WAN links that work (each direction on its
own); where none is left, the nominal path stays, and its flows fail. With `fixed` (SimGrid's
way), routes never change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import networkx as nx

from ekkosim.net.flows import Network, Route
from ekkosim.net.wan import wan_graph
from ekkosim.schema import Scenario, parse_link_ref


@dataclass(frozen=True, order=True)
class Server:
    """A host with a NIC: a parameter server (`kind` "ps") or a trainer, by DC and index."""

    dc: str
    index: int
    kind: str = "ps"
    # Servers key the dicts a pull reads many times over (routes, cores, stores): their hash is
    # computed once, as the dataclass would compute it (from the fields compared).
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((self.dc, self.index, self.kind)))

    def __hash__(self) -> int:
        return self._hash

    def __reduce__(self):  # built anew where unpickled: a str's hash differs between processes
        return Server, (self.dc, self.index, self.kind)

    def __str__(self) -> str:
        return f"{self.dc}/{self.kind}{self.index}"


class Topology:
    """Installs a scenario's links into a Network and answers routes between servers and DCs."""

    def __init__(self, scenario: Scenario, network: Network):
        self.network = network
        self.datacenters = {dc.name: dc for dc in scenario.topology.datacenters}
        self.graph = wan_graph(scenario)
        bytes_per_s = 1.0 / 8.0  # links carry bytes per second; scenarios give bits per second
        hosts = [(Server(dc.name, i), dc.nic) for dc in scenario.topology.datacenters for i in range(dc.servers)]
        if scenario.strategy_section.trainers:
            origin = scenario.training_dc.name
            hosts += [(Server(origin, i, "trainer"), scenario.workload.trainer_nic) for i in range(scenario.workload.trainers)]
        for host, nic in hosts:
            network.add_link(f"{host}/tx", nic * bytes_per_s)
            network.add_link(f"{host}/rx", nic * bytes_per_s)
        for dc in scenario.topology.datacenters:
            for kind in ("uplink", "downlink"):
                capacity = getattr(dc, kind)
                network.add_link(f"{dc.name}/{kind}", math.inf if capacity is None else capacity * bytes_per_s)
        for a, b, attrs in self.graph.edges(data=True):
            for src, dst in ((a, b), (b, a)):
                network.add_link(f"wan/{src}->{dst}", attrs["bandwidth_bps"] * bytes_per_s, attrs["latency_s"])
        self._routes: dict[tuple, Route] = {}  # by (Server, Server) and by (DC, DC)
        self.live_routing = scenario.network.routing == "live"
        self._down: set[tuple[str, str]] = set()  # WAN hops (from, to) whose link is down, with live routing

    def reroute(self) -> None:
        """A link failed or was repaired: with live routing, routes between DCs avoid the WAN links
        down from now on."""
        if not self.live_routing:
            return
        down = {(a, b) for u, v in self.graph.edges() for a, b in ((u, v), (v, u))
                if not self.network.is_up(self.network.link_id(f"wan/{a}->{b}"))}
        if down != self._down:
            self._down = down
            self._routes.clear()

    def wan_path(self, src_dc: str, dst_dc: str) -> list[str]:
        """DCs and transit nodes on the lowest-latency WAN path (ties: networkx's stable order),
        over the working WAN links if some are down (none left: the nominal path)."""
        if self._down:
            down = self._down
            try:  # networkx calls the weight as (from, to, edge) in the direction it walks
                return nx.shortest_path(self.graph, src_dc, dst_dc,
                                        weight=lambda a, b, edge: None if (a, b) in down else edge["latency_s"])
            except nx.NetworkXNoPath:
                pass
        try:
            return nx.shortest_path(self.graph, src_dc, dst_dc, weight="latency_s")
        except nx.NetworkXNoPath:
            raise ValueError(f"no WAN path from {src_dc} to {dst_dc}") from None

    def route(self, src: Server, dst: Server) -> Route:
        """The route from one server's NIC to another's."""
        key = (src, dst)
        route = self._routes.get(key)
        if route is None:
            link = self.network.link_id
            tx, rx = link(f"{src}/tx"), link(f"{dst}/rx")
            if src.dc == dst.dc:
                route = self.network.route((tx, rx), self.datacenters[src.dc].lan_latency)
            else:
                between = self.dc_route(src.dc, dst.dc)  # one path search per DC pair
                route = self.network.route((tx, *between.links, rx), between.latency_s)
            self._routes[key] = route
        return route

    def dc_route(self, src_dc: str, dst_dc: str) -> Route:
        """The route from one DC's WAN egress to another's ingress (no server NICs)."""
        key = (src_dc, dst_dc)
        if key not in self._routes:
            path = self.wan_path(src_dc, dst_dc)
            hops = list(zip(path, path[1:]))
            link = self.network.link_id
            wan = [link(f"wan/{u}->{v}") for u, v in hops]
            latency = sum(self.graph.edges[u, v]["latency_s"] for u, v in hops)
            links = (link(f"{src_dc}/uplink"), *wan, link(f"{dst_dc}/downlink"))
            self._routes[key] = self.network.route(links, latency)
        return self._routes[key]

    def nic_links(self, server: Server) -> list[int]:
        """The transmit and receive links of `server`'s NIC."""
        return [self.network.link_id(f"{server}/{side}") for side in ("tx", "rx")]

    def links_of(self, ref: str) -> list[int]:
        """Link ids named by a congestion reference (`uplink:DC`, `wan:A->B`, `wan:A<->B`)."""
        kind, ends, both = parse_link_ref(ref)
        if kind != "wan":
            return [self.network.link_id(f"{ends[0]}/{kind}")]
        a, b = ends
        if not self.graph.has_edge(a, b):
            raise ValueError(f"no WAN link between {a} and {b}")
        names = [f"wan/{a}->{b}"] + ([f"wan/{b}->{a}"] if both else [])
        return [self.network.link_id(name) for name in names]
