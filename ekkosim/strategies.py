"""The strategies a scenario can name in `strategy:`, each a `start(sim) -> Outcome` function."""

from __future__ import annotations

from ekkosim.baselines import central_push, chain, offline
from ekkosim.sync import ekko

STRATEGIES = {
    "ekko": ekko.start,
    "offline": offline.start,
    "chain": chain.start,
    "central_push": central_push.start,
}
