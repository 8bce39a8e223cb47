"""Scenarios: the YAML schema, units, and loading with clear errors."""

from ekkosim.scenario.load import ScenarioError, load, validate
from ekkosim.scenario.schema import Scenario

__all__ = ["Scenario", "ScenarioError", "load", "validate"]
