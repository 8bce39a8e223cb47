"""Issue 17's failing cases, rebuilt from its text, one row each: what a hostile or careless user
did, and what must happen now. Every row runs the CLI in-process (`ekkosim.cli.main`) under a
time limit, and must end with its exit code and its one line, no traceback, and nothing written
or deleted outside the run's own files.

Each row is a function that prepares its files in `tmp` and returns the command line; `check`
(if given) then looks at the files. Items 5 and 6 (workers that stay flat, Ctrl-C) are in
tests/test_pool.py; the fuzzed surfaces in tests/test_fuzz_surfaces.py.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from ekkosim.runner import run
from ekkosim.scenario import validate
from tests.conftest import SCENARIOS, SMALL, call_cli


@dataclass(frozen=True)
class Case:
    name: str
    prepare: Callable[[Path], list[str]]
    code: int
    err: str  # a substring of stderr ("" when the case must succeed)
    check: Callable[[Path], None] | None = None
    seconds: float = 20.0  # the time limit


CASES: list[Case] = []


def case(name: str, code: int = 2, err: str = "", check: Callable[[Path], None] | None = None, seconds: float = 20.0):
    def register(prepare):
        CASES.append(Case(name, prepare, code, err, check, seconds))
        return prepare
    return register


def write(path: Path, data) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else yaml.dump(data, Dumper=yaml.CSafeDumper, sort_keys=False))
    return str(path)


def small(**changes) -> dict:
    return copy.deepcopy(SMALL) | changes


def tiny_ekko(**changes) -> dict:
    """An ekko run of half a second: a latency table in a few tenths of a second."""
    data = small(strategy="ekko", workload={"duration": "0.3s"}, sync={"drain": "0.3s"})
    data["models"][0].update(keys=1000, shards=2, workload={"rate": 500})
    return data | changes


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> dict[str, Path]:
    """Finished run folders to copy and damage: an ekko run (with latencies) and an offline one."""
    root = tmp_path_factory.mktemp("finished")
    run(validate(tiny_ekko()), root / "ekko")
    run(validate(small()), root / "offline")
    return {"ekko": root / "ekko", "offline": root / "offline"}


FINISHED: dict[str, Path] = {}  # filled from the fixture before each case


def copy_run(kind: str, to: Path) -> Path:
    shutil.copytree(FINISHED[kind], to, symlinks=True)
    return to


# --- 1. code from scenarios only on the user's word ----------------------------------------

PRIORITY_MODULE = "import pathlib\npathlib.Path(__file__).with_name('IMPORTED').write_text('ran')\n" \
                  "def f(features):\n    return features.magnitude\n"


def with_priority(tmp: Path, spec: str = "prio:f") -> str:
    (tmp / "prio.py").write_text(PRIORITY_MODULE)
    return write(tmp / "scenario.yaml", tiny_ekko(scheduler={"enabled": True, "priority": spec}))


def nothing_imported(tmp: Path) -> None:
    assert not (tmp / "IMPORTED").exists()


@case("1 validate imports nothing beside the scenario", err="scheduler.priority: 'prio:f' names Python code",
      check=nothing_imported)
def _(tmp):
    return ["validate", with_priority(tmp)]


@case("1 run without --allow-code imports nothing", err="add --allow-code", check=nothing_imported)
def _(tmp):
    return ["run", with_priority(tmp), "--out", str(tmp / "out"), "--quiet"]


@case("1 validate --allow-code still imports nothing", code=0, check=nothing_imported)
def _(tmp):
    return ["validate", with_priority(tmp), "--allow-code"]


@case("1 run --allow-code imports the user's module", code=0,
      check=lambda tmp: (tmp / "IMPORTED").exists() or pytest.fail("not imported"))
def _(tmp):
    return ["run", with_priority(tmp), "--out", str(tmp / "out"), "--quiet", "--allow-code"]


@case("1 an absolute path is no module, even allowed", err="is neither 'package.module:function' nor",
      check=nothing_imported)
def _(tmp):
    return ["run", with_priority(tmp, f"{tmp}/prio:f"), "--out", str(tmp / "out"), "--allow-code"]


@case("1 an installed module imported for its side effects", err="'this:x' names Python code",
      check=lambda tmp: "this" not in sys.modules or pytest.fail("imported"))
def _(tmp):
    return ["validate", with_priority(tmp, "this:x")]


@case("1 through --set", err="scheduler.priority: 'prio:f' names Python code", check=nothing_imported)
def _(tmp):
    return ["run", with_priority(tmp), "--set", "scheduler.priority=prio:f", "--out", str(tmp / "out")]


@case("1 through a sweep's set", err="set: scheduler.priority: 'prio:f' names Python code", check=nothing_imported)
def _(tmp):
    (tmp / "prio.py").write_text(PRIORITY_MODULE)
    scenario = write(tmp / "scenario.yaml", tiny_ekko(scheduler={"enabled": True}))
    return ["sweep", write(tmp / "sweep.yaml", {"scenario": scenario, "set": {"scheduler.priority": "prio:f"}}),
            "--out", str(tmp / "out")]


@case("1 an unregistered name", err="no function 'newest' is registered under the entry-point group ekkosim.priority")
def _(tmp):
    return ["validate", with_priority(tmp, "newest")]


# --- 2. a results folder owns only what it wrote ----------------------------------------------


def project(tmp: Path) -> Path:
    (tmp / "proj" / "src").mkdir(parents=True)
    (tmp / "proj" / "summary.json").write_text("{}")
    (tmp / "proj" / "README").write_text("mine")
    (tmp / "proj" / "src" / "main.py").write_text("print('mine')")
    return tmp / "proj"


def project_intact(tmp: Path) -> None:
    assert (tmp / "proj" / "README").read_text() == "mine"
    assert (tmp / "proj" / "src" / "main.py").read_text() == "print('mine')"
    assert (tmp / "proj" / "summary.json").read_text() == "{}"


@case("2 --out a project holding a summary.json", err="holds 3 entries that ekkosim did not write",
      check=project_intact)
def _(tmp):
    return ["run", write(tmp / "s.yaml", small()), "--out", str(project(tmp)), "--quiet"]


def planted(tmp: Path, name: str) -> Path:
    (tmp / "outside").mkdir()
    (tmp / "outside" / "victim.txt").write_text("victim")
    (tmp / "planted").mkdir()
    os.symlink("../outside/victim.txt", tmp / "planted" / name)
    return tmp / "planted"


def victim_intact(tmp: Path) -> None:
    assert (tmp / "outside" / "victim.txt").read_text() == "victim"


@case("2 an INCOMPLETE that is a link is not written through", err="('INCOMPLETE'; its manifest.json does not list it)",
      check=victim_intact)
def _(tmp):
    return ["run", write(tmp / "s.yaml", small()), "--out", str(planted(tmp, "INCOMPLETE")), "--quiet"]


def relinked(tmp: Path, name: str) -> Path:
    """An earlier run's own folder, one of whose files someone replaced by a link outside."""
    folder = copy_run("offline", tmp / "earlier")
    (tmp / "outside").mkdir()
    (tmp / "outside" / "victim.txt").write_text("victim")
    (folder / name).unlink(missing_ok=True)
    os.symlink(tmp / "outside" / "victim.txt", folder / name)
    return folder


