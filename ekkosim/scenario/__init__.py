"""Reading scenarios: loading with clear errors, the checks across sections, and the reference
generated from the schema (which is `ekkosim.schema`, below every part that reads a scenario)."""

from ekkosim.scenario.load import ScenarioError, load, validate
from ekkosim.schema import Scenario

__all__ = ["Scenario", "ScenarioError", "load", "validate"]
