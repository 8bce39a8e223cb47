"""Every input surface besides scenarios, fuzzed: run folders handed to `plot`, `load_run`, a
rerun and a resumed sweep (damaged, truncated, wrong types, directories, links, special files),
sweep files, `reproduce` options, `--out` targets, and special files wherever a file is read.

More than 1,000 generated cases in all (hypothesis, derandomized: the same cases each run).
Each runs in-process (`ekkosim.cli.main` or the API) under a time limit (SIGALRM), with the
simulations stubbed out where the surface is not the simulation (a sweep's and `reproduce`'s
runs); only a few special-file cases run as real subprocesses. Every case must end with exit
0, 2 or 3 (or a RunFolderError from the API), errors in short lines, no traceback, no hang, and
nothing outside the case's own folder written or deleted: each case keeps a `victim` folder
that links inside the damaged folders point at, and checks it afterwards.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import HealthCheck, currently_in_test_context, event, given, settings
from hypothesis import strategies as st

import ekkosim
from ekkosim import cli, pool, reproduce, sweep
from ekkosim.results.manifest import RunFolderError
from ekkosim.results.run_folder import RunFolder
from ekkosim.runner import run
from ekkosim.scenario import validate
from tests.conftest import REPO, SCENARIOS, SMALL, call_cli

TIME_LIMIT_S = 20


def fuzz(examples: int):
    return settings(max_examples=examples, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])


def tiny_ekko() -> dict:
    data = copy.deepcopy(SMALL) | {"strategy": "ekko", "workload": {"duration": "0.3s"}, "sync": {"drain": "0.3s"}}
    data["models"][0].update(keys=1000, shards=2, workload={"rate": 500})
    return data


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """Finished results to copy and damage: an ekko run, an offline run, a two-run sweep (offline),
    and a scenarios folder for `reproduce` whose runs are small."""
    root = tmp_path_factory.mktemp("base")
    run(validate(tiny_ekko()), root / "ekko")
    run(validate(copy.deepcopy(SMALL)), root / "offline")
    (root / "small.yaml").write_text(yaml.safe_dump(SMALL))
    (root / "sweep.yaml").write_text(yaml.safe_dump({"scenario": "small.yaml", "seeds": [1, 2]}))
    assert cli.main(["sweep", str(root / "sweep.yaml"), "--out", str(root / "swept"), "--quiet",
                             "--workers", "1"]) == 0
    (root / "scenarios" / "paper").mkdir(parents=True)
    (root / "scenarios" / "paper" / "testbed.yaml").write_text(yaml.safe_dump(tiny_ekko()))
    (root / "scenarios" / "broadcast_800s.yaml").write_text(yaml.safe_dump(SMALL))
    return root


@pytest.fixture
def no_runs(monkeypatch):
    """The runs a sweep or `reproduce` would make, not made: each job ends at once, recorded."""
    jobs: list = []

    def run_jobs(todo, workers=2, scheduler=None, progress=lambda done, total: None):
        jobs.extend(todo)
        return [pool.JobResult(None, "not run: the fuzz stubs the simulations") for _ in todo]

    monkeypatch.setattr(sweep, "run_jobs", run_jobs)
    monkeypatch.setattr(reproduce, "run_jobs", run_jobs)
    return jobs


# --- what must hold for every case -----------------------------------------------------------

LINE = re.compile(r"^(error: |ekkosim: |\S.*?: )\S")


def clean_end(code: int, err: str, allowed=(0, 2, 3)) -> None:
    if currently_in_test_context():  # --hypothesis-show-statistics shows how the cases ended
        event(f"exit {code}: {err.split(': ')[-1][:40] if code == 2 else ''}")
    assert "Traceback" not in err and "internal error" not in err, err
    assert code in allowed, (code, err)
    lines = err.splitlines()
    if code:
        assert lines, f"exit {code} without a message"
    for line in lines:
        assert LINE.match(line) and len(line) < 600, line


def one_line(err: Exception) -> None:
    assert "\n" not in str(err) and len(str(err)) < 600, str(err)


def victim(folder: Path) -> Path:
    """Files outside the results that links in them point at: they must stay as they are."""
    (folder / "victim" / "dir").mkdir(parents=True)
    (folder / "victim" / "file.txt").write_text("victim")
    (folder / "victim" / "dir" / "inner.txt").write_text("victim")
    return folder / "victim"


def victim_intact(folder: Path) -> None:
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) == ["dir", "dir/inner.txt", "file.txt"]
    assert (folder / "file.txt").read_text() == (folder / "dir" / "inner.txt").read_text() == "victim"


# --- damage ------------------------------------------------------------------------------------

RUN_FILES = ["summary.json", "scenario.resolved.yaml", "latency.parquet", "flows.parquet", "timeseries.parquet",
             "manifest.json", "INCOMPLETE", "quality.parquet"]
JSON_JUNK = ["[]", "{}", '{"digest": 5}', "null", '"x"', "1e400", "[" * 5000, "not json{", '{"a": NaN}',
             '{"scenario": "s", "seed": 1, "strategy": "ekko", "complete": true, "sim_time_s": 1, "digest": "d"}',
             '{"files": ["../victim/file.txt"], "folders": []}', '{"files": ["dir"], "folders": ["summary.json"]}',
             '{"files": [], "folders": ["../victim"]}', '{"files": "x", "folders": []}']
YAML_JUNK = ["a: &a [x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]",
             "name: x", "[", "{a: 1", "!!python/object:os.system x", "\x00", "- - -"]


def parquet(columns: dict) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table(columns), sink)
    return sink.getvalue().to_pybytes()


TABLE_JUNK = [
    {"x": [1.0]}, {"dc": ["a"], "latency_s": ["slow"]}, {"dc": [1], "latency_s": [0.1]},
    {"dc": ["a", "b"], "latency_s": [float("nan"), 0.1]}, {"dc": ["a"], "latency_s": [float("inf")]},
    {"dc": ["a"], "latency_s": [-1.0]}, {"dc": pa.array([], pa.string()), "latency_s": pa.array([], pa.float64())},
    {"dc": ["a", None], "latency_s": [0.1, None]}, {"dc": ["a"], "latency_s": [1e308]},
]

def damage_ops(files: list[str]):
    """One damage to one of `files` of a run folder (or a file or folder added to it)."""
    tables = [name for name in files if name.endswith(".parquet")]
    return st.one_of(
        st.tuples(st.just("delete"), st.sampled_from(files)),
        st.tuples(st.just("truncate"), st.sampled_from(files), st.integers(0, 400)),
        st.tuples(st.just("bytes"), st.sampled_from(files), st.binary(max_size=64)),
        st.tuples(st.just("json"), st.sampled_from(["summary.json", "manifest.json"]), st.sampled_from(JSON_JUNK)),
        st.tuples(st.just("yaml"), st.just("scenario.resolved.yaml"), st.sampled_from(YAML_JUNK)),
        st.tuples(st.just("table"), st.sampled_from(tables or ["latency.parquet"]), st.integers(0, len(TABLE_JUNK) - 1)),
        st.tuples(st.just("special"), st.sampled_from(files),
                  st.sampled_from(["dir", "fifo", "socket", "huge", "link-victim", "link-victim-dir", "link-zero",
                                   "link-dangling", "link-loop"])),
        st.tuples(st.just("foreign"), st.sampled_from(["README", "src/", ".hidden", "x" * 200])),
    )


damage_op = damage_ops(RUN_FILES)


def special(path: Path, kind: str, victims: Path) -> None:
    if kind == "dir":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        with socket.socket(socket.AF_UNIX) as server:
            server.bind(str(path))
    elif kind == "huge":
        with open(path, "wb") as file:
            file.truncate(3 * 2**30)  # sparse: costs no disk
    else:
        target = {"link-victim": victims / "file.txt", "link-victim-dir": victims / "dir", "link-zero": "/dev/zero",
                  "link-dangling": victims / "missing", "link-loop": path}[kind]
        os.symlink(target, path)


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif os.path.lexists(path):
        path.unlink()


def damage(folder: Path, ops: list, victims: Path) -> None:
    for op in ops:
        kind, name = op[0], op[1]
        path = folder / name.rstrip("/")
        if kind != "foreign":
            remove(path)
        if kind == "truncate" and (folder.parent / "pristine" / name).is_file():
            path.write_bytes((folder.parent / "pristine" / name).read_bytes()[: op[2]])
        elif kind == "bytes":
            path.write_bytes(op[2])
        elif kind in ("json", "yaml"):
            path.write_text(op[2])
        elif kind == "table":
            path.write_bytes(parquet(TABLE_JUNK[op[2]]))
        elif kind == "special":
            special(path, op[2], victims)
        elif kind == "foreign" and not os.path.lexists(path):
            path.mkdir() if name.endswith("/") else path.write_text("mine")


def damaged_copy(source: Path, ops: list, scratch: Path) -> tuple[Path, Path]:
    victims = victim(scratch)
    shutil.copytree(source, scratch / "pristine", symlinks=True)
    folder = scratch / "run"
    shutil.copytree(source, folder, symlinks=True)
    damage(folder, ops, victims)
    return folder, victims


run_folders = st.tuples(st.sampled_from(["ekko", "ekko", "offline"]), st.lists(damage_op, min_size=1, max_size=3))
# what plot reads: damage elsewhere would only make it draw the same plot again
plotted_folders = st.tuples(st.just("ekko"), st.lists(damage_ops(["summary.json", "latency.parquet", "INCOMPLETE"]),
                                                      min_size=1, max_size=3))


@pytest.mark.filterwarnings("error::RuntimeWarning")  # numpy's overflow in an axis limit, say: a case not refused
@fuzz(250)
@given(case=plotted_folders)
def test_plot_on_damaged_run_folders(base, capsys, case):
    source, ops = case
    with tempfile.TemporaryDirectory() as scratch:
        folder, victims = damaged_copy(base / source, ops, Path(scratch))
        code, _, err = call_cli(capsys, "plot", str(folder), "--out", str(Path(scratch) / "p.png"),
                                timeout_s=TIME_LIMIT_S)
        clean_end(code, err, (0, 2))
        victim_intact(victims)


@fuzz(250)
@given(case=run_folders)
def test_load_run_on_damaged_run_folders(base, case):
    source, ops = case
    with tempfile.TemporaryDirectory() as scratch:
        folder, victims = damaged_copy(base / source, ops, Path(scratch))
        try:
            loaded = ekkosim.load_run(folder)
            for table in ("latency", "flows", "timeseries", "quality"):
                try:
                    getattr(loaded, table)
                except RunFolderError as err:
                    one_line(err)
        except RunFolderError as err:
            one_line(err)
        victim_intact(victims)


@fuzz(120)
@given(case=run_folders)
def test_a_rerun_into_a_damaged_run_folder(base, case):
    """The folder as a run's --out: refused, or cleared of exactly its own files."""
    source, ops = case
    with tempfile.TemporaryDirectory() as scratch:
        folder, victims = damaged_copy(base / source, ops, Path(scratch))
        try:
            written = RunFolder(folder)
            written.write_text("scenario.resolved.yaml", "name: x\n")
            written.finish({"scenario": "x"})
        except RunFolderError as err:
            one_line(err)
        else:
            assert sorted(os.listdir(folder)) == ["manifest.json", "scenario.resolved.yaml", "summary.json"]
        victim_intact(victims)