def replaced_not_followed(tmp: Path) -> None:
    victim_intact(tmp)
    assert not (tmp / "earlier" / "summary.json").is_symlink()
    assert json.loads((tmp / "earlier" / "summary.json").read_text())["scenario"] == "small"


@case("2 a rerun replaces its own files' links, never writes through them", code=0, check=replaced_not_followed)
def _(tmp):
    return ["run", write(tmp / "s.yaml", small()), "--out", str(relinked(tmp, "summary.json")), "--quiet"]


@case("2 a rerun clears an INCOMPLETE link, not its target", code=0, check=replaced_not_followed)
def _(tmp):
    folder = relinked(tmp, "INCOMPLETE")
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps({**manifest, "files": manifest["files"] + ["INCOMPLETE"]}))
    return ["run", write(tmp / "s.yaml", small()), "--out", str(folder), "--quiet"]


@case("2 a manifest naming a file outside", err="manifest.json: damaged (not lists of file and folder names)",
      check=victim_intact)
def _(tmp):
    folder = copy_run("offline", tmp / "earlier")
    (tmp / "outside").mkdir()
    (tmp / "outside" / "victim.txt").write_text("victim")
    (folder / "manifest.json").write_text(json.dumps({"files": ["../outside/victim.txt"], "folders": []}))
    return ["run", write(tmp / "s.yaml", small()), "--out", str(folder), "--quiet"]


