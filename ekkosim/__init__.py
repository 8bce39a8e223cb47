"""ekkosim: a deterministic discrete-event simulator of geo-distributed parameter servers.

It reproduces and extends Ekko (OSDI 2022). Public API: load a scenario, run it, read results
(`load_run`, `load_sweep`: pandas DataFrames, for notebooks).
"""

from ekkosim.scenario import Scenario, ScenarioError, load
from ekkosim.version import __version__

__all__ = ["Scenario", "ScenarioError", "__version__", "load", "load_run", "load_sweep", "run"]


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
