"""A run's default folder is named by what differs: a comparison run never overwrites the run it
is compared with, from the CLI or from Python."""

import json

import ekkosim
from ekkosim.runner import default_out
from ekkosim.scenario import load
from ekkosim.scenario.differences import differences
from tests.conftest import run_cli


def test_a_run_with_overrides_gets_a_folder_of_its_own(small, write_scenario, tmp_path):
    scenario = write_scenario(small)
    for args in ([], ["--set", "topology.wan.bandwidth=4Gbps"]):
        result = run_cli("run", str(scenario), "--quiet", "--no-plots", *args, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    plain, changed = sorted((tmp_path / "runs").iterdir())
    assert plain.name == "small-3"
    assert changed.name.startswith("small-3-") and len(changed.name) == len("small-3-") + 8
    assert json.loads((plain / "summary.json").read_text())["model_ready_s"]["a"] == 1.61
    assert json.loads((changed / "summary.json").read_text())["model_ready_s"]["a"] == 2.01  # 1 GB at 4 Gbps


def test_the_tag_names_the_resolved_changes_whoever_made_them(small, write_scenario):
    path = write_scenario(small)
    by_set = load(path, ["topology.wan.bandwidth=4Gbps"])
    spelled_otherwise = load(path, ["topology.wan.bandwidth=4000Mbps"])
    in_python = load(path)
    in_python.topology.wan.bandwidth = "4Gbps"
    assert differences(by_set) == {"topology.wan.bandwidth": "4Gbps"}
    assert default_out(by_set) == default_out(spelled_otherwise) == default_out(in_python) != default_out(load(path))
    # an override that sets what the file says, or only the seed, changes nothing but the seed in the name
    assert str(default_out(load(path, ["topology.wan.bandwidth=8Gbps"]))) == "runs/small-3"
    assert str(default_out(load(path, ["seed=5"]))) == "runs/small-5"
    assert str(default_out(load(path, ["seed=5", "topology.wan.bandwidth=4Gbps"]))).startswith("runs/small-5-")


def test_ekkosim_run_names_its_folder_the_same_way(small, write_scenario, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    scenario = load(write_scenario(small))
    ekkosim.run(scenario, plots=False)
    scenario.models[0].keys = 2_000_000
    ekkosim.run(scenario, plots=False)
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["small-3", default_out(scenario).name]