@case("2 plot --out without a format", err="the file name must end in a format matplotlib writes",
      check=lambda tmp: not (tmp / "X.png").exists() or pytest.fail("X.png written"))
def _(tmp):
    return ["plot", str(copy_run("ekko", tmp / "r")), "--out", str(tmp / "X")]


@case("2 plot writes exactly the path it prints", code=0,
      check=lambda tmp: (tmp / "cdf.png").read_bytes()[:4] == b"\x89PNG" or pytest.fail("no PNG"))
def _(tmp):
    return ["plot", str(copy_run("ekko", tmp / "r")), "--out", str(tmp / "cdf.png")]


@case("2 plot --out /dev/full", err="--out /dev/full: the file name must end in a format")
def _(tmp):
    return ["plot", str(copy_run("ekko", tmp / "r")), "--out", "/dev/full"]



# --- 3. no traceback ---------------------------------------------------------------------------


def damaged_latency(tmp: Path, damage: Callable[[Path], None]) -> list[str]:
    folder = copy_run("ekko", tmp / "r")
    (folder / "latency.parquet").unlink()
    damage(folder / "latency.parquet")
    return ["plot", str(folder), "--out", str(tmp / "p.png")]


def table(path: Path, columns: dict) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table(columns), path)


for label, damage, message in [
    ("garbage", lambda p: p.write_bytes(b"\x00garbage" * 9), "not a readable Parquet table"),
    ("empty", lambda p: p.write_bytes(b""), "not a readable Parquet table"),
    ("a directory", lambda p: p.mkdir(), "a directory, not a regular file"),
    ("other columns", lambda p: table(p, {"x": [1.0]}), "no column 'dc', 'latency_s'"),
    ("a text latency_s", lambda p: table(p, {"dc": ["a"], "latency_s": ["slow"]}), "column 'latency_s' holds string"),
    ("a link to /dev/zero", lambda p: os.symlink("/dev/zero", p), "a symbolic link, which ekkosim never writes"),
]:
    case(f"3 plot on a latency.parquet that is {label}", err=message)(
        lambda tmp, damage=damage: damaged_latency(tmp, damage))


@case("3 plot --out x.txt", err="--out")
def _(tmp):
    return ["plot", str(copy_run("ekko", tmp / "r")), "--out", str(tmp / "x.txt")]


for target in ["/proc/x.png", "/sys/x.png", "/proc/self/x/y.png"]:
    case(f"3 plot --out {target}", err="cannot write")(
        lambda tmp, target=target: ["plot", str(copy_run("ekko", tmp / "r")), "--out", target])


@case("3 plot --out under a file", err="cannot write")
def _(tmp):
    (tmp / "file").write_text("x")
    return ["plot", str(copy_run("ekko", tmp / "r")), "--out", str(tmp / "file" / "p.png")]


def small_sweep(tmp: Path, **fields) -> str:
    return write(tmp / "sweep.yaml", {"scenario": write(tmp / "s.yaml", small()), **fields})


@case("3 sweep --out a file", err="cannot use as a results folder")
def _(tmp):
    (tmp / "file").write_text("x")
    return ["sweep", small_sweep(tmp), "--out", str(tmp / "file"), "--quiet"]


