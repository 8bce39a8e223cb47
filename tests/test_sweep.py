"""`ekkosim sweep`: sweep files validated before any run, the points in order, runs on a process
pool or a Dask LocalCluster with the digests of `ekkosim run`, failures recorded, a killed sweep
resumed; and the results API, `ekkosim.load_run` and `ekkosim.load_sweep`."""

import hashlib
import json
import signal
import subprocess
import sys
import time

import pytest
import yaml

import ekkosim
from ekkosim.cli import main
from ekkosim.results.manifest import RunFolderError
from ekkosim.runner import resolved_yaml
from ekkosim.sweep import read_sweep
from tests.conftest import REPO, SCENARIOS

BASE = str(SCENARIOS / "ekko_basic.yaml")
# a run takes about a second
SHORT = {"workload.duration": "0.5s", "sync.drain": "0.5s", "models[0].workload.rate": 2000}


def _sweep_file(tmp_path, **fields) -> str:
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump({"scenario": BASE, "set": SHORT, **fields}, sort_keys=False))
    return str(path)


@pytest.mark.parametrize(("fields", "message"), [
    ({"gird": {"sync.pull_interval": ["1s"]}}, "gird: unknown field"),
    ({"scenario": None}, "scenario: Input should be a valid string, got None"),
    ({"grid": {"sync.pul_interval": ["1s"]}}, "grid: sync.pul_interval: unknown field"),
    ({"grid": {"sync.pull_interval": ["1s", "-2s"]}}, "grid: sync.pull_interval: must be > 0ns, got -2s"),
    ({"runs": [{}, {"sync.shard_version": "maybe"}]},
     "runs[1]: sync.shard_version: Input should be a valid boolean, got 'maybe'"),
    ({"runs": [{"seed": 3}]}, "runs[0].seed: the seed is set by `seeds`, not by an override"),
    ({"grid": {"a..b": [1]}}, "grid['a..b']: 'a..b' is not a dotted path such as topology.links[2].bandwidth"),
    ({"seeds": [1, "x"]}, "seeds[1]: Input should be a valid integer, got 'x'"),
    ({"set": {"topology.wan.bandwidth": "0Gbps"}}, "set: topology.wan.bandwidth: must be > 0bps, got 0Gbps"),
])
def test_a_bad_sweep_file_fails_at_once_naming_the_field(tmp_path, capsys, fields, message):
    sweep = _sweep_file(tmp_path, **fields)
    assert main(["sweep", sweep, "--out", str(tmp_path / "out")]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"error: {sweep}: {message}\n"
    assert not (tmp_path / "out").exists()  # no run started


def test_points_are_runs_by_grid_by_seeds_in_order(tmp_path):
    sweep = read_sweep(_sweep_file(
        tmp_path, runs=[{"sync.local_leader": False}, {"sync.local_leader": True}],
        grid={"topology.wan.bandwidth": ["1Gbps", "4800Mbps"]}, seeds=[1, 2]))
    assert sweep.name == "sweep"
    assert sweep.varied_paths == ["sync.local_leader", "topology.wan.bandwidth"]
    assert [(p.varied, p.seed) for p in sweep.points] == [
        ({"sync.local_leader": leader, "topology.wan.bandwidth": bandwidth}, seed)
        for leader in ("false", "true") for bandwidth in ("1Gbps", "4800Mbps") for seed in (1, 2)]
    first = sweep.points[0]
    assert first.overrides == ("workload.duration=0.5s", "sync.drain=0.5s", "models[0].workload.rate=2000",
                               "sync.local_leader=false",
                               "topology.wan.bandwidth=1Gbps", "seed=1")
    # the folder: the index, and a hash of the resolved scenario (so a changed run is not taken for done)
    digest = hashlib.sha256(resolved_yaml(ekkosim.load(BASE, list(first.overrides))).encode()).hexdigest()
    assert first.folder == f"000-{digest[:8]}"
    assert [p.folder[:4] for p in sweep.points] == [f"{i:03d}-" for i in range(8)]
    assert len({p.folder[4:] for p in sweep.points}) == 8
    assert [p.folder for p in read_sweep(tmp_path / "sweep.yaml").points] == [p.folder for p in sweep.points]


def test_dask_local_cluster_gives_the_digests_of_ekkosim_run(tmp_path, capfd):
    """The must-hold: a 4-run sweep on a LocalCluster of 2 workers, then each run alone."""
    sweep_file = _sweep_file(tmp_path, grid={"topology.wan.bandwidth": ["50Mbps", "4800Mbps"]}, seeds=[1, 2])
    out = tmp_path / "out"
    assert main(["sweep", sweep_file, "--out", str(out), "--scheduler", "local", "--workers", "2", "--quiet"]) == 0
    assert capfd.readouterr() == ("", "")  # no noise from the cluster, its workers or its shutdown
    table = ekkosim.load_sweep(out)
    assert table[["topology.wan.bandwidth", "seed", "status"]].values.tolist() == [
        ["50Mbps", 1, "complete"], ["50Mbps", 2, "complete"], ["4800Mbps", 1, "complete"], ["4800Mbps", 2, "complete"]]
    for row in table.to_dict("records"):
        alone = tmp_path / f"alone-{row['run']}"
        assert main(["run", BASE, *(f"--set={k}={v}" for k, v in SHORT.items()),
                     f"--set=topology.wan.bandwidth={row['topology.wan.bandwidth']}", "--seed", str(row["seed"]),
                     "--out", str(alone), "--quiet"]) == 0
        assert json.loads((alone / "summary.json").read_text())["digest"] == row["digest"]
        assert json.loads((out / row["folder"] / "summary.json").read_text())["digest"] == row["digest"]
    assert len(set(table["digest"])) == 4


def test_a_killed_sweep_reruns_only_the_missing_runs(tmp_path, capsys):
    """The must-hold: SIGKILL a sweep once its first run is complete; the rerun makes the rest."""
    sweep_file = _sweep_file(tmp_path, grid={"sync.pull_interval": ["10ms", "50ms", "200ms"]})
    folders = [tmp_path / "out" / point.folder for point in read_sweep(sweep_file).points]
    sweep = subprocess.Popen([sys.executable, "-m", "ekkosim", "sweep", sweep_file, "--out", str(tmp_path / "out"),
                              "--workers", "1", "--quiet"], cwd=REPO)
    deadline = time.monotonic() + 120
    try:
        while not (folders[0] / "summary.json").exists():
            assert sweep.poll() is None, "the sweep ended before it was killed"
            assert time.monotonic() < deadline, "the first run did not complete"
            time.sleep(0.01)
        sweep.send_signal(signal.SIGKILL)
    finally:
        sweep.kill()  # if an assertion above stopped the test; a no-op once killed
        sweep.wait()
    assert sweep.returncode == -signal.SIGKILL
    assert [(f / "summary.json").exists() for f in folders] == [True, False, False]
    assert not (tmp_path / "out" / "sweep.parquet").exists()  # written at the end only
    first = folders[0] / "summary.json"
    before = (first.read_text(), first.stat().st_mtime_ns)

    assert main(["sweep", sweep_file, "--out", str(tmp_path / "out"), "--workers", "1"]) == 0
    assert "sweep sweep: 3 runs, 1 already complete" in capsys.readouterr().out
    assert (first.read_text(), first.stat().st_mtime_ns) == before  # its wall time would differ had it run again
    table = ekkosim.load_sweep(tmp_path / "out")
    assert table["status"].tolist() == ["complete"] * 3
    assert table["folder"].tolist() == [f.name for f in folders]

    parquet = (tmp_path / "out" / "sweep.parquet").read_bytes()
    assert main(["sweep", sweep_file, "--out", str(tmp_path / "out"), "--quiet"]) == 0  # nothing left to run
    assert (tmp_path / "out" / "sweep.parquet").read_bytes() == parquet  # the same bytes, rewritten


def test_a_failing_run_is_recorded_and_the_others_go_on(tmp_path, capsys):
    sweep_file = _sweep_file(tmp_path, grid={"sync.pull_interval": ["10ms", "50ms"]})
    good, bad = (tmp_path / "out" / point.folder for point in read_sweep(sweep_file).points)
    assert main(["sweep", sweep_file, "--out", str(tmp_path / "out"), "--workers", "1", "--quiet", "--no-plots"]) == 0
    (bad / "summary.json").unlink()  # the run must be made again ...
    (bad / "notes.txt").write_text("not a run")  # ... and cannot use its folder, which holds a file not its own
    assert main(["sweep", sweep_file, "--out", str(tmp_path / "out"), "--workers", "1", "--no-plots"]) == 3
    printed = capsys.readouterr()
    assert "2 runs, 1 already complete" in printed.out
    assert printed.err == (f"error: 1 of 2 runs failed: {bad.name} "
                           f"(errors in {tmp_path / 'out' / 'sweep.parquet'})\n")
    table = ekkosim.load_sweep(tmp_path / "out")
    assert table["status"].tolist() == ["complete", "failed"]
    assert table["error"].isna().tolist() == [True, False]
    assert table["error"][1] == (f"RunFolderError: {bad}: holds 1 entry that ekkosim did not write ('notes.txt'; "
                                 "its manifest.json does not list it): choose another --out")
    assert table["digest"].isna().tolist() == table["cross_dc_latency_s"].isna().tolist() == [False, True]
    # the leading columns, then the summary's numbers flattened; no wall time, so the bytes are deterministic
    assert list(table.columns[:8]) == ["run", "folder", "sync.pull_interval", "sync.pull_interval [s]", "seed",
                                       "status", "error", "digest"]
    # an override as written, and in SI units
    assert table["sync.pull_interval"].tolist() == ["10ms", "50ms"]
    assert table["sync.pull_interval [s]"].tolist() == [0.01, 0.05]
    # the printed table shows each run's headline figures beside its overrides
    summary = json.loads((good / "summary.json").read_text())
    row = next(line for line in printed.out.splitlines() if good.name in line)
    assert f"{summary['cross_dc_latency_s']:.4g}" in row and f"{summary['latency_s']['p99']:.4g}" in row
    assert "cross-DC latency mean s" in printed.out and "…" not in printed.out  # a pipe gets the full width
    assert {"latency_s.mean", "latency_by_dc_s.frankfurt.p99", "converged"} <= set(table.columns)
    assert "wall_time_s" not in table.columns and "scenario" not in table.columns

    # the results API on the complete run; the failed one is refused
    run = ekkosim.load_run(good)
    assert run.summary == json.loads((good / "summary.json").read_text())
    assert run.scenario.sync.pull_interval == 0.01 and run.scenario.workload.duration == 0.5
    assert len(run.latency) == run.summary["latency_s"]["count"]
    assert run.latency["latency_s"].mean() == pytest.approx(run.summary["latency_s"]["mean"], rel=1e-12)
    assert len(run.flows) == run.summary["flows"]
    assert run.timeseries["bytes"].sum() > 0
    assert run.quality is None  # ekko_basic has no quality model
    assert table["digest"][0] == run.summary["digest"]
    with pytest.raises(RunFolderError,
                       match=r"not a finished run \(no summary.json; a run that stopped leaves INCOMPLETE\)"):
        ekkosim.load_run(bad)
    with pytest.raises(RunFolderError, match="not a finished sweep"):
        ekkosim.load_sweep(tmp_path)

    (bad / "notes.txt").unlink()  # the cause fixed, the rerun makes the failed run only
    assert main(["sweep", sweep_file, "--out", str(tmp_path / "out"), "--workers", "1"]) == 0
    assert "2 runs, 1 already complete" in capsys.readouterr().out
    assert ekkosim.load_sweep(tmp_path / "out")["status"].tolist() == ["complete", "complete"]
