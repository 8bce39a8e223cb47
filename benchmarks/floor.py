"""The least work a scenario's updates demand of a per-key simulation in NumPy:
`python -m benchmarks.floor [SCENARIO] [--set PATH=VALUE ...] [--seconds S]`.

Whatever the sync does, every update must be drawn, and every key it changes in a pull
interval (the keys of the batches that end in it, merged) must reach every other copy of its
shard: at the least one gather from a copy that holds it and one scatter into the copy that lacks
it, for each of the four columns that make a version and its value (time, origin, counter,
value). This measures just that, on the scenario's first model, for `--seconds` simulated
seconds of its workload:

- `draw`: the workload's own batches (`SyntheticWorkload.batch`: draws, key map, merge);
- `deliver`: the four gathers and four scatters of every changed key of each pull interval (or
  batch interval, if longer) into one receiving copy, all its shards at once (a server's copies
  in one set of arrays, rows found beforehand, untimed), times the number of receiving copies.

No comparison of versions, no update cache, no latency tracking, no network, no events, no
cost per shard or per pull: a floor under any per-key model of the scenario, not an estimate of
ours. Prints one JSON line with the CPU seconds of each part projected to 60 simulated seconds."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

from benchmarks.measure import cpu_s, seconds_command
from ekkosim.scenario.load import load
from ekkosim.workload.synthetic import SyntheticWorkload

TESTBED = Path(__file__).resolve().parent / "testbed_dense.yaml"
MINUTE_S = 60.0
COLUMNS = (np.float64, np.int16, np.int64, np.float64)  # a version (time, origin, counter) and its value


def floor(scenario_path: Path, overrides: list[str], seconds: float) -> dict:
    scenario = load(scenario_path, overrides, max_memory=math.inf)  # measured here, not refused by the estimate
    model = scenario.models[0]
    interval = scenario.workload.batch_interval
    workload = SyntheticWorkload(model, np.random.default_rng(scenario.seed))
    started = cpu_s()
    batches = [workload.batch(i * interval, (i + 1) * interval) for i in range(round(seconds / interval))]
    draw_s = cpu_s() - started

    per_pull = max(1, round(scenario.sync.pull_interval / interval))  # batches a pull finds at once
    changed = [np.unique(np.concatenate([b.keys for b in batches[i : i + per_pull]]))
               for i in range(0, len(batches), per_pull)]
    touched = np.unique(np.concatenate(changed))  # a row each in the sending and the receiving copy
    rows = [touched.searchsorted(keys) for keys in changed]
    holder = [np.zeros(touched.size, dtype=d) for d in COLUMNS]
    receiver = [np.zeros(touched.size, dtype=d) for d in COLUMNS]
    started = cpu_s()
    for pulled in rows:
        for src, dst in zip(holder, receiver):
            dst[pulled] = src[pulled]
    receivers = model.replicas * len(scenario.topology.datacenters) - 1
    deliver_s = (cpu_s() - started) * receivers

    scale = MINUTE_S / seconds
    changed_per_s = sum(keys.size for keys in changed) / seconds
    draw, deliver = draw_s * scale, deliver_s * scale
    return {
        "scenario": scenario.name,
        "simulated_s": seconds,
        "updates_per_s": sum(int(b.examples.sum()) for b in batches) / seconds,
        "changed_keys_per_s": changed_per_s,
        "receiving_copies": receivers,
        "deliveries_per_s": changed_per_s * receivers,
        "ns_per_delivery": deliver / (changed_per_s * receivers * MINUTE_S) * 1e9,
        "draw_cpu_s_per_60s": draw,
        "deliver_cpu_s_per_60s": deliver,
        "floor_cpu_s_per_60s": draw + deliver,
    }


def main(argv: list[str] | None = None) -> int:
    return seconds_command(argv, "floor", __doc__, TESTBED, 5.0, "simulated seconds of workload to measure", floor)


if __name__ == "__main__":
    sys.exit(main())