def resumed(tmp: Path, damage: Callable[[Path], None], seeds=(1, 2)) -> list[str]:
    """A finished two-run sweep, one of whose runs is then damaged."""
    from ekkosim.cli import main

    sweep = small_sweep(tmp, seeds=list(seeds))
    assert main(["sweep", sweep, "--out", str(tmp / "out"), "--quiet", "--workers", "1"]) == 0
    first = sorted(p for p in (tmp / "out").iterdir() if p.is_dir())[0]
    damage(first / "summary.json")
    return ["sweep", sweep, "--out", str(tmp / "out"), "--workers", "1"]


def remade(tmp: Path) -> None:
    import ekkosim

    assert ekkosim.load_sweep(tmp / "out")["status"].tolist() == ["complete", "complete"]


for label, text in [("not json{", "not json{"), ("{}", "{}"), ('{"digest": 5}', '{"digest": 5}'),
                    ("[] (item 7)", "[]")]:
    case(f"3 a resumed sweep remakes a run whose summary.json is {label}", code=0, check=remade)(
        lambda tmp, text=text: resumed(tmp, lambda p: p.write_text(text)))


@case("3 a resumed sweep whose run's summary.json is a directory", code=3, err="1 of 2 runs failed")
def _(tmp):
    return resumed(tmp, lambda p: (p.unlink(), p.mkdir()))


@case("3 a resumed sweep whose sweep.parquet is a directory", err="sweep.parquet: a folder where ekkosim wrote a file")
def _(tmp):
    return resumed(tmp, lambda p: ((p.parent.parent / "sweep.parquet").unlink(),
                                   (p.parent.parent / "sweep.parquet").mkdir()))


@case("3 reproduce --scenarios /nonexistent", err="/nonexistent/paper/testbed.yaml: cannot read")
def _(tmp):
    return ["reproduce", "latency", "--scenarios", "/nonexistent", "--out", str(tmp / "out")]


@case("3 reproduce --scenarios an empty folder", err="paper/testbed.yaml: cannot read")
def _(tmp):
    (tmp / "empty").mkdir()
    return ["reproduce", "latency", "--scenarios", str(tmp / "empty"), "--out", str(tmp / "out")]


@case("3 reproduce sensitivity --parameters bogus.path", err="--parameters 'bogus.path': not a number of the testbed")
def _(tmp):
    return ["reproduce", "sensitivity", "--parameters", "bogus.path", "--out", str(tmp / "out")]


@case("3 reproduce --out /etc/hostname", err="/etc/hostname: cannot use as a results folder")
def _(tmp):
    return ["reproduce", "latency", "--out", "/etc/hostname"]


@case("3 run --out D holding INCOMPLETE and a linked folder", err="holds 2 entries that ekkosim did not write",
      check=lambda tmp: (tmp / "elsewhere" / "keep.txt").exists() or pytest.fail("deleted"))
def _(tmp):
    (tmp / "elsewhere").mkdir()
    (tmp / "elsewhere" / "keep.txt").write_text("keep")
    (tmp / "D").mkdir()
    (tmp / "D" / "INCOMPLETE").write_text("")
    os.symlink(tmp / "elsewhere", tmp / "D" / "sub")
    return ["run", write(tmp / "s.yaml", small()), "--out", str(tmp / "D"), "--quiet"]


# --- 4. size refused before it is spent --------------------------------------------------------


def alias_bomb(levels: int, field: str = "name") -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "\n".join(lines) + f"\n{field}: *a{levels - 1}\n"


@case("4 a YAML alias bomb in a text field", err="aliases expand this value to more than 1,000,000 values", seconds=5)
def _(tmp):
    return ["validate", write(tmp / "bomb.yaml", alias_bomb(10))]


@case("4 an alias bomb through --set", err="--set name", seconds=5)
def _(tmp):
    text = "&l0 [x, x, x, x, x, x, x, x, x]"
    for i in range(1, 10):
        text = f"&l{i} [{text}, " + ", ".join([f"*l{i - 1}"] * 8) + "]"
    return ["run", write(tmp / "s.yaml", small()), "--set", f"name={text}", "--quiet", "--out", str(tmp / "o")]


