"""Background traffic: flows that compete with model sync for the WAN (inference, other services).

Each source is a Poisson process of flows from one DC's WAN egress to another's ingress, with
exponentially distributed sizes; it draws from its own random stream, so its flows depend only
on the scenario seed and its position in the scenario.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import simpy

from ekkosim.kernel import Randomness
from ekkosim.schema import Background

TAG = "background"

# send(src_dc, dst_dc, size_bytes, tag): starts a flow from one DC's WAN egress to another's.
SendBetweenDCs = Callable[[str, str, float, str], object]


def start_background(
    env: simpy.Environment, send: SendBetweenDCs, sources: list[Background], randomness: Randomness
) -> None:
    """Start one arrival process per background source."""
    for i, source in enumerate(sources):
        env.process(_arrivals(env, send, source, randomness.stream(f"network.background[{i}]")))


def _arrivals(env: simpy.Environment, send: SendBetweenDCs, source: Background, rng: np.random.Generator) -> Iterator[simpy.Event]:
    yield env.timeout(source.start)
    while True:
        yield env.timeout(rng.exponential(1.0 / source.rate))
        if source.end is not None and env.now >= source.end:
            return
        size = max(1.0, round(rng.exponential(source.mean_size)))
        send(source.src, source.dst, size, TAG)
