"""Scenarios into links and routes: GraphML WAN graphs with transit nodes, windows, routes."""

import math

import pytest

from ekkosim.net.wan import SPEED_IN_FIBRE_M_PER_S, wan_graph
from ekkosim.runner import run
from ekkosim.scenario import ScenarioError, load, validate

GRAPHML = """<?xml version="1.0" encoding="utf-8"?>
<graphml xmlns="http://graphml.graphdrawing.org/xmlns">
  <key attr.name="Latitude" attr.type="double" for="node" id="d0"/>
  <key attr.name="Longitude" attr.type="double" for="node" id="d1"/>
  <key attr.name="label" attr.type="string" for="node" id="d2"/>
  <key attr.name="LinkSpeedRaw" attr.type="double" for="edge" id="d3"/>
  <key attr.name="latency_s" attr.type="double" for="edge" id="d4"/>
  <graph edgedefault="undirected">
    <node id="0"><data key="d0">0.0</data><data key="d1">0.0</data><data key="d2">train</data></node>
    <node id="1"><data key="d0">0.0</data><data key="d1">1.0</data><data key="d2">hub</data></node>
    <node id="2"><data key="d0">0.0</data><data key="d1">2.0</data><data key="d2">a</data></node>
    <node id="3"><data key="d2">b</data></node>
    <edge source="0" target="1"><data key="d3">8000000000</data></edge>
    <edge source="1" target="2"><data key="d3">4000000000</data></edge>
    <edge source="0" target="3"><data key="d4">0.005</data></edge>
  </graph>
</graphml>
"""


@pytest.fixture
def zoo(small, write_scenario, tmp_path):
    (tmp_path / "wan.graphml").write_text(GRAPHML)
    small["topology"]["graphml"] = "wan.graphml"  # relative to the scenario file
    return write_scenario(small)


def test_graphml_nodes_links_and_coordinates(zoo):
    graph = wan_graph(load(zoo))
    assert sorted(graph.nodes) == ["a", "b", "hub", "train"]
    one_degree_m = 2 * math.pi * 6.371e6 / 360
    assert graph.edges["train", "hub"]["latency_s"] == pytest.approx(one_degree_m / SPEED_IN_FIBRE_M_PER_S)
    assert graph.edges["hub", "a"]["bandwidth_bps"] == 4e9
    assert graph.edges["train", "b"] == {"latency_s": 0.005, "bandwidth_bps": 8e9}  # the scenario's wan.bandwidth


def test_transit_node_carries_traffic_and_sets_the_bottleneck(zoo, tmp_path):
    # a's copy crosses train -> hub -> a; the hub -> a link (4 Gbps, 0.5 GB/s) is its bottleneck
    summary = run(load(zoo), tmp_path / "run")
    hop = 2 * math.pi * 6.371e6 / 360 / SPEED_IN_FIBRE_M_PER_S
    assert summary["model_ready_s"]["a"] == pytest.approx(2 * hop + 1e9 / 0.5e9, rel=1e-9)


def test_unreadable_graphml_is_a_scenario_error(small, tmp_path):
    (tmp_path / "bad.graphml").write_text("<graphml><oops")
    small["topology"]["graphml"] = str(tmp_path / "bad.graphml")
    with pytest.raises(ScenarioError, match=r"topology.graphml: cannot read .*bad.graphml.*not GraphML"):
        validate(small)


def test_window_cap_bounds_a_flow_by_window_over_round_trip(small, tmp_path):
    # one copy, a 1 MB window over a 20 ms round trip: at most 50 MB/s, far below the links
    small["topology"]["datacenters"] = small["topology"]["datacenters"][:2]
    small["network"] = {"window": "1MB"}
    summary = run(validate(small), tmp_path)
    assert summary["model_ready_s"]["a"] == pytest.approx(0.01 + 1e9 / 50e6, rel=1e-12)


def test_live_routing_goes_around_a_failed_wan_link_one_direction_at_a_time_and_back():
    import simpy

    from ekkosim.net.flows import Network
    from ekkosim.net.topology import Topology
    from ekkosim.scenario import validate
    from tests.sync.test_faults import three_dcs

    for routing, around in (("live", ["train/uplink", "wan/train->b", "wan/b->a", "a/downlink"]),
                            ("fixed", ["train/uplink", "wan/train->a", "a/downlink"])):
        network = Network(simpy.Environment())
        topology = Topology(validate(three_dcs(network={"routing": routing})), network)
        names = lambda route: [network.link_name(link) for link in route.links]  # noqa: E731
        direct = names(topology.dc_route("train", "a"))
        assert direct == ["train/uplink", "wan/train->a", "a/downlink"]
        network.fail_link(network.link_id("wan/train->a"))
        topology.reroute()
        assert names(topology.dc_route("train", "a")) == around, routing
        assert names(topology.dc_route("a", "train")) == ["a/uplink", "wan/a->train", "train/downlink"]
        network.repair_link(network.link_id("wan/train->a"))
        topology.reroute()
        assert names(topology.dc_route("train", "a")) == direct
