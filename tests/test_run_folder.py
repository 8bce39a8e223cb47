"""A run folder holds the resolved scenario, the summary and tables, and never looks complete early."""

import json
import re
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest
import yaml

from ekkosim import simulation
from ekkosim.runner import run
from ekkosim.scenario import validate
from tests.conftest import REPO, SCENARIOS, run_cli


def test_run_folder_contents(small, tmp_path):
    summary = run(validate(small), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "flows.parquet", "links.png", "manifest.json", "scenario.resolved.yaml", "summary.json", "timeseries.parquet"]
    assert sorted(json.loads((tmp_path / "manifest.json").read_text())["files"]) == [
        "flows.parquet", "links.png", "scenario.resolved.yaml", "summary.json", "timeseries.parquet"]
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert on_disk == summary
    for key in ("ekkosim_version", "scenario", "seed", "strategy", "sim_time_s", "wall_time_s", "events",
                "digest", "bytes_wan", "bytes_lan", "model_ready_s"):
        assert key in summary
    resolved = yaml.safe_load((tmp_path / "scenario.resolved.yaml").read_text())
    assert resolved["topology"]["datacenters"][0]["lan_latency"] == "100us"  # a default, filled in

    flows = pq.read_table(tmp_path / "flows.parquet").to_pandas()
    assert len(flows) == summary["flows"] == 2
    assert flows["size_bytes"].sum() == summary["bytes_wan"] == 2e9
    assert (flows["end_s"] > flows["start_s"]).all()

    series = pq.read_table(tmp_path / "timeseries.parquet").to_pandas()
    wan = series[series["link"].str.startswith("wan/")]
    assert wan["bytes"].sum() == pytest.approx(2e9, rel=1e-9)  # each byte crosses one WAN link
    assert (series["utilisation"].dropna() <= 1 + 1e-9).all()


def test_interrupted_run_leaves_no_summary(small, tmp_path, monkeypatch):
    def interrupted(self, on_progress=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(simulation.Simulation, "run", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run(validate(small), tmp_path)
    assert not (tmp_path / "summary.json").exists()
    assert (tmp_path / "INCOMPLETE").exists()


def test_rerun_into_a_finished_folder_replaces_it(small, tmp_path, monkeypatch):
    run(validate(small), tmp_path)
    monkeypatch.setattr(simulation.Simulation, "run", lambda self, on_progress=None: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        run(validate(small), tmp_path)
    assert not (tmp_path / "summary.json").exists()  # the old summary does not vouch for new files


def test_cli_run_prints_per_dc_table(small, write_scenario, tmp_path):
    result = run_cli("run", str(write_scenario(small)), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert "model ready (s)" in result.stdout
    assert "1.610" in result.stdout


def test_cli_default_out_is_runs_name_seed(small, write_scenario, tmp_path):
    result = run_cli("run", str(write_scenario(small)), "--quiet", "--seed", "5", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "runs" / "small-5" / "summary.json").read_text())["seed"] == 5


def test_cli_schema_and_validate(small, write_scenario):
    schema = run_cli("schema")
    assert schema.returncode == 0
    assert "datacenters" in json.loads(schema.stdout)["$defs"]["Topology"]["properties"]
    checked = run_cli("validate", str(write_scenario(small)))
    assert checked.returncode == 0 and "ok" in checked.stdout


def test_usage_error_exits_2():
    result = run_cli("run")
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_bytes_still_moving_at_until_are_in_the_timeseries(small, tmp_path):
    # stopped at 1.01 s: each copy has moved 0.625 GB/s x 1 s over its WAN link
    small["until"] = "1.01s"
    run(validate(small), tmp_path)
    series = pq.read_table(tmp_path / "timeseries.parquet").to_pandas()
    wan = series[series["link"].str.startswith("wan/")]
    assert wan["bytes"].sum() == pytest.approx(2 * 0.625e9, rel=1e-9)


def test_rerun_with_another_strategy_leaves_no_file_of_the_first(small, tmp_path):
    small["strategy"] = "ekko"
    small["workload"] = {"duration": "0.5s"}
    small["models"][0].update(keys=1000, shards=2, workload={"rate": 100})
    run(validate(small), tmp_path)
    assert (tmp_path / "latency.parquet").exists()
    small["strategy"] = "offline"
    run(validate(small), tmp_path)
    assert not (tmp_path / "latency.parquet").exists()


def test_out_that_is_a_file_or_a_foreign_folder_exits_2(small, write_scenario, tmp_path):
    scenario = write_scenario(small)
    result = run_cli("run", str(scenario), "--out", str(scenario), "--quiet")
    assert result.returncode == 2 and "cannot use as a results folder" in result.stderr
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    result = run_cli("run", str(scenario), "--out", str(tmp_path / "mine"), "--quiet")
    assert result.returncode == 2 and "holds 1 entry that ekkosim did not write ('thesis.tex'" in result.stderr
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "precious"
    assert "Traceback" not in result.stderr


def test_until_on_an_event_instant_stops_there(small, tmp_path):
    small["strategy"] = "ekko"
    small["until"] = "100ms"  # the first trainer batch is pushed at exactly 100 ms
    small["models"][0].update(keys=1000, shards=2, workload={"rate": 100})
    summary = run(validate(small), tmp_path)
    assert summary["sim_time_s"] == 0.1 and summary["complete"] is False
    assert summary["converged"] is None  # not meaningful before the drain


def test_ctrl_c_stops_a_run_cleanly_and_leaves_it_marked_incomplete(tmp_path):
    out = tmp_path / "run"
    # ten simulated minutes of updates: far longer than the second before the signal
    process = subprocess.Popen([sys.executable, "-m", "ekkosim", "run", str(SCENARIOS / "faults.yaml"), "--out", str(out),
                                "--set", "workload.duration=600s"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
                               # a shell starts background jobs with SIGINT ignored, and Python keeps an
                               # ignored SIGINT: the run must get it as a terminal would send it
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    while not (out / "scenario.resolved.yaml").exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # until the simulation has started
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert re.search(r"interrupted at simulated t = [\d,.]+ s; \S+ is incomplete", stderr)  # stdout: results only
    assert "Traceback" not in stderr
    assert (out / "INCOMPLETE").exists() and not (out / "summary.json").exists()


def test_a_run_that_delivered_nothing_writes_a_latency_table_ekkosim_reads(tmp_path):
    """A pull interval longer than the run: no sampled update is delivered, and latency.parquet
    is an empty table of the usual columns (its names typed as strings, not nulls)."""
    from ekkosim.results.read import LATENCY_COLUMNS, read_table
    from ekkosim.run_files import LATENCY
    from tests.sync.test_ekko import tiny

    data = tiny(pull_interval="10s", drain="0s")
    data["workload"]["duration"] = "0.2s"
    summary = run(validate(data), tmp_path / "run")
    assert summary["cross_dc_latency_s"] is None and summary["undelivered"] > 0
    assert read_table(tmp_path / "run" / LATENCY, LATENCY_COLUMNS).num_rows == 0
