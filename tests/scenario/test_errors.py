"""Bad scenarios: one line per problem naming the dotted path, exit code 2, never a traceback."""

import numpy as np
import pytest
import yaml

from ekkosim.scenario import ScenarioError, load, validate
from tests.conftest import PAPER_CALIBRATION, REPO, SCENARIOS, run_cli


def _mutate(data, path, value):
    node = data
    for step in path[:-1]:
        node = node[step]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value


CASES = [
    # (what is wrong, path into the data, new value, expected start of the error line)
    ("missing field", ("topology", "datacenters", 1, "role"), KeyError, "topology.datacenters[1].role: required field missing"),
    ("unknown key", ("topology", "wan", "bandwdith"), "1Gbps", "topology.wan.bandwdith: unknown field"),
    ("negative bandwidth", ("topology", "wan", "bandwidth"), "-1Gbps", "topology.wan.bandwidth: must be > 0bps, got -1Gbps"),
    ("zero bandwidth", ("topology", "datacenters", 0, "nic"), "0Gbps", "topology.datacenters[0].nic: must be > 0bps, got 0Gbps"),
    ("bad unit", ("topology", "wan", "latency"), "10 parsecs", "topology.wan.latency: unknown duration unit 'parsecs'"),
    ("not a number", ("models", 0, "keys"), "many", "models[0].keys: Input should be a valid integer"),
    ("wrong type", ("topology", "datacenters"), {"train": 1}, "topology.datacenters: Input should be a valid list"),
    ("bad enum", ("strategy",), "telepathy", "strategy: Input should be 'ekko', 'offline', 'chain' or 'central_push'"),
    ("unknown DC in a link", ("topology", "links"), [{"between": ["train", "mars"]}], "topology.links[0].between: unknown DC 'mars'"),
    ("unknown DC in congestion", ("network",), {"congestion": [{"link": "wan:train->venus", "start": "1s", "end": "2s", "fraction": 0.5}]}, "network.congestion[0].link: unknown DC 'venus'"),
    ("fraction out of range", ("network",), {"congestion": [{"link": "wan:train->a", "start": "1s", "end": "2s", "fraction": 1.5}]}, "network.congestion[0].fraction: Input should be less than or equal to 1"),
    ("duplicate DC", ("topology", "datacenters", 2, "name"), "a", "topology.datacenters[2].name: duplicate name 'a'"),
    ("no training DC", ("topology", "datacenters", 0, "role"), "inference", "topology.datacenters: need exactly one DC with role training"),
    ("chain order names the training DC", ("chain",), {"order": ["train", "a"]}, "chain.order[0]: 'train' is not an inference DC"),
    ("negative servers", ("topology", "datacenters", 1, "servers"), -2, "topology.datacenters[1].servers: Input should be greater than or equal to 1"),
]


@pytest.mark.parametrize(("what", "path", "value", "expected"), CASES, ids=[c[0] for c in CASES])
def test_in_process_message_names_the_field(small, what, path, value, expected):
    _mutate(small, path, value)
    with pytest.raises(ScenarioError) as caught:
        validate(small)
    assert any(line.startswith(expected) for line in caught.value.problems), caught.value.problems


@pytest.mark.parametrize(("what", "path", "value", "expected"), CASES[:12], ids=[c[0] for c in CASES[:12]])
def test_cli_exit_2_one_line_no_traceback(small, write_scenario, what, path, value, expected):
    _mutate(small, path, value)
    result = run_cli("run", str(write_scenario(small)), "--quiet")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert f"error: {expected}" in result.stderr
    assert result.stdout == ""


def test_yaml_syntax_error_names_file_and_line(write_scenario):
    path = write_scenario("name: x\nstrategy: [offline\n")
    result = run_cli("validate", str(path))
    assert result.returncode == 2
    assert f"{path}:3:1:" in result.stderr and "Traceback" not in result.stderr


def test_duplicate_yaml_key_is_an_error(write_scenario):
    path = write_scenario("name: x\nname: y\n")
    result = run_cli("validate", str(path))
    assert result.returncode == 2 and "duplicate key 'name'" in result.stderr


@pytest.mark.parametrize("content", [b"", b"\xff\xfe\x00bad", b"- just\n- a list\n"])
def test_empty_binary_or_non_mapping_files(write_scenario, content):
    result = run_cli("validate", str(write_scenario(content)))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("path, command", [(PAPER_CALIBRATION, "calibrate"),
                                           (REPO / "sweeps" / "ablation_seeds.yaml", "sweep")])
