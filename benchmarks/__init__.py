"""Benchmarks of the simulator's speed and memory (issue 8): `python -m benchmarks`.

Each case is a scenario file with `--set` overrides, run in a fresh process so that its peak
RSS is its own; docs/performance.md shows the table this command writes.
"""
