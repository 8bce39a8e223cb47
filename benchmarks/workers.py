"""Whether pool workers stay as large as one run: `python -m benchmarks.workers [--runs N] [--mode M]`.

Runs N small runs (ekko_basic, 20,000 keys in 8 shards, 0.1 simulated seconds) on the pool of
`ekkosim.pool` at 2 workers, samples every worker's RSS every 10 ms (psutil), and prints one
JSON line: the mode, the runs, the wall time and the largest worker RSS. The modes compare the
shipped mechanism with the two ways issue 17 offered:

- `collect` (shipped): the worker collects the run's garbage after each run;
- `none`: no collection (what the pool did before: the frozen-then-thawed world of each run
  waits for a full collection that seldom comes);
- `max-tasks`: no collection, but a fresh worker per run (`max_tasks_per_child=1`, which Python
  allows only with the spawn or forkserver start methods; forkserver, ekkosim preloaded).
"""

from __future__ import annotations

import json
import multiprocessing
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import psutil

from benchmarks.measure import Parser
from ekkosim import pool
from ekkosim.cli import count

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "ekko_basic.yaml"
SMALL_RUN = ("workload.duration=0.05s", "sync.drain=0.05s", "models[0].keys=20000", "models[0].shards=8",
             "sync.cache_size=256")


def _no_collection() -> None:
    pool.gc.collect = lambda *args: 0  # in each worker: the pool's collection after a run does nothing


def _configure(mode: str) -> None:
    if mode != "collect":
        pool._ignore_interrupts = _no_collection  # the pool's worker initializer
    if mode == "max-tasks":
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["ekkosim.runner"])
        pool.ProcessPoolExecutor = partial(ProcessPoolExecutor, max_tasks_per_child=1, mp_context=context)


def peak_worker_rss(jobs: list[pool.Job], workers: int = 2) -> tuple[list[pool.Outcome], int]:
    """Run `jobs` on the pool; their outcomes, and the largest RSS any worker reached (sampled
    every 10 ms)."""
    peaks: dict[int, int] = {}
    done = threading.Event()

    def sample() -> None:
        me = psutil.Process()
        while not done.is_set():
            for child in me.children(recursive=True):
                try:
                    peaks[child.pid] = max(peaks.get(child.pid, 0), child.memory_info().rss)
                except psutil.Error:
                    pass
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        outcomes = pool.run_jobs(jobs, workers=workers)
    finally:
        done.set()
        sampler.join()
    return outcomes, max(peaks.values())


def measure(runs: int, mode: str) -> dict:
    _configure(mode)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        jobs = [pool.Job(SCENARIO, (*SMALL_RUN, f"seed={i}"), Path(out) / str(i)) for i in range(runs)]
        outcomes, peak = peak_worker_rss(jobs)
    failed = [outcome.error for outcome in outcomes if outcome.error]
    return {"mode": mode, "runs": runs, "failed": len(failed), "wall_s": round(time.perf_counter() - started, 1),
            "peak_worker_rss_MiB": round(peak / 2**20)}


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="python -m benchmarks.workers", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=count, default=100)
    parser.add_argument("--mode", choices=["collect", "none", "max-tasks"], default="collect")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.runs, args.mode)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