sweep_damage = st.one_of(
    st.tuples(st.just("run"), st.integers(0, 1), damage_op),
    st.tuples(st.just("folder"), st.integers(0, 1),
              st.sampled_from(["delete", "file", "link-victim-dir", "link-dangling", "fifo"])),
    st.tuples(st.just("own"), st.sampled_from(["sweep.parquet", "manifest.json"]),
              st.sampled_from(["delete", "dir", "fifo", "link-victim", "junk", "truncate"])),
    st.tuples(st.just("foreign"), st.sampled_from(["notes.txt", "003-deadbeef"])),
)


@fuzz(150)
@given(ops=st.lists(sweep_damage, min_size=1, max_size=3))
def test_a_resumed_sweep_over_damaged_folders(base, capsys, no_runs, ops):
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        victims = victim(scratch)
        out = scratch / "swept"
        shutil.copytree(base / "swept", out, symlinks=True)
        runs = sorted(p.name for p in (base / "swept").iterdir() if p.is_dir())
        for op in ops:
            if op[0] == "run":
                if (out / runs[op[1]]).is_dir() and not (out / runs[op[1]]).is_symlink():
                    damage(out / runs[op[1]], [op[2]], victims)
            elif op[0] == "folder":
                path = out / runs[op[1]]
                remove(path)
                if op[2] == "file":
                    path.write_text("x")
                elif op[2] != "delete":
                    special(path, op[2], victims)
            elif op[0] == "own":
                path = out / op[1]
                remove(path)
                if op[2] == "junk":
                    path.write_bytes(b"\x00junk")
                elif op[2] == "truncate":
                    path.write_bytes((base / "swept" / op[1]).read_bytes()[:10])
                elif op[2] != "delete":
                    special(path, op[2], victims)
            else:
                (out / op[1]).write_text("mine")
        shutil.copy(base / "small.yaml", scratch / "small.yaml")
        shutil.copy(base / "sweep.yaml", scratch / "sweep.yaml")
        no_runs.clear()
        code, _, err = call_cli(capsys, "sweep", str(scratch / "sweep.yaml"), "--out", str(out), "--workers", "1",
                                "--quiet", timeout_s=TIME_LIMIT_S)
        clean_end(code, err)
        if code == 3:
            assert len(no_runs) >= 1 and f"error: {len(no_runs)} of 2 runs failed" in err
        victim_intact(victims)


