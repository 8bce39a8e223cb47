"""ekkosim: a deterministic discrete-event simulator of geo-distributed parameter servers.

It reproduces and extends Ekko (OSDI 2022). Public API: load a scenario, run it, read results
(`load_run`, `load_sweep`: pandas DataFrames, for notebooks).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ekkosim.version import __version__

if TYPE_CHECKING:
    from ekkosim.scenario import Scenario, ScenarioError, load

__all__ = ["Scenario", "ScenarioError", "__version__", "load", "load_run", "load_sweep", "run"]
_LAZY = ("Scenario", "ScenarioError", "load")


def __getattr__(name: str):
    """`Scenario`, `ScenarioError` and `load`, imported at first use: importing the package
    alone stays light, so that the command line can re-execute itself before the heavy imports
    (`ekkosim.huge_pages`)."""
    if name in _LAZY:
        from ekkosim import scenario

        value = globals()[name] = getattr(scenario, name)
        return value
    raise AttributeError(f"module 'ekkosim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


def run(scenario: Scenario, out=None, **kwargs) -> dict:
    """Simulate `scenario` and write its run folder (by default runs/<name>-<seed>/, with a tag
    naming the changes if the scenario was changed after loading; `plots=False`: no figures);
    see `ekkosim.runner.run`."""
    from ekkosim.runner import run as _run

    return _run(scenario, out, **kwargs)


def load_run(path):
    """A finished run folder: `.summary`, `.scenario` and its tables as DataFrames; see
    `ekkosim.results.read.Run`."""
    from ekkosim.results.read import load_run as _load_run

    return _load_run(path)


def load_sweep(path):
    """A finished sweep's table (sweep.parquet) as a DataFrame, a row per run in sweep order."""
    from ekkosim.results.read import load_sweep as _load_sweep

    return _load_sweep(path)
