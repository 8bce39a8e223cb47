"""Sharing models: how the moving flows share a bottleneck, as a scenario's `network.sharing` names it.

A sharing model gives every moving flow a weight and an upper bound on its rate; weighted max-min
fairness turns them into rates (`ekkosim.net.maxmin`, SimGrid's LMM). Both follow from the flows'
latencies alone, which is what lets the network remember an allocation by the flows' routes and
latencies (`Network._allocation`). docs/network-model.md has the contract of each model.
"""

from __future__ import annotations

import numpy as np


class Sharing:
    """A sharing model, by default: every flow weighs 1, and its rate is capped at its window over
    its round trip when the network has one (`network.window`)."""

    name: str
    needs_latency = False  # True: a flow of latency 0 has no weight, and is refused

    def weights(self, latency_s: np.ndarray) -> np.ndarray | None:
        """Per flow, its weight, > 0 and finite where latencies allow (None: all 1)."""
        return None

    def bounds(self, latency_s: np.ndarray, window_bytes: float | None) -> np.ndarray | None:
        """Per flow, the most it may move per second (None: no bound): a TCP window over the
        round trip, window_bytes / (2 x latency); no cap at latency 0."""
        if window_bytes is None:
            return None
        return np.divide(window_bytes, 2.0 * latency_s, out=np.full(latency_s.size, np.inf), where=latency_s > 0)


class MaxMin(Sharing):
    """Plain max-min fairness: equal shares on a bottleneck."""

    name = "maxmin"


class RttWeighted(Sharing):
    """TCP's RTT unfairness, as SimGrid's CM02 with correction factors 1: a flow weighs
    1 / latency, so on a shared bottleneck rates are inversely proportional to latency."""

    name = "rtt_weighted"
    needs_latency = True

    def weights(self, latency_s: np.ndarray) -> np.ndarray:
        return 1.0 / latency_s


SHARING = {model.name: model for model in (MaxMin(), RttWeighted())}  # by the name a scenario gives
