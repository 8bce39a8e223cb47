"""The WAN as a graph: data centers and transit nodes, edges with latency and bandwidth.

Plain networkx, no simulation: the scenario loader uses it to check that every DC can be
reached, and the topology builds links and routes from it. Bandwidths here are bits per second.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import networkx as nx

from ekkosim.input_file import read_bytes
from ekkosim.schema import Scenario
from ekkosim.units import shown

SPEED_IN_FIBRE_M_PER_S = 2.0e8  # about 2/3 of the speed of light
EARTH_RADIUS_M = 6.371e6
MAX_GRAPHML_BYTES = 64 * 2**20  # the Internet Topology Zoo's largest file is under 1 MB


def _great_circle_m(a: dict, b: dict) -> float:
    lat1, lon1, lat2, lon2 = (math.radians(float(x)) for x in (a["Latitude"], a["Longitude"], b["Latitude"], b["Longitude"]))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


def read_graphml(path: Path) -> nx.Graph:
    """A WAN graph from GraphML: nodes named by their `label` (else id), edges with optional
    `latency_s` (else from node coordinates) and `bandwidth_bps` (else LinkSpeedRaw, else unset)."""
    try:
        raw = nx.read_graphml(io.BytesIO(read_bytes(path, MAX_GRAPHML_BYTES)))
    except (nx.NetworkXError, SyntaxError) as err:  # ElementTree's ParseError is a SyntaxError
        raise ValueError(f"not GraphML: {err}") from None
    names = {node: str(attrs.get("label", node)) for node, attrs in raw.nodes(data=True)}
    seen: dict[str, str] = {}
    for node, name in names.items():  # a DC is found by its label: two nodes with one label are two candidates
        if name in seen:
            raise ValueError(f"nodes {shown(seen[name])} and {shown(node)} have the same label {shown(name)}")
        seen[name] = node
    graph = nx.Graph()
    graph.add_nodes_from(names[n] for n in raw.nodes)
    for u, v, attrs in raw.edges(data=True):
        if u == v:
            continue
        edge = {}
        if "latency_s" in attrs:
            edge["latency_s"] = float(attrs["latency_s"])
        elif all(k in raw.nodes[n] for n in (u, v) for k in ("Latitude", "Longitude")):
            edge["latency_s"] = _great_circle_m(raw.nodes[u], raw.nodes[v]) / SPEED_IN_FIBRE_M_PER_S
        for key in ("bandwidth_bps", "LinkSpeedRaw"):
            if key in attrs:
                edge["bandwidth_bps"] = float(attrs[key])
                break
        # a bad value here would only show once the simulator runs, as nonsense or a crash
        if not (math.isfinite(edge.get("latency_s", 0.0)) and edge.get("latency_s", 0.0) >= 0):
            raise ValueError(f"edge {names[u]}-{names[v]}: latency_s must be finite and >= 0, got {edge['latency_s']!r}")
        if not (math.isfinite(edge.get("bandwidth_bps", 1.0)) and edge.get("bandwidth_bps", 1.0) > 0):
            raise ValueError(f"edge {names[u]}-{names[v]}: bandwidth must be finite and > 0, got {edge['bandwidth_bps']!r}")
        graph.add_edge(names[u], names[v], **edge)
    return graph


def wan_graph(scenario: Scenario) -> nx.Graph:
    """The WAN as an undirected graph; every edge has `latency_s` and `bandwidth_bps`."""
    topology = scenario.topology
    default = {"latency_s": topology.wan.latency, "bandwidth_bps": topology.wan.bandwidth}
    graph = nx.Graph()
    graph.add_nodes_from(dc.name for dc in topology.datacenters)
    if scenario.graphml_path is not None:
        for u, v, attrs in read_graphml(scenario.graphml_path).edges(data=True):
            graph.add_edge(u, v, **{**default, **attrs})
    elif topology.wan.mesh:
        names = [dc.name for dc in topology.datacenters]
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                graph.add_edge(a, b, **default)
    for link in topology.links:
        a, b = link.between
        graph.add_edge(
            a,
            b,
            latency_s=default["latency_s"] if link.latency is None else link.latency,
            bandwidth_bps=default["bandwidth_bps"] if link.bandwidth is None else link.bandwidth,
        )
    return graph
