"""The code's structure (docs/architecture.md): imports go one way, and each extension point's
two halves, the scenario's side in the schema and the run's side in its registry, agree."""

from pathlib import Path
from typing import get_args

from importlinter.cli import lint_imports

from ekkosim.net.sharing import SHARING
from ekkosim.schema import FAULT_KINDS, STRATEGY_SECTIONS, Network, Scenario, StrategySection
from ekkosim.strategies import STRATEGIES
from ekkosim.sync.faults import KINDS

ROOT = Path(__file__).resolve().parents[1]


def test_imports_keep_the_layers_and_no_package_has_a_cycle(capsys):
    """import-linter's contracts in pyproject.toml: a part imports only the parts below it, and
    no two modules of a package import each other, directly or around a loop."""
    code = lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True)
    assert code == 0, capsys.readouterr().out


def test_every_strategy_has_its_section_and_its_start():
    assert get_args(Scenario.model_fields["strategy"].annotation) == tuple(STRATEGY_SECTIONS)
    assert list(STRATEGIES) == list(STRATEGY_SECTIONS)
    for field in STRATEGY_SECTIONS.values():
        assert issubclass(Scenario.model_fields[field].annotation, StrategySection), field


def test_every_fault_kind_can_be_injected():
    assert list(KINDS) == list(FAULT_KINDS)


def test_every_sharing_model_a_scenario_can_name_exists():
    assert get_args(Network.model_fields["sharing"].annotation) == tuple(SHARING)
