"""ekkosim: a deterministic discrete-event simulator of geo-distributed parameter servers.

It reproduces and extends Ekko (OSDI 2022). Public API: load a scenario, run it, read results.
"""

__version__ = "0.1.0"

from ekkosim.scenario import Scenario, ScenarioError, load  # noqa: E402

__all__ = ["Scenario", "ScenarioError", "__version__", "load", "run"]


def run(scenario: Scenario, out=None, **kwargs) -> dict:
    """Simulate `scenario` and write its run folder; see `ekkosim.runner.run`."""
    from ekkosim.runner import run as _run

    return _run(scenario, out, **kwargs)
