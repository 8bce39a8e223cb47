import pytest

from ekkosim.scenario import ScenarioError, load


def test_set_overrides_apply_before_validation(small, write_scenario):
    path = write_scenario(small)
    scenario = load(path, ["topology.wan.bandwidth=1Gbps", "topology.datacenters[1].servers=4", "seed=9",
                           "network.sharing=rtt_weighted"])
    assert scenario.topology.wan.bandwidth == 1e9
    assert scenario.topology.datacenters[1].servers == 4
    assert scenario.seed == 9
    assert scenario.network.sharing == "rtt_weighted"


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("topology.wan.bandwidth", "expected dotted.path=value"),
        ("topology..wan=1", "not a dotted path"),
        ("topology.datacenters[7].servers=2", "topology.datacenters[7] is not an existing list item"),
        ("topology.wan[*].latency=1ms", "topology.wan is not a list"),
        ("topology.wan.bandwidth=-5Gbps", "topology.wan.bandwidth: must be > 0bps, got -5Gbps"),
        ("topology.wan.speed=5Gbps", "topology.wan.speed: unknown field"),
    ],
)
def test_bad_set_is_a_scenario_error(small, write_scenario, assignment, message):
    with pytest.raises(ScenarioError, match=message.replace("[", r"\[").replace(".", r"\.")):
        load(write_scenario(small), [assignment])


def test_star_sets_every_item(small, write_scenario):
    scenario = load(write_scenario(small), ["topology.datacenters[*].cores=12", "topology.datacenters[1].cores=2"])
    assert [dc.cores for dc in scenario.topology.datacenters] == [12, 2, 12]
