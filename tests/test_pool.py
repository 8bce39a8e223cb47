"""The pool that `sweep` and `reproduce` run their runs on: workers stay as large as one run,
and Ctrl-C stops everything (pending runs cancelled, running ones left INCOMPLETE, exit 130,
one line, within 5 s), checked with real signals on real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from benchmarks.workers import peak_worker_rss
from ekkosim import pool
from ekkosim.pool import Job, JobResult
from ekkosim.simulation import load_compiled_loops
from tests.conftest import REPO, SCENARIOS, interrupted_in_compiled_code

# A run of a few hundred milliseconds whose world (16,000 keys in 6 copies, its processes and
# events) is some megabytes: a worker that kept each run would grow by that much per run.
SMALL_RUN = ("workload.duration=0.02s", "sync.drain=0.02s", "models[0].keys=16000", "models[0].shards=2",
             "sync.cache_size=64", "output.latency_sample=16")


def test_workers_stay_within_one_runs_peak(tmp_path):
    """The must-hold: 100 small runs at 2 workers, each worker within 1.5x of one run's peak
    (without the collection after each run, a worker ends at about 2.4x)."""
    def jobs(n: int, under: str) -> list[Job]:
        return [Job(SCENARIOS / "ekko_basic.yaml", (*SMALL_RUN, f"seed={i}"), tmp_path / under / str(i)) for i in range(n)]

    outcomes, one_run = peak_worker_rss(jobs(2, "one"))  # one run in each worker
    assert [outcome.error for outcome in outcomes] == [None, None]
    outcomes, hundred = peak_worker_rss(jobs(100, "hundred"))
    assert [outcome.error for outcome in outcomes] == [None] * 100
    assert hundred <= 1.5 * one_run, (hundred / 2**20, one_run / 2**20)


# --- Ctrl-C ----------------------------------------------------------------------------------

LONG = {"workload.duration": "600s"}  # runs that cannot end before the signal


def test_a_job_stopped_inside_compiled_code_is_interrupted_not_failed(tmp_path, monkeypatch):
    """Ctrl-C inside Numba's dispatcher (a compiled loop called outside the runner's deferral of
    Ctrl-C) comes out as a SystemError caused by the KeyboardInterrupt: the job stops the others,
    where any other error is the job's own result and the next job runs."""
    job = Job(SCENARIOS / "ekko_basic.yaml", SMALL_RUN, tmp_path / "run")
    monkeypatch.setattr(pool, "load", interrupted_in_compiled_code)
    with pytest.raises(KeyboardInterrupt):
        pool.run_jobs([job, job], workers=1)

    def failed(*args, **kwargs):
        raise SystemError("a bug")

    monkeypatch.setattr(pool, "load", failed)
    assert pool.run_jobs([job], workers=1) == [JobResult(None, "SystemError: a bug")]


@pytest.fixture
def compiled_loops() -> None:
    """Numba's cache of the compiled loops filled, as after a first run. On a cold cache (a fresh
    checkout) a run's build compiles them, for seconds, and Ctrl-C waits for that
    (`ekkosim.simulation.Simulation`), not for the 5 s these tests allow."""
    load_compiled_loops()


def _start(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "ekkosim", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=cwd, env={**os.environ, "PYTHONPATH": str(REPO)},
        # its own session, so that the signal can go to its whole process group, as a terminal's
        # Ctrl-C does; and SIGINT as a terminal leaves it (a shell starts background jobs ignoring it)
        start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _interrupt(process: subprocess.Popen, out: Path, running: int, whole_group: bool) -> tuple[str, float]:
    """Wait until `running` runs have started simulating in `out`, send SIGINT, and return the
    command's stderr and how long it took to end."""
    deadline = time.monotonic() + 120
    while len(list(out.rglob("scenario.resolved.yaml"))) < running:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the runs did not start"
        time.sleep(0.05)
    time.sleep(0.5)
    sent = time.monotonic()
    if whole_group:
        os.killpg(process.pid, signal.SIGINT)
    else:
        process.send_signal(signal.SIGINT)
    try:
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    took = time.monotonic() - sent
    left = subprocess.run(["pgrep", "-s", str(process.pid)], capture_output=True, text=True).stdout.split()
    assert left == [], f"processes left behind: {left}"
    return stderr, took


def _stopped(out: Path, started: int) -> None:
    """No run finished; each that started is marked INCOMPLETE."""
    assert list(out.rglob("summary.json")) == []
    assert len(list(out.rglob("INCOMPLETE"))) >= started


@pytest.mark.parametrize(("workers", "whole_group"), [(1, True), (2, True), (2, False)],
                         ids=["1 worker, terminal", "2 workers, terminal", "2 workers, kill -INT"])
def test_ctrl_c_stops_a_sweep(tmp_path, compiled_loops, workers, whole_group):
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(yaml.safe_dump({"scenario": str(SCENARIOS / "ekko_basic.yaml"), "set": LONG,
                                     "seeds": [1, 2, 3, 4, 5]}))
    out = tmp_path / "out"
    process = _start(["sweep", str(sweep), "--out", str(out), "--workers", str(workers)], tmp_path)
    stderr, took = _interrupt(process, out, workers, whole_group)
    assert process.returncode == 130, stderr
    assert stderr == f"interrupted; the complete runs stay in {out}, and a rerun makes the others\n"
    assert took < 5
    _stopped(out, workers)
    assert len([p for p in out.iterdir() if p.is_dir() and any(p.iterdir())]) == workers  # the pending never started


@pytest.fixture
def long_testbed(tmp_path) -> Path:
    """A scenarios folder whose testbed is ekko_basic, ten simulated minutes long."""
    folder = tmp_path / "scenarios"
    (folder / "paper").mkdir(parents=True)
    testbed = yaml.safe_load((SCENARIOS / "ekko_basic.yaml").read_text())
    testbed["workload"]["duration"] = "600s"
    (folder / "paper" / "testbed.yaml").write_text(yaml.safe_dump(testbed))
    return folder


@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_stops_reproduce(tmp_path, compiled_loops, long_testbed, workers):
    out = tmp_path / "out"
    process = _start(["reproduce", "ablation", "--scenarios", str(long_testbed), "--out", str(out),
                      "--workers", str(workers)], tmp_path)
    stderr, took = _interrupt(process, out, workers, whole_group=True)
    assert process.returncode == 130, stderr
    assert stderr == "ekkosim: interrupted; the runs that had not finished are marked INCOMPLETE\n"
    assert took < 5
    _stopped(out, workers)
