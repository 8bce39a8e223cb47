"""Service quality: what a late or missing update costs the inference traffic.

A synthetic online recommender with a ground truth, in pure NumPy: every key has a true logit
that drifts (`truth`), the trainer moves its copy toward it and so emits updates of real
magnitudes (`learning`), inference requests hit keys by popularity (`requests`), and each request
is scored by the expected log loss of the value its replica served against the truth, next to
the loss of a zero-latency replica on the very same request (`score`). In a run, the inference
service (`service`, SimPy) serves and scores the requests, and biased updates (`bias`) harm what
the trainer publishes. docs/quality-model.md has the formulas.
"""

from ekkosim.quality.requests import RequestSampler
from ekkosim.quality.score import QualityAccumulator, expected_log_loss
from ekkosim.quality.learning import train_step
from ekkosim.quality.truth import GroundTruth

__all__ = ["GroundTruth", "QualityAccumulator", "RequestSampler", "expected_log_loss", "train_step"]
