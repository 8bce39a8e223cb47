"""What a scenario changes from the file it was read from, and the short tag that names it.

The loader keeps the fields of the scenario as its file gives them (before `--set`); a
scenario's differences are the fields whose values are now other, by the resolved values (so
`10Gbps` and `10000Mbps` are one value), whether `--set` changed them or Python code did after
loading. The seed is not one of them: run folders carry it in their name already. Two
scenarios with the same differences from the same file get the same tag, on any machine; a
field added to the schema later, with its default, changes no tag.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ekkosim.flat import flatten
from ekkosim.schema import Scenario

NOT_SET = "(not set)"  # a field the other scenario has and this one has not (an item of a longer list)


def fields(scenario: Scenario) -> dict[str, Any]:
    """Every field of the resolved scenario by its `--set` path, as the resolved YAML writes it."""
    return flatten(scenario.model_dump(mode="json"))


def compared(a: dict[str, Any], b: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """The paths whose values differ between two scenarios' `fields`: path to (a's, b's)."""
    return {path: (a.get(path, NOT_SET), b.get(path, NOT_SET))
            for path in dict.fromkeys([*a, *b]) if a.get(path, NOT_SET) != b.get(path, NOT_SET)}


def differences(scenario: Scenario) -> dict[str, Any]:
    """The fields the scenario changes from its file (all of them if the file alone is not a
    valid scenario; none if it was not read from data), without the seed: path to the new value."""
    origin = scenario.origin_fields
    if origin is None:
        return {}
    return {path: new for path, (_, new) in compared(origin, fields(scenario)).items() if path != "seed"}


def tag(scenario: Scenario) -> str | None:
    """Eight hex digits naming the scenario's differences from its file; None if it has none."""
    changed = differences(scenario)
    if not changed:
        return None
    text = json.dumps(sorted(changed.items()), separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:8]
