"""The inference service: requests in every serving DC, scored against the ground truth.

With `quality.enabled`, each model has a ground truth (`ekkosim.quality`), the trainers move the
origin's values toward it (`train`), and every `quality.interval` each serving DC (role
inference or both) answers the requests that arrived meanwhile: each model takes its
`traffic_share` of `quality.requests` per second, keys by the update workload's own popularity.
A request is served by one copy of its key's shard in the DC (requests are spread over the
copies in turn; those of a crashed server's copy go to the next live copy) and scored by the expected log loss of that copy's value, and again with the
trainer's clean value: the ideal replica, with zero update latency, on the very same requests.
The trainer's clean copy of each origin shard is kept apart from what the origin publishes, so
that biased updates (`quality.biased_updates`) harm what is served and not the ideal; without
them the two are equal. With the model state manager, a share of each model's requests is served
by its baseline, and a damaged model's requests by its replacement (`ekkosim.manager`). Values
are read at one random instant per interval (`serve_forever`). The run starts from a trained
model: every replica holds the truth of time 0. docs/quality-model.md has the formulas.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import simpy

from ekkosim.ps.key_values import KeyValues
from ekkosim.quality.bias import Bias
from ekkosim.quality.learning import train_step
from ekkosim.quality.requests import RequestSampler
from ekkosim.quality.score import QualityAccumulator, expected_log_loss
from ekkosim.quality.truth import GroundTruth
from ekkosim.schema import DENSE_KEYS
from ekkosim.simulation import Simulation
from ekkosim.workload.batch import UpdateSource
from ekkosim.workload.synthetic import SyntheticWorkload

if TYPE_CHECKING:  # the cluster is the ekko strategy's, which builds the service
    from ekkosim.sync.cluster import Cluster


def _popularity(source: UpdateSource, keys: int) -> tuple[Callable[[], int], Callable]:
    """How requests find keys: the synthetic workload's own ranking of the keys that exist (so
    requests hit what the trainer updates); for a trace, ranks are keys."""
    if isinstance(source, SyntheticWorkload):
        return (lambda: source.existing_keys), source.keys_of_ranks
    return (lambda: keys), (lambda ranks, t: ranks - 1)


class Service:
    """Ground truths, request streams and the quality accumulated per (DC, model, window)."""

    def __init__(self, sim: Simulation, cluster: Cluster, sources: list[UpdateSource], end_s: float):
        scenario, quality = sim.scenario, sim.scenario.quality
        self.sim, self.cluster = sim, cluster
        self.models = scenario.models
        self.dcs = [dc.name for dc in scenario.topology.datacenters if dc.role in ("inference", "both")]
        self.truths = [
            GroundTruth(int(sim.randomness.stream(f"quality.truth.{model.name}").integers(2**63)),
                        quality.drift_amplitude, quality.drift_period, quality.spread)
            for model in scenario.models
        ]
        self.labels = [sim.randomness.stream(f"quality.labels.{model.name}") for model in scenario.models]
        self.streams = {}
        self.existing = []  # per model: a callable, how many keys exist now (keys 0 .. n - 1)
        self.existing_at_start = []
        for m, (model, source) in enumerate(zip(scenario.models, sources)):
            existing, keys_of_ranks = _popularity(source, model.keys)
            self.existing.append(existing)
            self.existing_at_start.append(existing())
            for d, dc in enumerate(self.dcs):
                rng = sim.randomness.stream(f"quality.requests.{dc}.{model.name}")
                sampler = RequestSampler(rng, quality.requests * model.traffic_share, model.workload.zipf,
                                         existing(), keys_of_ranks)
                self.streams[(d, m)] = sampler
        # each model's values at the start, by key: the run starts from a trained model
        self.start_values = [self._start_values(m) for m in range(len(self.models))]
        self._start_trained(cluster)
        # the trainer's clean copy of each model (by key); equal to the origins' values unless biased
        self.clean = [KeyValues(start) for start in self.start_values]
        self.bias = [Bias([b for b in quality.biased_updates if b.model == model.name],
                          sim.randomness.stream(f"quality.bias.{model.name}")) for model in scenario.models]
        self.manager = None  # the model state manager (`ekkosim.sync.state_manager`), set by it
        self.window, self.end_s = scenario.output.window, end_s
        self.accumulator = QualityAccumulator(len(self.dcs), len(self.models), max(1, math.ceil(end_s / self.window)))

    def _start_trained(self, cluster: Cluster) -> None:
        """The run starts from a trained model, as a deployment does: every replica serves the
        truth of time 0 for every key that exists then (keys created later start at 0)."""
        for m, start in enumerate(self.start_values):
            cluster.set_base_value(m, start)

    def _start_values(self, m: int) -> Callable[[np.ndarray], np.ndarray]:
        """Model m's values at the start, by key: its truth of time 0, computed when asked (a
        hash a key), or for a small key space (at most `DENSE_KEYS`, as the stores keep every key
        there) read from a table of every key, made once: every request and trainer write asks
        for them, and hashing each time would cost more than the table's memory saves."""
        keys = self.models[m].keys
        if keys > DENSE_KEYS:
            return partial(self._truth_at_start, m)
        table = self._truth_at_start(m, np.arange(keys, dtype=np.int64))
        return table.__getitem__  # a new array each time: callers may change theirs

    def _truth_at_start(self, m: int, keys: np.ndarray) -> np.ndarray:
        values = self.truths[m].value(keys, 0.0)
        values[keys >= self.existing_at_start[m]] = 0.0
        return values

    def train(self, model: int, keys: np.ndarray, current: np.ndarray, examples: np.ndarray,
              now: float) -> tuple[np.ndarray, np.ndarray]:
        """The trainer's new values of `keys` (global ids; `current` their values at the origin;
        `examples` the examples behind each) and each update's magnitude."""
        return train_step(self.truths[model], keys, current, now, self.sim.scenario.quality.learning_rate,
                          examples, self.labels[model])

    def clean_values(self, model: int, keys: np.ndarray) -> np.ndarray:
        """The trainer's clean values of `keys`."""
        return self.clean[model].get(keys)

    def publish(self, model: int, keys: np.ndarray, values: np.ndarray, now: float) -> np.ndarray:
        """The trainer's new clean `values` of `keys`: keep them, and return what the origin
        publishes (biased during a burst)."""
        self.clean[model].set(keys, values)
        bias = self.bias[model]
        if bias.active(now) is not None:
            values = bias.apply(keys, values, self.truths[model].value(keys, now), now)
        if self.manager is not None:
            self.manager.published(model, keys, values, now)
        return values

    def serve_forever(self) -> Iterator[simpy.Event]:
        """Every `quality.interval`, score the requests that arrived in it against the replicas'
        state at one instant drawn uniformly within it: stratified sampling of the state over
        time, so the expected score is the state's time average (a fixed instant would alias
        with the trainers' batches and hide any latency shorter than the interval)."""
        env, interval = self.sim.env, self.sim.scenario.quality.interval
        rng = self.sim.randomness.stream("quality.instants")
        for tick in range(math.ceil(self.end_s / interval)):
            # products: boundaries do not drift; the last tick ends with the run
            t0, t1 = tick * interval, min((tick + 1) * interval, self.end_s)
            yield env.timeout(max(0.0, rng.uniform(t0, t1) - env.now))
            for (d, m), sampler in self.streams.items():
                sampler.n_keys = self.existing[m]()
                times, keys = sampler.sample(t0, t1)
                if keys.size:
                    self._score(d, m, times, keys)

    def _score(self, d: int, m: int, times: np.ndarray, keys: np.ndarray) -> None:
        model = self.models[m]
        dc = self.dcs[d]
        copy = np.arange(keys.size) % model.replicas
        ideal = self.clean[m].get(keys)
        served = self.cluster.serving_values(m, dc, keys, copy)
        truth = self.truths[m].value(keys, times)
        window = np.minimum((times // self.window).astype(np.int64), self.accumulator.requests.shape[2] - 1)
        if self.manager is None:
            self.accumulator.add(d, m, window, expected_log_loss(served, truth), expected_log_loss(ideal, truth))
            return
        served, baseline = self.manager.route(d, m, keys, served, self.sim.env.now)
        served_loss = expected_log_loss(served, truth)
        self.accumulator.add(d, m, window, served_loss, expected_log_loss(ideal, truth))
        self.manager.observe(m, times, served_loss, baseline)

    def table(self) -> dict[str, np.ndarray | list]:
        """Per (window, DC, model): requests, summed losses as served and ideal, SLO drop in percent."""
        acc = self.accumulator
        d, m, w = np.meshgrid(np.arange(len(self.dcs)), np.arange(len(self.models)),
                              np.arange(acc.requests.shape[2]), indexing="ij")
        order = np.lexsort((m.ravel(), d.ravel(), w.ravel()))  # by window, then DC, then model
        d, m, w = d.ravel()[order], m.ravel()[order], w.ravel()[order]
        return {
            "window_start_s": w * self.window,
            "dc": [self.dcs[i] for i in d],
            "model": [self.models[i].name for i in m],
            "requests": acc.requests[d, m, w],
            "served_loss": acc.served_loss[d, m, w],
            "ideal_loss": acc.ideal_loss[d, m, w],
            "slo_drop_pct": 100.0 * acc.slo_drop()[d, m, w],
        }

    def summary(self) -> dict:
        """`slo`, in percent: per model and DC the mean and peak SLO drop over windows; per DC the
        drop of its whole service (every model's requests pooled, so models weigh by their
        traffic), whose peak and mean over DCs and windows are `slo_drop_peak_pct` and
        `slo_drop_mean_pct`; and the quality lost, the area under each DC's drop over time,
        summed over DCs (percent x seconds; a partial last window weighs its length)."""
        acc = self.accumulator
        by_model = 100.0 * acc.slo_drop()
        with np.errstate(invalid="ignore", divide="ignore"):
            ideal = acc.ideal_loss.sum(axis=1)
            by_dc = 100.0 * (acc.served_loss.sum(axis=1) - ideal) / ideal  # (DC, window)
        by_dc[(acc.requests.sum(axis=1) == 0) | ~(ideal > 0)] = np.nan
        return {
            "by_model": {
                model.name: {dc: _stats(by_model[d, m]) for d, dc in enumerate(self.dcs)}
                for m, model in enumerate(self.models)
            },
            "by_dc": {dc: _stats(by_dc[d]) for d, dc in enumerate(self.dcs)},
            "slo_drop_peak_pct": _stats(by_dc)["peak_pct"],
            "slo_drop_mean_pct": _stats(by_dc)["mean_pct"],
            "quality_lost_pct_s": float(np.nansum(by_dc * self._window_lengths())),
        }

    def _window_lengths(self) -> np.ndarray:
        """Seconds of each window within the run (the last may be partial)."""
        starts = np.arange(self.accumulator.requests.shape[2]) * self.window
        return np.minimum(starts + self.window, self.end_s) - starts


def _stats(drops: np.ndarray) -> dict:
    """Mean and peak of the windows with requests (None if none had any)."""
    seen = drops[~np.isnan(drops)]
    return {"mean_pct": float(seen.mean()) if seen.size else None,
            "peak_pct": float(seen.max()) if seen.size else None}