# --- sweep files ----------------------------------------------------------------------------------

GOOD = {"topology.wan.bandwidth": ["1Gbps", "4800Mbps"], "topology.datacenters[0].cores": [1, 12],
        "topology.datacenters[*].servers": [1, 2], "models[0].keys": [1000, 10**6], "until": ["10s", "1h"]}
PATHS = [*GOOD, "seed", "strategy", "nope.field", "a..b", "", "x" * 300, "models[9].keys", "topology.links[0].latency",
         "scheduler.priority", "name"]
VALUES = [1, 2, "4800Mbps", "-1Gbps", "0", None, True, [], {}, [1, 2], "10 parsecs", 1e400, -1, 2**70, "x" * 500,
          "prio:f", "ekko", "chain", {"a": [1, {"b": 2}]}, "*x", 0.5]
junk_values = st.sampled_from(VALUES) | st.integers(-5, 100) | st.text(max_size=8)
good_overrides = st.sampled_from(list(GOOD)).flatmap(lambda path: st.tuples(st.just(path), st.sampled_from(GOOD[path])))
overrides = st.lists(good_overrides | st.tuples(st.sampled_from(PATHS), junk_values), max_size=3).map(dict)
good_grid = st.dictionaries(st.sampled_from(list(GOOD)), st.just(None), max_size=2).map(
    lambda paths: {path: GOOD[path] for path in paths})
