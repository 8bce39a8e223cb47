"""The ground truth: every key's true logit over time, a fixed mean plus a slow sinusoidal drift.

A key's parameters come from a counter-based hash of (seed, key), never from a sequential
generator: a key's truth is the same whichever other keys are asked, in whatever order, and
asking costs O(keys asked), whatever the model's size (up to 10^12 keys).
"""

from __future__ import annotations

import math

import numpy as np

_MASK64 = (1 << 64) - 1
# SplitMix64 (Steele, Lea and Flood, OOPSLA 2014; Vigna's constants): its state advances by
# GAMMA, and each output is the state through a bijective mixing function.
_GAMMA = 0x9E3779B97F4A7C15
_MIX_1 = 0xBF58476D1CE4E5B9
_MIX_2 = 0x94D049BB133111EB
# Draws per key, each one SplitMix64 output: two for the mean (Box-Muller), the period, the phase.
_MEAN_U1, _MEAN_U2, _PERIOD, _PHASE = 1, 2, 3, 4


def mix64(z: np.ndarray) -> np.ndarray:
    """SplitMix64's output function on uint64: a bijection with good avalanche (wraps mod 2^64)."""
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(_MIX_1)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(_MIX_2)
        return z ^ (z >> np.uint64(31))


def splitmix64_output(state: np.ndarray, i: int) -> np.ndarray:
    """The `i`-th output (i >= 1) of SplitMix64 generators started from each of `state` (uint64)."""
    with np.errstate(over="ignore"):
        return mix64(state + np.uint64((i * _GAMMA) & _MASK64))


def unit_interval(bits: np.ndarray) -> np.ndarray:
    """Uniform numbers in [0, 1) from 64-bit hashes: the top 53 bits, exactly representable."""
    return (bits >> np.uint64(11)).astype(np.float64) * 2.0**-53


def key_states(seed: int, keys: np.ndarray) -> np.ndarray:
    """Each key's SplitMix64 state: the first output from the key, XOR the second from the seed.

    For a fixed seed distinct keys get distinct states (the output function is a bijection).
    Both halves are mixed, and by different outputs, so another seed is no relabelling of small
    keys: with key XOR seed, or the same output for both, seed 0's key 1 would be seed 1's key 0.
    """
    seed_part = splitmix64_output(np.uint64(seed & _MASK64), 2)
    return splitmix64_output(np.asarray(keys, dtype=np.int64).astype(np.uint64), 1) ^ seed_part


class GroundTruth:
    """The true logit of every key of one model:

        truth_k(t) = mu_k + drift_amplitude * sin(2 pi t / T_k + phi_k),

    mu_k ~ Normal(0, spread^2), T_k ~ Uniform[drift_period_s / 2, 2 drift_period_s),
    phi_k ~ Uniform[0, 2 pi), independent across keys and of each other. Stateless.
    """

    def __init__(self, seed: int, drift_amplitude: float, drift_period_s: float, spread: float):
        if not (math.isfinite(drift_amplitude) and drift_amplitude >= 0):
            raise ValueError(f"drift_amplitude must be finite and >= 0, got {drift_amplitude}")
        if not (math.isfinite(drift_period_s) and drift_period_s > 0):
            raise ValueError(f"drift_period_s must be finite and > 0, got {drift_period_s}")
        if not (math.isfinite(spread) and spread >= 0):
            raise ValueError(f"spread must be finite and >= 0, got {spread}")
        self.seed = seed
        self.drift_amplitude = drift_amplitude
        self.drift_period_s = drift_period_s
        self.spread = spread

    def parameters(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each key's mean mu_k, period T_k (seconds) and phase phi_k (float64, shaped as `keys`)."""
        state = key_states(self.seed, keys)
        u1 = unit_interval(splitmix64_output(state, _MEAN_U1))
        u2 = unit_interval(splitmix64_output(state, _MEAN_U2))
        # Box-Muller; 1 - u1 is in (0, 1], so the logarithm is finite.
        mean = self.spread * np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2)
        period = self.drift_period_s * (0.5 + 1.5 * unit_interval(splitmix64_output(state, _PERIOD)))
        phase = 2.0 * np.pi * unit_interval(splitmix64_output(state, _PHASE))
        return mean, period, phase

    def value(self, keys: np.ndarray, t: float | np.ndarray) -> np.ndarray:
        """The true logits of `keys` at time(s) `t` (a scalar, or an array broadcast with `keys`,
        e.g. one time per request)."""
        mean, period, phase = self.parameters(keys)
        return mean + self.drift_amplitude * np.sin(2.0 * np.pi * np.asarray(t, dtype=np.float64) / period + phase)
