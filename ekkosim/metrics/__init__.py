"""Metrics computed while a run goes: update latency."""
