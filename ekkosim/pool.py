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
from pathlib import Path

from ekkosim.scenario.load import load

LOCAL = "local"  # `scheduler`: a Dask LocalCluster on this machine


@dataclass(frozen=True)
class Job:
    """A run to make: the scenario file, its overrides, and the folder the run writes."""

    scenario: Path
    overrides: tuple[str, ...]
    folder: Path


@dataclass(frozen=True)
class Outcome:
    """A job's end: its summary (as in summary.json), or the error that stopped it."""

    summary: dict | None
    error: str | None = None


class SchedulerError(ValueError):
    """Dask is wanted but cannot be used (not installed, or the scheduler cannot be reached)."""


def run_job(job: Job) -> Outcome:
    from ekkosim.runner import run  # noqa: PLC0415 - here, so that the CLI's `validate` and `schema` start fast

    try:
        return Outcome(run(load(job.scenario, list(job.overrides)), job.folder))
    except Exception as err:  # noqa: BLE001 - the job's end, reported with the others' outcomes
        return Outcome(None, f"{type(err).__name__}: {err}")


def run_jobs(jobs: list[Job], workers: int = 2, scheduler: str | None = None,
             done: Callable[[], None] = lambda: None) -> list[Outcome]:
    """Run `jobs`, `workers` at a time, calling `done` as each ends; outcomes in job order."""
    if not jobs:  # no pool or cluster to start
        return []
    outcomes: dict[int, Outcome] = {}
    if scheduler is not None:
        from distributed import as_completed as dask_completed  # noqa: PLC0415 - only with --scheduler

        with _dask_client(scheduler, workers) as client:
            futures = {client.submit(run_job, job, pure=False): i for i, job in enumerate(jobs)}
            for future in dask_completed(futures):
                outcomes[futures[future]] = future.result()
                done()
    elif workers <= 1:
        for i, job in enumerate(jobs):
            outcomes[i] = run_job(job)
            done()
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(run_job, job): i for i, job in enumerate(jobs)}
            for future in as_completed(futures):
                outcomes[futures[future]] = future.result()
                done()
    return [outcomes[i] for i in range(len(jobs))]


@contextmanager
def _dask_client(scheduler: str, workers: int) -> Iterator:
    try:
        from distributed import Client, LocalCluster  # noqa: PLC0415
    except ImportError:
        raise SchedulerError("--scheduler needs Dask: pip install 'ekkosim[sweep]'") from None
    if scheduler == LOCAL:
        # no dashboard, and only errors from the cluster's own logging: the progress bar is ours
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                          silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
            yield client
        return
    try:
        client = Client(scheduler, timeout="10s")
    except (OSError, TimeoutError, ValueError) as err:
        raise SchedulerError(f"--scheduler {scheduler}: cannot connect: {err}") from None
    with client:
        yield client