@case("4 keys 10^7 in 10^7 shards, 3 copies a DC", err="models[0].shards: a run needs about 10.4 GiB", seconds=10)
def _(tmp):
    data = tiny_ekko()
    data["models"][0].update(keys=10**7, shards=10**7, replicas=3)
    for dc in data["topology"]["datacenters"]:
        dc["servers"] = 3
    return ["validate", write(tmp / "s.yaml", data)]


@case("4 a billion updates a second in one-second batches",
      err="output.latency_sample: a run needs about 9.17 TiB of memory, more than the limit of 8 GiB", seconds=10)
def _(tmp):
    return ["run", str(SCENARIOS / "ekko_basic.yaml"), "--set", "models[0].workload.rate=1e9",
            "--set", "workload.batch_interval=1s", "--out", str(tmp / "o")]


@case("4 ... allowed when the user raises the limit", code=0, seconds=10)
def _(tmp):
    return ["validate", str(SCENARIOS / "ekko_basic.yaml"), "--max-memory", "100GiB"]


@case("4 8,000 DCs in a full mesh", err="topology.datacenters: a run needs about", seconds=15)
def _(tmp):
    dcs = [{"name": "t", "role": "training", "servers": 1}] + [
        {"name": f"d{i}", "role": "inference", "servers": 1} for i in range(7999)]
    return ["validate", write(tmp / "mesh.yaml", small(topology={"datacenters": dcs}))]


@case("4 a sweep grid of 8 paths x 20 values", err="grid: 25,600,000,000 runs (1 x 20 x 20 x 20 x 20 x 20 x 20 x 20 x 20 x 1)",
      seconds=5)
def _(tmp):
    grid = {f"topology.datacenters[{i % 3}].{field}": [f"{v + 1}Gbps" if field == "nic" else v + 1 for v in range(20)]
            for i, field in [(0, "nic"), (1, "nic"), (2, "nic"), (0, "cores"), (1, "cores"), (2, "cores"),
                             (0, "servers"), (1, "servers")]}
    return ["sweep", small_sweep(tmp, grid=grid), "--out", str(tmp / "out")]


@case("4 a sweep grid of 100 x 101", err="grid: 10,100 runs (1 x 100 x 101 x 1), more than 10,000", seconds=5)
def _(tmp):
    grid = {"topology.datacenters[0].cores": list(range(1, 101)), "topology.datacenters[1].cores": list(range(1, 102))}
    return ["sweep", small_sweep(tmp, grid=grid), "--out", str(tmp / "out")]


@case("4 validate /dev/zero", err="/dev/zero: a character device, not a regular file", seconds=5)
def _(tmp):
    return ["validate", "/dev/zero"]


@case("4 a trace linked to /dev/zero", err="workload.trace:", seconds=5)
def _(tmp):
    os.symlink("/dev/zero", tmp / "trace.csv")
    return ["validate", write(tmp / "s.yaml", tiny_ekko(workload={"duration": "1s", "trace": "trace.csv"}))]


@case("4 a FIFO as the scenario", err="a FIFO, not a regular file", seconds=5)
def _(tmp):
    os.mkfifo(tmp / "fifo.yaml")
    return ["validate", str(tmp / "fifo.yaml")]


@case("4 a FIFO as the trace", err="a FIFO, not a regular file", seconds=5)
def _(tmp):
    os.mkfifo(tmp / "trace.csv")
    return ["validate", write(tmp / "s.yaml", tiny_ekko(workload={"duration": "1s", "trace": "trace.csv"}))]


# --- 7. nonsense refused ---------------------------------------------------------------------------


@case("7 seeds: [1, 1]", err="seeds[1]: 1 is given twice")
def _(tmp):
    return ["sweep", small_sweep(tmp, seeds=[1, 1]), "--out", str(tmp / "out")]


for workers in ("0", "-3"):
    case(f"7 --workers {workers}", err=f"argument --workers: must be at least 1, got {workers}")(
        lambda tmp, workers=workers: ["sweep", small_sweep(tmp), "--workers", workers])


@case("7 reproduce ablation --parameters sync.drain", err="--parameters is for `reproduce sensitivity` only")
def _(tmp):
    return ["reproduce", "ablation", "--parameters", "sync.drain", "--out", str(tmp / "out")]