sweep_file = st.fixed_dictionaries(
    {"scenario": st.sampled_from(["small.yaml"] * 8 + ["missing.yaml", ".", "fifo.yaml", "zero.yaml", 5, None])},
    optional={
        "name": st.sampled_from(["ok", "", "a/b", "x" * 100, 3, "../up"]),
        "set": overrides | st.sampled_from([[], "x", None]),
        "runs": st.lists(overrides, min_size=1, max_size=3) | st.sampled_from([[], "x", None, [[]]]),
        "grid": good_grid | st.dictionaries(st.sampled_from(PATHS), st.lists(junk_values, max_size=3), max_size=2)
                | st.sampled_from([{"seed": [1]}, {"models[0].keys": list(range(1, 10_002))},
                                   {path: list(range(1, 30)) for path in PATHS[:4]}]),
        "seeds": st.lists(st.integers(0, 3), min_size=1, max_size=3)
                 | st.lists(st.sampled_from([-1, 2**64, "x", None, 1.5]), max_size=2),
    }).flatmap(lambda spec: st.sampled_from([spec] * 9 + [spec | {"unknown": 1}]))


@fuzz(250)
@given(spec=sweep_file | st.sampled_from(["", "[", "- a", "scenario: [", "a: &a [*a]", "\x00"] + YAML_JUNK))
def test_sweep_files(tmp_path, capsys, no_runs, spec):
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        (scratch / "small.yaml").write_text(yaml.safe_dump(SMALL))
        os.mkfifo(scratch / "fifo.yaml")
        os.symlink("/dev/zero", scratch / "zero.yaml")
        path = scratch / "sweep.yaml"
        path.write_text(spec if isinstance(spec, str) else yaml.safe_dump(spec, allow_unicode=True))
        code, _, err = call_cli(capsys, "sweep", str(path), "--out", str(scratch / "out"), "--quiet",
                                timeout_s=TIME_LIMIT_S)
        clean_end(code, err)
        if code == 2:
            assert not (scratch / "out").exists()  # refused before anything was written


