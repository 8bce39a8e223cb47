"""Running many runs at once: `ekkosim reproduce` and `ekkosim sweep` both run their runs here.

A job is a scenario file, its `--set` overrides and its run folder. Jobs run one after another
(`workers` 1), on a local process pool (`workers` > 1), or on Dask: the scheduler at an address,
or a LocalCluster of `workers` processes (`scheduler="local"`). A job that fails is reported
with its error and the others go on. Each job loads its scenario where it runs, so a Dask
cluster's workers need ekkosim, the scenario files and the output folder at the same paths.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from ekkosim.scenario.load import load

LOCAL = "local"  # `scheduler`: a Dask LocalCluster on this machine


@dataclass(frozen=True)
class Job:
    """A run to make: the scenario file, its overrides, and the folder the run writes (with its
    figures, if `plots`)."""

    scenario: Path
    overrides: tuple[str, ...]
    folder: Path
    plots: bool = True


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
        return JobResult(run(load(job.scenario, list(job.overrides)), job.folder, plots=job.plots))
    except Exception as err:  # noqa: BLE001 - the job's end, reported with the others' results
        return JobResult(None, f"{type(err).__name__}: {err}")


def run_jobs(jobs: list[Job], workers: int = 2, scheduler: str | None = None,
             progress: Callable[[int, int], None] = lambda done, total: None) -> list[JobResult]:
    """Run `jobs`, `workers` at a time; their results in job order. `progress(done, total)` is called
    before the first starts and as each ends."""
    progress(0, len(jobs))
    if scheduler is None and workers <= 1:
        results = []
        for job in jobs:
            results.append(run_job(job))
            progress(len(results), len(jobs))
        return results
    if not jobs:  # no pool or cluster to start
        return []
    ended: dict[int, JobResult] = {}
    with _executor(scheduler, workers) as (submit, completed):
        futures = {submit(run_job, job): i for i, job in enumerate(jobs)}
        for future in completed(futures):
            ended[futures[future]] = future.result()
            progress(len(ended), len(jobs))
    return [ended[i] for i in range(len(jobs))]


@contextmanager
def _executor(scheduler: str | None, workers: int) -> Iterator[tuple[Callable, Callable]]:
    """(submit, as_completed) of a local process pool, or of a Dask client."""
    if scheduler is None:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            yield pool.submit, as_completed
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
            yield partial(client.submit, pure=False), dask_completed
        return
    try:
        client = Client(scheduler, timeout="10s")
    except (OSError, TimeoutError, ValueError) as err:
        raise SchedulerError(f"--scheduler {scheduler}: cannot connect: {err}") from None
    with client:
        yield partial(client.submit, pure=False), dask_completed