@case("7 a partition naming every DC", err="faults[0].dcs: names every DC")
def _(tmp):
    return ["validate", write(tmp / "s.yaml", tiny_ekko(faults=[{"kind": "partition", "at": "0.1s",
                                                                  "dcs": ["train", "a", "b"]}]))]


@case("7 plot a folder whose summary.json is a directory", err="summary.json: a directory, not a regular file")
def _(tmp):
    folder = copy_run("ekko", tmp / "r")
    (folder / "summary.json").unlink()
    (folder / "summary.json").mkdir()
    return ["plot", str(folder), "--out", str(tmp / "p.png")]


for label, values in [("NaN", [0.1, float("nan")]), ("infinite", [float("inf")]), ("negative", [0.2, -1.0]),
                      ("longer than the run", [0.1, 1e308])]:  # 1e308 s overflowed the log axis
    case(f"7 plot {label} latencies", err="latencies are not between 0 s and the run's simulated time")(
        lambda tmp, values=values: damaged_latency(tmp, lambda p: table(p, {"dc": ["a"] * len(values),
                                                                               "latency_s": values})))


def damaged_summary(tmp: Path, **changes) -> list[str]:
    """`plot` of an ekko run whose summary.json has `changes` (json writes NaN and Infinity; ekkosim does not)."""
    folder = copy_run("ekko", tmp / "r")
    summary = json.loads((folder / "summary.json").read_text())
    (folder / "summary.json").write_text(json.dumps(summary | changes))
    return ["plot", str(folder), "--out", str(tmp / "p.png")]


for label, value in [("infinite", float("inf")), ("NaN", float("nan")), ("negative", -1.0), ("400 digits", 10**400)]:
    case(f"7 plot a folder whose summary's sim_time_s is {label}", err="not a run's summary (sim_time_s: ")(
        lambda tmp, value=value: damaged_summary(tmp, sim_time_s=value))


# --- 9. unclear messages ------------------------------------------------------------------------------


@case("9 an unknown --set path of 100,000 characters",
      err="error: ['" + "a" * 56 + "...]: unknown field")
def _(tmp):
    return ["run", write(tmp / "s.yaml", small()), "--set", "a" * 100_000 + "=1", "--out", str(tmp / "o")]


@case("9 a GraphML file with a duplicate label", err="nodes 'n1' and 'n2' have the same label 'a'")
def _(tmp):
    (tmp / "wan.graphml").write_text(
        '<?xml version="1.0"?><graphml xmlns="http://graphml.graphdrawing.org/xmlns">'
        '<key id="l" for="node" attr.name="label" attr.type="string"/><graph edgedefault="undirected">'
        '<node id="n0"><data key="l">train</data></node><node id="n1"><data key="l">a</data></node>'
        '<node id="n2"><data key="l">a</data></node><node id="n3"><data key="l">b</data></node>'
        '<edge source="n0" target="n1"/><edge source="n0" target="n2"/><edge source="n0" target="n3"/>'
        '</graph></graphml>')
    data = small()
    data["topology"] |= {"graphml": "wan.graphml", "wan": {"mesh": False}}
    return ["validate", write(tmp / "s.yaml", data)]


@pytest.mark.parametrize("row", CASES, ids=[row.name for row in CASES])
def test_issue_17_case(row: Case, tmp_path, capsys, finished, monkeypatch):
    FINISHED.update(finished)
    monkeypatch.chdir(tmp_path)  # nothing lands in the repository, whatever a case writes by default
    argv = row.prepare(tmp_path)
    capsys.readouterr()  # what preparing printed
    started = time.monotonic()
    code, out, err = call_cli(capsys, *argv, timeout_s=row.seconds)
    assert "Traceback" not in err and "internal error" not in err, err
    assert code == row.code, (code, err)
    if row.code == 0:
        assert err == "", err
    else:
        assert row.err in err, err
        assert len(err.splitlines()) == 1 and len(err) < 600, err
    assert time.monotonic() - started < row.seconds
    if row.check is not None:
        row.check(tmp_path)
