"""Running many runs at once: `ekkosim reproduce` and `ekkosim sweep` both run their runs here.

A job is a scenario file, its `--set` overrides and its run folder. Jobs run one after another
(`workers` 1), on a local process pool (`workers` > 1), or on Dask: the scheduler at an address,
or a LocalCluster of `workers` processes (`scheduler="local"`). A job that fails is reported
with its error and the others go on. Each job loads its scenario where it runs, so a Dask
cluster's workers need ekkosim, the scenario files and the output folder at the same paths.

Two things every caller gets from here:

- A worker stays as large as one run: after each job it collects the run's garbage at once.
  (`Simulation.run` freezes the world out of the cyclic collector; thawed, its cycles would
  otherwise wait for a full collection that a worker making one run after another seldom
  reaches, and the runs pile up: 2.5 GB after 12 runs of 357 MB.)
- Ctrl-C stops everything: the jobs not started are cancelled, the running ones are ended at
  once (their folders keep `INCOMPLETE`), and KeyboardInterrupt reaches the caller within a
  second or so. Workers ignore SIGINT themselves (a terminal sends it to every process of the
  group), so that only the parent decides what stops, and a second Ctrl-C cannot interrupt
  the stopping.
"""

from __future__ import annotations

import gc
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from ekkosim.kernel import caused_by_interrupt
from ekkosim.scenario.footprint import DEFAULT_LIMIT_BYTES
from ekkosim.scenario.load import load

LOCAL = "local"  # `scheduler`: a Dask LocalCluster on this machine


@dataclass(frozen=True)
class Job:
    """A run to make: the scenario file, its overrides, the folder the run writes (with its
    figures, if `plots`), and what the user allowed its scenario (`ekkosim.scenario.validate`)."""

    scenario: Path
    overrides: tuple[str, ...]
    folder: Path
    plots: bool = True
    allow_code: bool = False
    max_memory: float = DEFAULT_LIMIT_BYTES


@dataclass(frozen=True)
class JobResult:
    """A job's end: its summary (as in summary.json), or the error that stopped it."""

    summary: dict | None
    error: str | None = None


class SchedulerError(ValueError):
    """Dask is wanted but cannot be used (not installed, or the scheduler cannot be reached)."""


def run_job(job: Job) -> JobResult:
    from ekkosim.runner import run  # here, so that the CLI's `validate` and `schema` start fast

    try:
        scenario = load(job.scenario, list(job.overrides), allow_code=job.allow_code, max_memory=job.max_memory)
        return JobResult(run(scenario, job.folder, plots=job.plots))
    except Exception as err:  # noqa: BLE001 - the job's end, reported with the others' results
        if caused_by_interrupt(err):  # Ctrl-C in compiled code: the run was stopped, not failed
            raise KeyboardInterrupt from err
        return JobResult(None, f"{type(err).__name__}: {err}")
    finally:
        gc.collect()  # the run's world, now garbage, before the next job


def run_jobs(jobs: list[Job], workers: int = 2, scheduler: str | None = None,
             progress: Callable[[int, int], None] = lambda done, total: None) -> list[JobResult]:
    """Run `jobs`, `workers` at a time; their results in job order. `progress(done, total)` is
    called before the first starts and as each ends. KeyboardInterrupt stops them all (see above)."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    progress(0, len(jobs))
    if scheduler is None and workers == 1:
        results = []
        for job in jobs:
            results.append(run_job(job))
            progress(len(results), len(jobs))
        return results
    if not jobs:  # no pool or cluster to start
        return []
    ended: dict[int, JobResult] = {}
    with _executor(scheduler, workers) as (submit, completed, stop):
        futures = {}
        try:
            for i, job in enumerate(jobs):
                futures[submit(run_job, job)] = i
            for future in completed(futures):
                ended[futures[future]] = future.result()
                progress(len(ended), len(jobs))
        except KeyboardInterrupt:
            _uninterrupted(lambda: stop(list(futures)))
            raise
    return [ended[i] for i in range(len(jobs))]


def _uninterrupted(action: Callable[[], None]) -> None:
    """Do `action` with SIGINT ignored: a second Ctrl-C must not break off the stopping."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread handles signals
        action()
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        action()
    finally:
        signal.signal(signal.SIGINT, previous)


def _ignore_interrupts() -> None:
    """A worker's start: SIGINT is its parent's to act on."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _stop_pool(pool: ProcessPoolExecutor, futures: list) -> None:
    """Cancel the jobs not started and end the workers now: their runs stop where they are."""
    for future in futures:
        future.cancel()
    for process in list(pool._processes.values()):  # noqa: SLF001 - Python 3.14's terminate_workers(), earlier
        process.terminate()
    pool.shutdown(wait=True, cancel_futures=True)


@contextmanager
def _executor(scheduler: str | None, workers: int) -> Iterator[tuple[Callable, Callable, Callable]]:
    """(submit, as_completed, stop) of a local process pool, or of a Dask client; `stop(futures)`
    cancels them and ends what runs."""
    if scheduler is None:
        with ProcessPoolExecutor(max_workers=workers, initializer=_ignore_interrupts) as pool:
            yield pool.submit, as_completed, partial(_stop_pool, pool)
        return
    try:
        from distributed import Client, LocalCluster  # only with --scheduler
        from distributed import as_completed as dask_completed
    except ImportError:
        raise SchedulerError("--scheduler needs Dask: pip install 'ekkosim[sweep]'") from None
    if scheduler == LOCAL:
        # no dashboard, and only errors from the cluster's own logging: the progress bar is ours
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                          silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
            yield partial(client.submit, pure=False), dask_completed, client.cancel
        return
    try:
        client = Client(scheduler, timeout="10s")
    except (OSError, TimeoutError, ValueError) as err:
        raise SchedulerError(f"--scheduler {scheduler}: cannot connect: {err}") from None
    with client:
        # a remote cluster's running tasks cannot be stopped from here: they finish, unrecorded
        yield partial(client.submit, pure=False), dask_completed, client.cancel
