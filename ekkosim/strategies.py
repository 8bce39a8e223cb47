"""The strategies a scenario can name in `strategy:`: each a `start(sim) -> Outcome` function
(`ekkosim.simulation`), which the runner picks by the scenario's name. A strategy's own section of
the scenario, and what the checks need to know of it, is its `StrategySection` (`ekkosim.schema`).
"""

from __future__ import annotations

from ekkosim.baselines import central_push, chain, offline
from ekkosim.simulation import Start
from ekkosim.sync import ekko

STRATEGIES: dict[str, Start] = {
    "ekko": ekko.start,
    "offline": offline.start,
    "chain": chain.start,
    "central_push": central_push.start,
}
