"""The benchmark cases: a scenario file and `--set` overrides each, grouped into series.

- `paper_*`: the calibrated paper testbed (`scenarios/paper/testbed.yaml`) as shipped, each row of
  the ablation a full run of 120 simulated seconds (issue 16: at least 2x faster than real time).
- `testbed_*`: the paper testbed as shipped until 2026-12-05 (`testbed_dense.yaml`, on which issue
  15's targets and the earlier measurements are defined) and its ablation, 60 simulated seconds.
- `production`: Ekko's real size (`production.yaml`), 60 simulated seconds, the best of three runs.
- The scaling series vary one thing of `scaling.yaml` at a time: servers, keys (the model's size),
  shards, update rate.
- `testbed_hour`: memory over a simulated hour.
- `floor_*`, `per_event_production`: not runs of the simulator but the floor of a scenario's
  workload (`floor.py`) and what a pull and a delivered key cost (`per_event.py`).

`--quick` shrinks every case to seconds (a smoke test, not a measurement)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ekkosim.reproduce import ABLATION

HERE = Path(__file__).resolve().parent
PAPER_TESTBED = HERE.parent / "scenarios" / "paper" / "testbed.yaml"
PRODUCTION = HERE / "production.yaml"
SCALING_KEYS = 1_000_000  # models[0].keys of scaling.yaml
MINUTE_S = 60.0


@dataclass(frozen=True)
class Case:
    """One benchmark: `scenario` with `overrides`; `series` and `x` place it on a scaling plot;
    `rss_at_s` are simulated times at which to note the peak RSS so far."""

    name: str
    scenario: Path
    overrides: tuple[str, ...]
    series: str | None = None
    x: float | None = None
    rss_at_s: tuple[float, ...] = ()
    program: str = "measure"  # the module of benchmarks/ that measures it: measure, floor or per_event
    arguments: tuple[str, ...] = ()  # the program's own options
    runs: int = 1  # runs of it, the one of least CPU kept (a run of seconds varies by a tenth or more)


def _sixty_seconds(drain_s: float) -> tuple[str, ...]:
    """60 simulated seconds: updates for 60 s less the drain, then the drain."""
    return (f"workload.duration={MINUTE_S - drain_s:g}s", f"sync.drain={drain_s:g}s")


def cases(quick: bool = False) -> list[Case]:
    """Every case, in the order they run; `quick` gives the smoke-test sizes."""
    testbed, scaling = HERE / "testbed_dense.yaml", HERE / "scaling.yaml"
    short = ("workload.duration=1s", "sync.drain=1s")
    duration = short if quick else _sixty_seconds(10.0)
    paper = (*short, "models[0].keys=1000000", "models[0].shards=3000") if quick else ()
    listed = [Case(f"paper_{folder}", PAPER_TESTBED, (*switches, *paper)) for _, _, switches, folder in reversed(ABLATION)]
    listed += [
        Case(f"testbed_{folder}", testbed, (*switches, *duration))
        for _, _, switches, folder in reversed(ABLATION)  # full Ekko first
    ]
    # A run's CPU time varies by a tenth from run to run of the same events (the machine's caches
    # and memory are shared), more than most changes gain: the scaling series' ratios and
    # production's budget are each judged on the best of three runs, every run's time reported
    # (the largest servers case, minutes long, runs once).
    best_of = 1 if quick else 3
    production = ("topology.datacenters[*].servers=5", "models[0].shards=50", "models[0].keys=100000") if quick else ()
    # its peak RSS noted every 10 simulated s: the rows grow while the trainers write (50 s)
    listed.append(Case("production", PRODUCTION, (*short, *production) if quick else (),
                       rss_at_s=() if quick else (10, 20, 30, 40, 50, 60), runs=best_of))
    # per DC, 2 DCs; ten shards per server, and an update cache the size of a shard (a replica's
    # cache buffer is twice its capacity, whatever the shard's size: 30,000 replicas of 32,768
    # entries would be 30 GB)
    servers = (15, 150) if quick else (15, 150, 1500)
    listed += [
        Case(f"servers_{2 * n}", scaling, (*duration, f"topology.datacenters[*].servers={n}", f"models[0].shards={10 * n}",
                                           f"sync.cache_size={-(-SCALING_KEYS // (10 * n))}"), "servers", 2 * n,
             runs=1 if n == servers[-1] else best_of)
        for n in servers
    ]
    keys = (10**5, 10**6) if quick else (10**6, 10**8, 10**10)
    listed += [Case(f"keys_1e{len(str(k)) - 1}", scaling, (*duration, f"models[0].keys={k}"), "keys", k, runs=best_of)
               for k in keys]
    shards = (10**3, 10**4) if quick else (10**3, 10**4, 10**5)
    listed += [Case(f"shards_1e{len(str(n)) - 1}", scaling, (*duration, f"models[0].shards={n}"), "shards", n,
                    runs=best_of) for n in shards]
    rates = (1, 4) if quick else (1, 4, 16)
    base_rate = 100_000
    listed += [Case(f"rate_x{r}", scaling, (*duration, f"models[0].workload.rate={r * base_rate}"), "update rate", r,
                    runs=best_of) for r in rates]
    hour = (2.0, 3.0, 4.0) if quick else (10 * MINUTE_S, 30 * MINUTE_S, 60 * MINUTE_S)
    listed.append(Case("testbed_hour", testbed, (f"workload.duration={hour[-1]:g}s", "sync.drain=0s", *LIGHT), rss_at_s=hour))
    # the least work each testbed's workload demands (benchmarks/floor.py), and what a pull and a
    # delivered key cost at production's size (benchmarks/per_event.py)
    floor_s = ("--seconds", "1" if quick else "10")
    listed += [Case("floor_paper_testbed", PAPER_TESTBED, paper, program="floor", arguments=floor_s),
               Case("floor_testbed_dense", testbed, (), program="floor", arguments=floor_s),
               Case("floor_production", PRODUCTION, production, program="floor", arguments=floor_s),
               Case("per_event_production", PRODUCTION, production, program="per_event",
                    arguments=("--seconds", "0.2" if quick else "2", "--repeats", str(best_of)))]
    return listed


# The hour-long memory case runs the testbed's sizes (10 DCs of 3 servers, 10^6 keys in 30
# shards, 3 copies per DC) with lighter traffic than its 3.9 million updates a second and pulls
# every 50 ms, so that the hour simulates in minutes: 10,000 updates a second in batches of a
# second, a pull every 2 s.
LIGHT = ("models[0].workload.rate=10000", "workload.batch_interval=1s", "sync.pull_interval=2s")
