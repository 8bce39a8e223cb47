"""Code a scenario names runs only on the user's word: `--allow-code`, or a function an
installed package registers under the entry-point group `ekkosim.priority`. Validation imports
nothing either way."""

from __future__ import annotations

import copy
import sys
import textwrap

import pytest

from ekkosim.runner import run
from ekkosim.scenario import ScenarioError, validate
from ekkosim.schema import Scenario
from ekkosim.scenario.user_code import PRIORITY_GROUP, import_code
from ekkosim.scheduler.priority import PriorityFunctionError
from tests.conftest import SMALL

MODULE = """
import pathlib
pathlib.Path(__file__).with_name("IMPORTED").write_text("ran")

def newest(features):
    return features.is_new.astype(float)
"""


def scenario(priority: str) -> dict:
    data = copy.deepcopy(SMALL) | {"strategy": "ekko", "workload": {"duration": "0.3s"}, "sync": {"drain": "0.3s"},
                                   "scheduler": {"enabled": True, "priority": priority}}
    data["models"][0].update(keys=1000, shards=2, workload={"rate": 500})
    return data


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """A package on sys.path that registers `newest` under the group, as `pip install` would."""
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "prio_pkg.py").write_text(textwrap.dedent(MODULE))
    info = tmp_path / "site" / "prio_pkg-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: prio-pkg\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{PRIORITY_GROUP}]\nnewest = prio_pkg:newest\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    yield tmp_path / "site"
    sys.modules.pop("prio_pkg", None)


def test_module_function_needs_the_flag_and_validation_imports_nothing(tmp_path):
    (tmp_path / "prio.py").write_text(textwrap.dedent(MODULE))
    with pytest.raises(ScenarioError, match=r"^scheduler.priority: 'prio:f' names Python code, which a scenario runs "
                                            r"only if you trust it: add --allow-code"):
        validate(scenario("prio:f"), tmp_path)
    allowed = validate(scenario("prio:newest"), tmp_path, allow_code=True)
    assert not (tmp_path / "IMPORTED").exists()
    assert import_code(allowed).__name__ == "newest"  # a run's start imports it
    assert allowed.priority_function is import_code(allowed)  # once
    assert (tmp_path / "IMPORTED").read_text() == "ran"


def test_a_registered_function_needs_no_flag(installed, tmp_path):
    allowed = validate(scenario("newest"))
    assert not (installed / "IMPORTED").exists()
    summary = run(allowed, tmp_path / "run")
    assert (installed / "IMPORTED").exists()
    # only updates that create a key get a priority above 0, the top 10% threshold among zeros
    assert summary["latency_by_priority_s"]["high"]["count"] < summary["latency_s"]["count"]


def test_an_unregistered_name_lists_the_registered_ones(installed):
    with pytest.raises(ScenarioError, match=r"no function 'oldest' is registered under the entry-point group "
                                            r"ekkosim.priority \(registered: newest\)"):
        validate(scenario("oldest"))


@pytest.mark.parametrize("spec", ["/abs/dir/evil:f", "../evil:f", "a b:f", "mod:", "mod:f:g", ""])
def test_anything_else_is_refused_even_with_the_flag(spec):
    with pytest.raises(ScenarioError, match="scheduler.priority: .* is neither 'package.module:function' nor the name"):
        validate(scenario(spec), allow_code=True)


def test_a_scenario_not_validated_runs_no_code():
    unchecked = Scenario.model_validate(scenario("prio:f"))
    with pytest.raises(PriorityFunctionError, match="was not allowed when the scenario was validated"):
        import_code(unchecked)
