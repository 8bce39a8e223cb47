"""Replay the SimGrid 3.32 reference flow sets (see data/simgrid/README.md)."""

import json
from pathlib import Path

import pytest
import simpy

from ekkosim.net.flows import Network

DATA = Path(__file__).parent / "data" / "simgrid"
CASES = sorted(DATA.glob("*.json"))


def test_reference_files_are_present():
    assert len(CASES) >= 5


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_completion_times_match_simgrid(path):
    case = json.loads(path.read_text())
    env = simpy.Environment()
    net = Network(env, sharing=case["sharing"])
    for name, link in case["links"].items():
        net.add_link(name, link["bandwidth_Bps"], link["latency_s"])
    started = {}

    def start(spec):
        yield env.timeout(spec["start_s"])
        route = [net.link_id(name) for name in spec["route"]]
        started[spec["id"]] = net.transfer(route, spec["size_bytes"], tag=spec["id"])

    for spec in case["flows"]:
        env.process(start(spec))
    env.run()

    expected = case["expected_completion_s"]
    assert sorted(started) == sorted(expected)
    for flow_id, end_s in expected.items():
        assert started[flow_id].end_s == pytest.approx(end_s, rel=1e-9, abs=0), flow_id