def test_a_calibration_or_sweep_file_run_as_a_scenario_names_its_command(path, command):
    result = run_cli("run", str(path), "--quiet")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: (scenario): a {command.replace('calibrate', 'calibration')} file (it names a base `scenario`), "
        f"not a scenario: run it with `ekkosim {command}`"]


def test_missing_file(tmp_path):
    result = run_cli("run", str(tmp_path / "nope.yaml"))
    assert result.returncode == 2 and "cannot read" in result.stderr


def test_every_problem_is_reported_at_once(small):
    small["topology"]["wan"]["bandwidth"] = "-1Gbps"
    small["models"][0]["keys"] = 0
    with pytest.raises(ScenarioError) as caught:
        validate(small)
    assert len(caught.value.problems) == 2


def test_unreachable_dc(small):
    small["topology"]["wan"]["mesh"] = False
    small["topology"]["links"] = [{"between": ["train", "a"]}]
    with pytest.raises(ScenarioError, match=r"topology.datacenters\[2\].name: b cannot be reached from train"):
        validate(small)


def test_resolved_scenario_loads_back_identically(small):
    from ekkosim.runner import resolved_yaml

    scenario = validate(small)
    again = validate(yaml.safe_load(resolved_yaml(scenario)))
    assert again == scenario


def test_rtt_weighted_needs_latency_everywhere(small):
    small["network"] = {"sharing": "rtt_weighted"}
    small["topology"]["datacenters"][1]["lan_latency"] = "0s"
    with pytest.raises(ScenarioError, match=r"topology.datacenters\[1\].lan_latency: must be > 0 with network.sharing"):
        validate(small)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"until": "900s", "output": {"window": "100us"}}, r"output.window: 9,000,000 windows over 900 s"),
        # no `until`: the ekko strategy ends after the workload and the drain
        ({"strategy": "ekko", "workload": {"duration": "10s"}, "sync": {"drain": "0s"}, "output": {"window": "1us"}},
         r"output.window: 10,000,000 windows over 10 s"),
        ({"strategy": "chain", "chain": {"chunk": "100B"}}, r"chain.chunk: 10,000,000 chunks; at most 1,000,000"),
        # memory follows the keys written: a huge key space is fine, a huge number of updates is not
        ({"strategy": "ekko", "models": [{"name": "m", "keys": 10**11, "workload": {"rate": 10**8}}]},
         r"models\[0\].workload.rate: 100,000,000,000 keys, 100,000,000 updates a second for 60 s in 3 shard copies"),
    ],
)
def test_runs_too_large_to_finish_are_refused_up_front(small, changes, message):
    with pytest.raises(ScenarioError, match=message):
        validate(small | changes)


@pytest.mark.parametrize("section", ["quality", "scheduler"])
def test_sections_only_ekko_models_are_refused_under_other_strategies(small, section):
    small["strategy"] = "chain"
    small[section] = {"enabled": True}
    with pytest.raises(ScenarioError, match=rf"{section}.enabled: works with strategy ekko only, not chain"):
        validate(small)


def test_no_silent_coercion(small):
    small["models"][0]["shards"] = True
    small["topology"]["datacenters"][0]["servers"] = "3"
    with pytest.raises(ScenarioError) as caught:
        validate(small)
    assert caught.value.problems == [
        "topology.datacenters[0].servers: Input should be a valid integer, got '3'",
        "models[0].shards: Input should be a valid integer, got True",
    ]


def test_cli_usage_error_points_at_the_right_help():
    for args, hint in ((["run"], "(see ekkosim run --help)"), (["validate", "x.yaml", "--bogus"], "(see ekkosim --help)")):
        result = run_cli(*args)
        assert result.returncode == 2 and hint in result.stderr and "Traceback" not in result.stderr


def test_a_learning_rate_that_diverges_on_the_hottest_key_is_refused():
    # congestion.yaml's ranking model: 30,000 updates/s in 100 ms batches, Zipf 1.05 over its
    # 900,000 initial keys; the step diverges from learning_rate * examples = 8 on.
    hottest = 3000 / np.sum(np.arange(1, 900_001, dtype=np.float64) ** -1.05)
    assert round(hottest) == 286
    with pytest.raises(ScenarioError) as caught:
        load(SCENARIOS / "congestion.yaml", ["quality.learning_rate=0.03"])
    assert any(line.startswith("quality.learning_rate: 0.03 times the 286 examples") for line in caught.value.problems)
    load(SCENARIOS / "congestion.yaml", [f"quality.learning_rate={0.99 * 8 / hottest}"])
