"""The scheduler at the trainers: every batch of updates a trainer writes is graded high or low.

One `MagnitudeSampler` per model estimates its mean magnitude; the priority function (Ekko's
formula or the scenario's `scheduler.priority`) scores the batch; one `PriorityClassifier` over
every model splits it at the running top-`top_percent` threshold (one for all models, so that a
model's traffic share, p_m, moves its updates against the others').
"""

from __future__ import annotations

import functools

import numpy as np

from ekkosim.kernel import Randomness
from ekkosim.schema import Scenario
from ekkosim.scheduler.priority import (
    Features,
    PriorityClassifier,
    PriorityFunctionError,
    call_priority_function,
    ekko_priority,
)
from ekkosim.scheduler.sampler import MagnitudeSampler


class PriorityGrader:
    def __init__(self, scenario: Scenario, randomness: Randomness):
        config = scenario.scheduler
        self.models = scenario.models
        self.samplers = [
            MagnitudeSampler(randomness.stream(f"scheduler.sampler.{model.name}"), config.sample_rate, config.sample_window)
            for model in scenario.models
        ]
        self.classifier = PriorityClassifier(config.top_percent)
        if config.priority is not None and scenario.priority_function is None:
            raise PriorityFunctionError(f"{config.priority!r} was never imported: a run imports the user's code "
                                        "before it starts (ekkosim.runner.run), if the scenario allowed it")
        self.function = scenario.priority_function or functools.partial(
            ekko_priority, new_key_priority=config.new_key_priority)

    def grade(self, model: int, magnitudes: np.ndarray, is_new: np.ndarray, now: float) -> np.ndarray:
        """Which of a batch's updates of `model` are high priority (judged before the sampler
        and the threshold learn from the batch)."""
        spec, sampler = self.models[model], self.samplers[model]
        features = Features(magnitudes, is_new, sampler.mean, spec.traffic_share, spec.name, now)
        high = self.classifier.classify(call_priority_function(self.function, features))
        sampler.observe(magnitudes)
        return high
