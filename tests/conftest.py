"""Shared test helpers: small scenarios built in code, and running the CLI as a user would."""

from __future__ import annotations

import copy
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import settings

# Property tests draw the same examples on every run, so the suite passes or fails the same way
# each time; HYPOTHESIS_PROFILE=explore draws fresh ones to search for new counterexamples (add
# any found as an @example).
settings.register_profile("deterministic", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = REPO / "scenarios"
# The paper's calibration lives beside the testbed it fits (`ekkosim calibrate` runs it); every
# other YAML file under scenarios/ is a scenario.
PAPER_CALIBRATION = SCENARIOS / "paper" / "calibration.yaml"


def shipped_scenarios() -> list[Path]:
    """Every scenario file shipped under scenarios/, sorted."""
    return sorted(path for path in SCENARIOS.rglob("*.yaml") if path != PAPER_CALIBRATION)

SMALL = {
    "name": "small",
    "seed": 3,
    "strategy": "offline",
    "offline": {"checkpoint_time": "0s", "validation_time": "0s"},
    "models": [{"name": "m", "keys": 1_000_000, "value_bytes": "1kB"}],  # 1 GB
    "topology": {
        "wan": {"bandwidth": "8Gbps", "latency": "10ms"},
        "datacenters": [
            {"name": "train", "role": "training", "servers": 1, "nic": "10Gbps"},
            {"name": "a", "role": "inference", "servers": 1, "nic": "10Gbps"},
            {"name": "b", "role": "inference", "servers": 1, "nic": "10Gbps"},
        ],
    },
}


def interrupted_in_compiled_code(*args, **kwargs):
    """A stand-in for any function, stopped by Ctrl-C inside a compiled loop: Numba's dispatcher
    turns the KeyboardInterrupt into a SystemError caused by it."""
    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt as err:
        raise SystemError("CPUDispatcher(...) returned a result with an exception set") from err


@pytest.fixture
def small() -> dict:
    """A fresh copy of a small valid scenario, as raw data to modify."""
    return copy.deepcopy(SMALL)


@pytest.fixture
def write_scenario(tmp_path):
    """Write raw scenario data (or text) to a YAML file and return its path."""

    def write(data, name: str = "scenario.yaml") -> Path:
        path = tmp_path / name
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
        return path

    return write


def run_cli(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run `python -m ekkosim ARGS` in a subprocess, as a user's shell would."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "ekkosim", *args], capture_output=True, text=True, env=full_env, cwd=cwd or REPO,
        timeout=300,
    )


@pytest.fixture
def small_scenarios(tmp_path):
    """A scenarios folder whose testbed is a small stand-in, so the tables run in seconds."""
    folder = tmp_path / "scenarios"
    (folder / "paper").mkdir(parents=True)
    testbed = yaml.safe_load((SCENARIOS / "ekko_basic.yaml").read_text())
    testbed["workload"]["duration"] = "2s"
    testbed["sync"]["drain"] = "1s"
    (folder / "paper" / "testbed.yaml").write_text(yaml.safe_dump(testbed))
    shutil.copy(SCENARIOS / "broadcast_800s.yaml", folder / "broadcast_800s.yaml")
    return folder


class Hang(BaseException):  # not an Exception: the CLI's last line of defence must not catch it
    """A case that did not end within its time limit."""


def call_cli(capsys, *argv: str, timeout_s: float = 30.0) -> tuple[int, str, str]:
    """Run `ekkosim ARGV` in-process (`ekkosim.cli.main`): (exit code, stdout, stderr). A case
    still running after `timeout_s` raises Hang (a SIGALRM; tests run in the main thread)."""
    from ekkosim import cli

    def hang(signum, frame):
        raise Hang(f"ekkosim {' '.join(argv)[:200]} still running after {timeout_s} s")

    previous = signal.signal(signal.SIGALRM, hang)
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        code = cli.main(list(argv))
    except SystemExit as stop:  # argparse's usage errors
        code = stop.code
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    out, err = capsys.readouterr()
    return code, out, err