# --- reproduce options, and --out targets ------------------------------------------------------------

OUT_TARGETS = ["new", "file", "foreign", "link-to-dir", "link-to-file", "dangling", "fifo", "/dev/null", "/proc/x",
               "/sys/x", "/etc/hostname", "under-file/x", "x" * 300, "new/deeper/still"]


def out_target(scratch: Path, kind: str, victims: Path) -> str:
    path = scratch / "target"
    if kind.startswith("/"):
        return kind
    if kind == "file":
        path.write_text("mine")
    elif kind == "foreign":
        path.mkdir()
        (path / "thesis.tex").write_text("mine")
    elif kind == "link-to-dir":
        os.symlink(victims / "dir", path)
    elif kind == "link-to-file":
        os.symlink(victims / "file.txt", path)
    elif kind == "dangling":
        os.symlink(victims / "missing", path)
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "under-file/x":
        path.write_text("mine")
        return str(path / "x")
    elif kind != "new":
        return str(scratch / kind)
    return str(path)


@fuzz(130)
@given(experiment=st.sampled_from(["ablation", "latency", "baselines", "all"] * 3 + ["sensitivity"] * 6 + ["nope", ""]),
       parameters=st.one_of(st.none(), st.none(), st.none(), st.lists(st.sampled_from(
           ["sync.pull_interval", "models[0].shards", "topology.datacenters[*].lan_latency", "bogus.path", "strategy",
            "models[0].name", "models[5].keys", "topology.datacenters", "a..b", "", "x" * 300, "seed"]), min_size=1,
           max_size=3)),
       scenarios=st.sampled_from(["small"] * 6 + ["missing", "empty", "file", "junk-testbed", "fifo-testbed",
                                                  "no-broadcast"]),
       out=st.sampled_from(["new"] * 6 + OUT_TARGETS), options=st.lists(st.sampled_from(
           [["--quick"], ["--json"], ["--workers", "1"], ["--workers", "2"]] * 3
           + [["--workers", "0"], ["--workers", "x"], ["--max-memory", "1B"], ["--max-memory", "x"]]), max_size=2))
def test_reproduce_options(base, tmp_path, capsys, no_runs, experiment, parameters, scenarios, out, options):
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        victims = victim(scratch)
        folder = scratch / "scenarios"
        if scenarios in ("small", "junk-testbed", "fifo-testbed", "no-broadcast"):
            shutil.copytree(base / "scenarios", folder)
            testbed = folder / "paper" / "testbed.yaml"
            if scenarios == "junk-testbed":
                testbed.write_text("models: [")
            elif scenarios == "fifo-testbed":
                testbed.unlink()
                os.mkfifo(testbed)
            elif scenarios == "no-broadcast":
                (folder / "broadcast_800s.yaml").unlink()
        elif scenarios == "empty":
            folder.mkdir()
        elif scenarios == "file":
            folder.write_text("x")
        argv = ["reproduce", experiment, "--scenarios", str(folder), "--out", out_target(scratch, out, victims)]
        argv += ["--parameters", *parameters] if parameters is not None else []
        code, _, err = call_cli(capsys, *argv, *(arg for option in options for arg in option), timeout_s=TIME_LIMIT_S)
        clean_end(code, err)
        victim_intact(victims)


