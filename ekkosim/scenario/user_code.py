"""Python code a scenario names runs only on the user's word.

A scenario is data and may come from anyone, but a field that names Python code (today
`scheduler.priority`) would run that code when it is imported. So checking a scenario imports
nothing: it reads the name only. The code is imported when a run starts, and only if the user
said so, in one of two ways:

- `--allow-code` on the command line (`allow_code=True` in Python): the user trusts this
  scenario's code, a `package.module:function` importable from the scenario's folder or as an
  installed module;
- a function an installed package registers under the entry-point group `ekkosim.priority`
  (named in the scenario by its registered name, without a colon): installing the package was
  the user's word.

A scenario that names code without either is refused, naming the field and the flag.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

from ekkosim.schema import Scenario
from ekkosim.units import shown
from ekkosim.scheduler.priority import (
    MODULE_FUNCTION,
    PriorityFunction,
    PriorityFunctionError,
    check_priority_function,
    load_priority_function,
)

ALLOW_CODE = "--allow-code"
PRIORITY_GROUP = "ekkosim.priority"

_REGISTERED_NAME = re.compile(r"^[A-Za-z_][\w.-]*$")


@dataclass(frozen=True)
class CodeRef:
    """Code a field names, which the user allowed: a registered entry point, or a
    `module:function` (looked for beside the scenario first, in `near`)."""

    spec: str
    registered: bool
    near: Path | None


def check(spec: str, near: Path | None, allow_code: bool) -> CodeRef:
    """The code `spec` names, if the user allowed it; PriorityFunctionError (one line, naming
    the flag) if not, or if `spec` is no such name. Nothing is imported."""
    if MODULE_FUNCTION.match(spec):
        if not allow_code:
            raise PriorityFunctionError(
                f"{shown(spec)} names Python code, which a scenario runs only if you trust it: add {ALLOW_CODE}, "
                f"or install it as a package that registers it under the entry-point group {PRIORITY_GROUP}")
        return CodeRef(spec, registered=False, near=near)
    if _REGISTERED_NAME.match(spec):
        if not any(point.name == spec for point in entry_points(group=PRIORITY_GROUP)):
            known = sorted(point.name for point in entry_points(group=PRIORITY_GROUP))
            raise PriorityFunctionError(
                f"no function {shown(spec)} is registered under the entry-point group {PRIORITY_GROUP} "
                f"(registered: {', '.join(known) or 'none'}); name your own as 'package.module:function' "
                f"and run with {ALLOW_CODE}")
        return CodeRef(spec, registered=True, near=None)
    raise PriorityFunctionError(f"{shown(spec)} is neither 'package.module:function' nor the name of a "
                                f"function registered under the entry-point group {PRIORITY_GROUP}")


def import_priority_function(ref: CodeRef) -> PriorityFunction:
    """Import the function `ref` names and check it on a sample batch (a run starts here);
    PriorityFunctionError with one line if it cannot be used."""
    if ref.registered:
        point = next(point for point in entry_points(group=PRIORITY_GROUP) if point.name == ref.spec)
        try:
            function = point.load()
        except Exception as exc:  # the package's own code failed at import
            raise PriorityFunctionError(
                f"loading the registered function {ref.spec!r} ({point.value}) raised {type(exc).__name__}: "
                f"{' '.join(str(exc).split())}") from exc
    else:
        function = load_priority_function(ref.spec, ref.near)
    check_priority_function(function)
    return function


def import_code(scenario: Scenario) -> PriorityFunction | None:
    """Import and check the priority function the scenario names (a run starts here), once:
    `scenario.priority_function` holds it from then on; None for Ekko's formula.
    PriorityFunctionError if the loader did not allow it (a scenario built without
    `ekkosim.scenario.validate`), or if it cannot be used."""
    if not scenario.scheduler.enabled or scenario.scheduler.priority is None:
        return None
    if scenario._priority_function is None:
        if scenario._priority_ref is None:
            raise PriorityFunctionError(f"{shown(scenario.scheduler.priority)} was not allowed when the scenario was "
                                        f"validated: validate it with allow_code=True ({ALLOW_CODE})")
        scenario._priority_function = import_priority_function(scenario._priority_ref)
    return scenario._priority_function