@fuzz(110)
@given(command=st.sampled_from(["run", "sweep", "plot", "plot"]), out=st.sampled_from(OUT_TARGETS),
       suffix=st.sampled_from(["", ".png", ".pdf", ".txt", ".PNG", "/"]))
def test_out_targets(base, tmp_path, capsys, no_runs, command, out, suffix):
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        victims = victim(scratch)
        target = out_target(scratch, out, victims)
        if command == "plot" and not out.startswith("/"):  # (tests run as root may write in /etc)
            target += suffix
        (scratch / "s.yaml").write_text(yaml.safe_dump(SMALL))
        (scratch / "sweep.yaml").write_text(yaml.safe_dump({"scenario": "s.yaml"}))
        argv = {"run": ["run", str(scratch / "s.yaml"), "--quiet"], "sweep": ["sweep", str(scratch / "sweep.yaml"), "--quiet"],
                "plot": ["plot", str(base / "ekko")]}[command]
        code, _, err = call_cli(capsys, *argv, "--out", target, timeout_s=TIME_LIMIT_S)
        clean_end(code, err)
        if out == "foreign":
            assert (scratch / "target" / "thesis.tex").read_text() == "mine"
        victim_intact(victims)


# --- special files, wherever a file is read --------------------------------------------------------------

SPECIAL_KINDS = ["fifo", "dir", "link-zero", "huge", "link-dangling", "link-loop", "socket", "empty", "link-victim-dir"]


@fuzz(120)
@given(where=st.sampled_from(["scenario", "sweep file", "trace", "graphml", "sweep's scenario"]),
       kind=st.sampled_from(SPECIAL_KINDS))
def test_special_files_are_refused_at_once(tmp_path, capsys, no_runs, where, kind):
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        victims = victim(scratch)
        data = tiny_ekko()
        if where == "trace":
            data["workload"]["trace"] = "special"
        if where == "graphml":
            data["topology"] |= {"graphml": "special", "wan": {"mesh": False}}
        special_path = scratch / "special"
        if kind == "empty":
            special_path.write_text("")
        else:
            special(special_path, kind, victims)
        (scratch / "s.yaml").write_text(yaml.safe_dump(data))
        argv = {"scenario": ["validate", str(special_path)], "sweep file": ["sweep", str(special_path)],
                "trace": ["validate", str(scratch / "s.yaml")], "graphml": ["validate", str(scratch / "s.yaml")],
                "sweep's scenario": ["sweep", str(scratch / "sw.yaml")]}[where]
        (scratch / "sw.yaml").write_text(yaml.safe_dump({"scenario": "special"}))
        code, _, err = call_cli(capsys, *argv, "--max-memory", "1TiB", timeout_s=5)
        clean_end(code, err, (2,))
        victim_intact(victims)


@pytest.mark.parametrize("kind", ["fifo", "link-zero", "huge"])
@pytest.mark.parametrize("where", ["scenario", "trace"])
def test_special_files_in_a_real_process(tmp_path, where, kind):
    victims = victim(tmp_path)
    special(tmp_path / "special", kind, victims)
    data = tiny_ekko()
    data["workload"]["trace"] = "special"
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(data))
    target = tmp_path / ("special" if where == "scenario" else "s.yaml")
    result = subprocess.run([sys.executable, "-m", "ekkosim", "validate", str(target)], capture_output=True, text=True,
                            timeout=60, cwd=REPO)
    clean_end(result.returncode, result.stderr, (2,))
    assert len(result.stderr.splitlines()) == 1
