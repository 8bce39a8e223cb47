"""Bad input, fuzzed: malformed scenarios, `--set` assignments and trace files must each give
exit code 2 and one line per problem naming the field (or the file and line), never a traceback.

Every case goes through `ekkosim.cli.main`, the CLI's own entry point, in-process (validation
only: `validate`, or `run` with the simulation stubbed out); a small sample also runs as a real
subprocess. A mutation that happens to leave the scenario valid must load cleanly. Any
counterexample the fuzzer found is kept as an @example.
"""

from __future__ import annotations

import copy
import math
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import HealthCheck, currently_in_test_context, event, example, given, settings
from hypothesis import strategies as st

from ekkosim import cli
from ekkosim.scenario.load import _location
from tests.conftest import SMALL, run_cli, shipped_scenarios


def _bases() -> dict[str, dict]:
    bases = {"small": SMALL}
    for path in shipped_scenarios():
        bases[path.stem] = yaml.safe_load(path.read_text())
    return bases


BASES = _bases()
NAMES = sorted(BASES)

# A field's location as the loader prints it: a dotted path with list indices and quoted odd
# keys (`topology.wan['a b']`), or the whole scenario ...
_NAME, _INDEX, _KEY = r"[A-Za-z_][\w-]*", r"\[\d+\]", r"\[(?:'[^'\n]*'|\"[^\"\n]*\")\]"
FIELD = rf"(?:\(scenario\)|(?:{_NAME}|{_KEY})(?:{_INDEX}|{_KEY}|\.{_NAME})*)"
# ... or the file and line (YAML syntax), or the file alone (unreadable, not UTF-8), or a --set.
LOCATION = rf"(?:{FIELD}|\S+\.yaml(?::\d+:\d+)?|--set (?:\S+?|'.*?'|\".*?\"|'.*?\.\.\.)(?::\d+:\d+)?)"


def _leaf_paths(node, prefix=()) -> list[tuple]:
    """Every path into raw scenario data: sections, list items and values."""
    paths = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            paths += _leaf_paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            paths += _leaf_paths(value, (*prefix, i))
    return paths


def _nested(depth: int):
    value: object = "x"
    for i in range(depth):
        value = [value] if i % 2 else {"a": value}
    return value


# Values no field accepts, or accepts only sometimes: wrong types, out of range, absurd, huge,
# not finite, broken units.
JUNK = [
    None, True, False, [], {}, [1, 2], {"a": 1}, "", " ", "x", "null", 0, -1, -5, 1.5, -0.0, 7e-310,
    2**63, 2**64, -(2**63) - 1, 10**30, 10**400, 1e308, -1e308, math.inf, -math.inf, math.nan,
    "10 Gbps/s", "1e400MB", "-5ms", "5 parsecs", "1e400", "-1e400s", "nan", "inf", "-inf", "NaN ms",
    "1e-400s", "0x10", "1_000", "5 G bps", "ms", "Gbps", "1e309Gbps", "1" * 400 + "B", "9" * 5000,
    "4800Mbps", "40ms", "100GB", "1e-300s", "1e300s", "1e-300B", "1e300h", "1e-300Gbps", "1.5.5s", "--5s", "5s5",
    "\x00", "\u202e5ms", "\ud7ff", "training",
    _nested(60), [_nested(10)] * 3, {"": 1}, {"a[0]": 1}, {"with space": 2},
]
junk = st.one_of(
    st.sampled_from(JUNK),
    st.integers(),
    st.floats(),
    st.text(max_size=12),
    st.builds(lambda n, u: f"{n}{u}", st.floats(allow_nan=True) | st.integers(), st.sampled_from(
        ["B", "kB", "GiB", "bps", "Gbps", "MB/s", "ms", "s", "h", "min", " ", "parsecs", "Gbps/s", "b"])),
)
unknown_key = st.sampled_from(["bandwdith", "Name", "extra", "a[0]", "x.y", "(", "", "nic ", "__class__"]) | st.text(max_size=8)


@st.composite
def mutated_scenarios(draw):
    """(raw data, a description) of one base scenario with one to three mutations."""
    data = copy.deepcopy(BASES[draw(st.sampled_from(NAMES))])
    steps = []
    for _ in range(draw(st.integers(1, 3))):
        paths = _leaf_paths(data)  # `scheduler.priority` too: validation imports nothing
        kind = draw(st.sampled_from(["replace", "replace", "replace", "delete", "add", "root"]))
        if kind == "root":
            data = draw(st.sampled_from([None, [], "x", 5, [data]]))
            steps.append(("root", data))
            break
        path = draw(st.sampled_from(paths))
        parent = data
        for step in path[:-1]:
            parent = parent[step]
        if kind == "replace":
            value = copy.deepcopy(draw(junk))  # never share (and so mutate) a JUNK value
            old = parent[path[-1]]
            # No field takes a section, a list or a boolean in place of something else
            # (a number may stand for a quantity, null for an optional field).
            retyped = any(isinstance(value, t) and not isinstance(old, t) for t in (dict, list, bool)) or (
                isinstance(old, (dict, list)) and value is not None and not isinstance(value, type(old)))
            parent[path[-1]] = value
            steps.append(("retype" if retyped else "replace", path))
            continue
        elif kind == "delete":
            del parent[path[-1]]
        else:
            target = parent[path[-1]] if isinstance(parent[path[-1]], dict) else parent
            if not isinstance(target, dict):
                continue
            target[draw(unknown_key)] = copy.deepcopy(draw(junk))
        steps.append((kind, path))
    return data, steps


def _dump(data) -> str:
    try:
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    except (yaml.YAMLError, RecursionError, UnicodeEncodeError):  # e.g. a lone surrogate
        return yaml.safe_dump(data, sort_keys=False)


def _check_cli(capsys, argv: list[str], prefix: str) -> tuple[int, list[str]]:
    """Run the CLI in-process; a bad input must give exit 2 and one located line per problem."""
    try:
        code = cli.main(argv)
    except SystemExit as stop:  # a usage error, from argparse: `--set -5ms` reads as an option
        code = stop.code
    out, err = capsys.readouterr()
    if currently_in_test_context():  # --hypothesis-show-statistics shows how many were valid
        event(f"exit {code}")
    assert "Traceback" not in err and "internal error" not in err, err
    lines = err.splitlines()
    if code == 0:
        assert lines == [], err
        return code, lines
    assert code == 2, err
    assert lines, "exit 2 without a message"
    if lines[0].startswith("ekkosim: error: argument "):
        assert len(lines) == 1, err
        return code, lines
    for line in lines:
        assert line.startswith(prefix), line
        assert re.match(rf"{LOCATION}: \S", line[len(prefix):]), f"no field or line named: {line!r}"
        assert len(line) < 400, f"an unreadable line: {line!r}"
    return code, lines


def _validate(tmp_path: Path, capsys, content: bytes | str) -> tuple[int, list[str]]:
    path = tmp_path / "scenario.yaml"
    if isinstance(content, str):
        content = content.encode("utf-8", "surrogatepass")
    path.write_bytes(content)
    return _check_cli(capsys, ["validate", str(path)], f"{path}: ")


SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                             HealthCheck.too_slow])


@SETTINGS
@given(case=mutated_scenarios())
@example(case=({"name": "x", "strategy": "offline", "models": [{"name": "m", "keys": 1, "value_bytes": "9" * 5000}]}, []))
def test_mutated_scenarios_exit_2_naming_the_field(tmp_path, capsys, case):
    data, steps = case
    code, lines = _validate(tmp_path, capsys, _dump(data))
    if steps and steps[0][0] == "retype" and len(steps) == 1:
        # A value of the wrong type is reported at its own field, or at a section above it.
        assert code == 2
        field = _location(steps[0][1])
        named = [line.split(": ")[1] for line in lines]
        assert any(field.startswith(name) for name in named), (field, lines)


@pytest.mark.parametrize(("base", "assignments", "expected"), [
    # found beside the fuzzer: counts in the size checks were printed in full, 300 digits long
    ("small", ["until=900s", "output.window=1e-300s"], "error: output.window: 9e+302 windows over 900 s"),
    ("small", ["until=1e300h"], "error: output.window: 3.6e+303 windows over 3.6e+303 s"),
    ("congestion", ["workload.batch_interval=1e300s"], "error: quality.learning_rate: 0.01 times the 2.86e+303 examples"),
])
def test_absurd_values_give_short_lines(tmp_path, capsys, no_simulation, base, assignments, expected):
    path = tmp_path / "scenario.yaml"
    path.write_text(_dump(BASES[base]))
    argv = ["run", str(path), "--quiet"] + [arg for a in assignments for arg in ("--set", a)]
    code, lines = _check_cli(capsys, argv, "error: ")
    assert code == 2 and lines[0].startswith(expected), lines


def test_scientific_notation_is_a_number(tmp_path, capsys, no_simulation):
    # found by hand beside the fuzzer: YAML 1.1 reads 1e4 and 1.5e4 as strings, so a number field
    # said "Input should be a valid number, got '1e4'"
    path = tmp_path / "scenario.yaml"
    path.write_text(_dump(BASES["small"]))
    argv = ["run", str(path), "--quiet", "--set", "models[0].workload.rate=1e4", "--set", "quality.learning_rate=1.5e-3"]
    assert _check_cli(capsys, argv, "error: ")[0] == 0
    scenario = no_simulation[0]
    assert (scenario.models[0].workload.rate, scenario.quality.learning_rate) == (1e4, 1.5e-3)


# --- broken YAML text ----------------------------------------------------------------------

TEXT_JUNK = [
    "", "\n", "   ", "#only a comment\n", "---\n", "--- a\n--- b\n", "[", "{", "]", "a: [", "a: {b: 1",
    "? [a, b]\n: 1\n", "{[1]: 2}", "{? {a: 1}: 2}", "a: " + "1" * 5000, "[" * 3000, "{a: " * 3000,
    "a: !!python/object:os.system x", "a: !!binary aGVsbG8=", "a: &x 1\nb: *y\n", "\t- x", "a:\n\t- b",
    "a: 'unclosed", 'a: "\\q"', "name: x\nname: y\n", "%YAML 9.9\n---\na: 1", "@x", "`x", "a: b: c",
    "- - - -", "a: 2020-01-01", "1: 2", "null: 1", "~: 1", "? |\n  x\n: 1", "\ufeffa: 1",
    # found by fuzzing the YAML tokens: PyYAML's constructors raise KeyError, IndexError or
    # AttributeError on a tagged value they cannot read
    "!!bool", "a: !!timestamp x", "!!int", "!!float", "a: !!int abc", "a: !!set [1]",
]
BYTE_JUNK = [b"\xff\xfe\x00bad", b"\x00\x01\x02", b"name: \xe9t\xe9\n", b"\x80", b"\xef\xbb\xbf", b"a: \xed\xa0\x80"]


YAML_TOKENS = st.sampled_from([
    "a", ":", " ", "\n", "- ", "[", "]", "{", "}", ",", "?", "&x", "*x", "!!int", "!!float", "!!str", "!!map", "!!seq",
    "!!set", "!!omap", "!!pairs", "!!timestamp", "!!null", "!!bool", "!!binary", "'", '"', "|", ">", "#", "1", "1e5",
    "---", "...", "%TAG", "<<", "name", "models", "\t", "\x85", "\u2028", "0o7", "1:30", ".inf", "~",
])


@st.composite
def broken_texts(draw):
    text = _dump(BASES[draw(st.sampled_from(NAMES))]).encode("utf-8")
    kind = draw(st.sampled_from(["truncate", "insert", "bytes", "junk", "replace_line", "tokens"]))
    if kind == "tokens":  # YAML built from its own syntax: tags, anchors, flow and block markers
        return "".join(draw(st.lists(YAML_TOKENS, max_size=25))).encode("utf-8")
    at = draw(st.integers(0, len(text)))
    if kind == "truncate":
        return text[:at]
    if kind == "insert":
        return text[:at] + draw(st.sampled_from(TEXT_JUNK + ["\n", ":", "-", "{", "[", "'", "&", "*", "!", "|"])).encode() + text[at:]
    if kind == "bytes":
        return text[:at] + draw(st.sampled_from(BYTE_JUNK) | st.binary(min_size=1, max_size=8)) + text[at:]
    if kind == "junk":
        return draw(st.sampled_from([t.encode() for t in TEXT_JUNK] + BYTE_JUNK) | st.binary(max_size=64))
    lines = text.split(b"\n")
    i = draw(st.integers(0, len(lines) - 1))
    lines[i] = draw(st.sampled_from(TEXT_JUNK)).encode() if draw(st.booleans()) else lines[i][: len(lines[i]) // 2]
    return b"\n".join(lines)


@SETTINGS
@given(content=broken_texts())
@example(content=b"? [a, b]\n: 1\n")
@example(content=b"{? {a: 1}: 2}")
@example(content=b"a: " + b"1" * 5000)
@example(content=b"[" * 3000)
def test_broken_yaml_exit_2_naming_file_and_line(tmp_path, capsys, content):
    _validate(tmp_path, capsys, content)


@pytest.mark.parametrize("content", [t.encode() for t in TEXT_JUNK] + BYTE_JUNK, ids=range(len(TEXT_JUNK) + len(BYTE_JUNK)))
def test_text_junk(tmp_path, capsys, content):
    code, _ = _validate(tmp_path, capsys, content)
    assert code == 2


# --- --set ---------------------------------------------------------------------------------


@pytest.fixture
def no_simulation(monkeypatch):
    """`run` validates as the user sees it, but never simulates: the runner is a stub."""
    from ekkosim import runner

    calls = []
    monkeypatch.setattr(runner, "run", lambda scenario, out, **kwargs: calls.append(scenario) or {})
    return calls


set_path = st.one_of(
    st.sampled_from([
        "topology.wan.bandwidth", "topology.datacenters[0].nic", "topology.datacenters[*].servers", "models[0].keys",
        "models[9].keys", "models[*].workload.zipf", "seed", "strategy", "until", "topology.links[0].bandwidth",
        "network.congestion", "sync.cache_size", "output.window", "name.x", "seed[0]", "topology.datacenters.name",
        "models[-1].keys", "models[99999999999999999999999].keys", "a..b", ".a", "a.", "[0]", "a[", "a[]", "a[x]",
        "models[*]", "topology", "", " ", "a b", "é", "topology.wan.bandwdith", "workload.trace", "topology.graphml",
    ]),
    st.text(max_size=16),
)
set_value = st.one_of(st.sampled_from([str(v) if not isinstance(v, (dict, list)) else yaml.safe_dump(v, default_flow_style=True).strip()
                                       for v in JUNK]), st.text(max_size=16), st.just(""))


@SETTINGS
@given(base=st.sampled_from(NAMES), assignments=st.lists(st.tuples(set_path, set_value, st.sampled_from(["=", ""])),
                                                      min_size=1, max_size=3))
@example(base="small", assignments=[("models[0].keys", "1" * 5000, "=")])
@example(base="small", assignments=[("topology.wan", "{[1]: 2}", "=")])
@example(base="small", assignments=[("", "-5ms", "")])
def test_bad_set_exit_2_naming_the_field(tmp_path, capsys, no_simulation, base, assignments):
    no_simulation.clear()  # the fixture lives across hypothesis's examples
    path = tmp_path / "scenario.yaml"
    path.write_text(_dump(BASES[base]))
    argv = ["run", str(path), "--quiet", "--out", str(tmp_path / "out")]
    for where, value, sep in assignments:
        argv += ["--set", f"{where}{sep}{value}"]
    code, _ = _check_cli(capsys, argv, "error: ")
    assert len(no_simulation) == (code == 0)


# --- trace files ---------------------------------------------------------------------------

TRACE_SCENARIO = copy.deepcopy(SMALL) | {"strategy": "ekko", "workload": {"duration": "1s"}}
TRACE_SCENARIO["models"] = [{"name": "m", "keys": 1000}, {"name": "n", "keys": 10}]
CELL = st.one_of(
    st.sampled_from(["0", "1", "0.5", "-1", "-0", "nan", "NaN", "inf", "-inf", "1e400", "1e-400", "", " ", "m", "n",
                     "x", "999", "1000", "10", "9.5", "1e3", "0x1", "1_0", '"', '""', "'", "\x00", "é", "9" * 400]),
    st.integers(-5, 2000).map(str),
    st.text(max_size=6),
)


GOOD_CELL = {
    "time_s": st.floats(0, 10).map(repr) | st.integers(0, 10).map(str),
    "model": st.sampled_from(["m", "n", " m "]),
    "key": st.integers(0, 9).map(str),
    "magnitude": st.floats(0, 1e6).map(repr),
    "note": st.text(max_size=4).map(lambda t: t.replace(",", "").replace("\n", "").replace('"', "")),
}


@st.composite
def trace_row(draw, columns):
    """A row of good values (a trace replays them in any order), with a junk cell in some rows."""
    row = [draw(GOOD_CELL.get(name, CELL)) for name in columns]
    if row and draw(st.booleans()):
        row[draw(st.integers(0, len(row) - 1))] = draw(CELL)
    return row


@st.composite
def trace_files(draw):
    """(file name, bytes) of a CSV or Parquet trace, often broken."""
    columns = list(draw(st.permutations(["time_s", "model", "key", "magnitude", "note"])))
    if draw(st.integers(0, 3)) == 0:
        del columns[draw(st.integers(0, len(columns) - 1))]
    if draw(st.integers(0, 4)) == 0:
        columns.append(draw(st.sampled_from(columns + ["", "time_s "])))
    rows = draw(st.lists(trace_row(columns), max_size=6))
    kind = draw(st.sampled_from(["csv", "csv", "csv", "parquet", "junk"]))
    if kind == "csv":
        lines = [",".join(columns)] + [",".join(row) for row in rows]
        if rows and draw(st.booleans()):
            i = draw(st.integers(1, len(lines) - 1))
            lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]
        text = "\n".join(lines).encode("utf-8", "surrogatepass")
        if draw(st.integers(0, 5)) == 0:
            at = draw(st.integers(0, len(text)))
            text = text[:at] + draw(st.sampled_from([b"\xff", b"\x80\x80", b"\n\n", b'"', b"\r"])) + text[at:]
        return "trace.csv", text
    if kind == "parquet":
        table = {}
        for i, name in enumerate(dict.fromkeys(columns)):
            typed = draw(st.sampled_from(["text", "float", "int", "bool"]))
            cells = [row[i] for row in rows]
            if typed == "float":
                table[name] = pa.array([draw(st.floats()) for _ in cells], pa.float64())
            elif typed == "int":
                table[name] = pa.array([draw(st.integers(-(2**63), 2**63 - 1)) for _ in cells], pa.int64())
            elif typed == "bool":
                table[name] = pa.array([draw(st.booleans()) for _ in cells], pa.bool_())
            else:
                table[name] = pa.array([c.encode("utf-8", "replace").decode() for c in cells], pa.string())
        sink = pa.BufferOutputStream()
        pq.write_table(pa.table(table) if table else pa.table({"x": pa.array([], pa.int64())}), sink)
        data = sink.getvalue().to_pybytes()
        if draw(st.integers(0, 3)) == 0:
            data = data[: draw(st.integers(0, len(data)))]
        return "trace.parquet", data
    return draw(st.sampled_from(["trace.csv", "trace.parquet", "trace.txt", "trace"])), draw(st.binary(max_size=64))


@SETTINGS
@given(trace=trace_files())
@example(trace=("trace.csv", b"time_s,key,magnitude,note\n0.0,0,0.0,\n\r,\xff0,0.0,"))  # a carriage return, then not UTF-8
def test_bad_trace_exit_2_naming_row_and_column(tmp_path, capsys, trace):
    name, content = trace
    (tmp_path / name).write_bytes(content)
    scenario = TRACE_SCENARIO | {"workload": {"duration": "1s", "trace": name}}
    path = tmp_path / "scenario.yaml"
    path.write_text(_dump(scenario))
    code, lines = _check_cli(capsys, ["validate", str(path)], f"{path}: ")
    if code == 2:
        assert lines[0].startswith(f"{path}: workload.trace: {tmp_path / name}"), lines


TRACE_HEADER = "time_s,model,key,magnitude\n"
TRACE_CASES = [
    # (trace file content, expected end of the line after the trace's path; None: a valid trace)
    (TRACE_HEADER + "2,m,1,1\n1,n,9,0\n0.5,m,999,1e6\n", None),  # unsorted, every key at its bounds
    (TRACE_HEADER.encode("utf-8-sig").decode() + "0,m,1,1\n", None),
    (TRACE_HEADER + "-1,m,1,1\n", ":2: time_s: -1 is negative"),
    (TRACE_HEADER + "nan,m,1,1\n", ":2: time_s: nan is not finite"),
    (TRACE_HEADER + "1,m,1,inf\n", ":2: magnitude: inf is not finite"),
    (TRACE_HEADER + "1,n,10,1\n", ":2: key: 10 is out of range for model 'n' (0 <= key < 10)"),
    (TRACE_HEADER + "1,m,-1,1\n", ":2: key: -1 is out of range for model 'm' (0 <= key < 1000)"),
    (TRACE_HEADER + "1,m,1.5,1\n", ":2: key: 1.5 is not an integer"),
    (TRACE_HEADER + "1,m,1\n", ":2: 3 fields, but the header has 4"),
    ("time_s,model,key\n1,m,1\n", ": missing column 'magnitude'"),
    ("", ": empty file (a header row is required)"),
    # found by the fuzzer: a long cell was quoted whole, in a line of hundreds of characters
    (TRACE_HEADER + "9" * 400 + ",m,1,1\n", ":2: time_s: " + "9" * 57 + "... is not finite"),
    (TRACE_HEADER + "1," + "x" * 400 + ",1,1\n", ":2: model: '" + "x" * 56 + "... is not a model of the scenario (models: m, n)"),
]


@pytest.mark.parametrize(("content", "expected"), TRACE_CASES, ids=range(len(TRACE_CASES)))
def test_trace_cases(tmp_path, capsys, content, expected):
    (tmp_path / "trace.csv").write_text(content)
    path = tmp_path / "scenario.yaml"
    path.write_text(_dump(TRACE_SCENARIO | {"workload": {"duration": "1s", "trace": "trace.csv"}}))
    code, lines = _check_cli(capsys, ["validate", str(path)], f"{path}: ")
    if expected is None:
        assert code == 0
    else:
        assert lines == [f"{path}: workload.trace: {tmp_path / 'trace.csv'}{expected}"]


@pytest.mark.parametrize("content", [b"\x00\x01junk", b"PAR1\x00\x00PAR1", b"\xff" * 64], ids=range(3))
def test_binary_parquet_trace(tmp_path, capsys, content):
    (tmp_path / "trace.parquet").write_bytes(content)
    path = tmp_path / "scenario.yaml"
    path.write_text(_dump(TRACE_SCENARIO | {"workload": {"duration": "1s", "trace": "trace.parquet"}}))
    code, lines = _check_cli(capsys, ["validate", str(path)], f"{path}: ")
    assert code == 2 and "not a readable Parquet file" in lines[0]


# --- GraphML files --------------------------------------------------------------------------

GRAPHML = """<?xml version="1.0" encoding="UTF-8"?>
<graphml xmlns="http://graphml.graphdrawing.org/xmlns">
<key id="d0" for="edge" attr.name="latency_s" attr.type="{kind}"/>
<key id="d1" for="edge" attr.name="bandwidth_bps" attr.type="double"/>
<graph edgedefault="undirected">
<node id="train"/><node id="a"/><node id="b"/>
<edge source="train" target="a"><data key="d0">{latency}</data><data key="d1">{bandwidth}</data></edge>
<edge source="train" target="b"><data key="d0">0.01</data></edge>
</graph></graphml>"""
GRAPHML_CASES = [
    # (file content, expected end of the line; None: valid). Found by hand beside the fuzzer: a
    # negative, NaN or infinite latency or bandwidth passed validation and reached the simulator.
    (GRAPHML.format(kind="double", latency="0.01", bandwidth="1e9"), None),
    (GRAPHML.format(kind="double", latency="-1", bandwidth="1e9"), "edge train-a: latency_s must be finite and >= 0, got -1.0"),
    (GRAPHML.format(kind="double", latency="nan", bandwidth="1e9"), "edge train-a: latency_s must be finite and >= 0, got nan"),
    (GRAPHML.format(kind="double", latency="0.01", bandwidth="0"), "edge train-a: bandwidth must be finite and > 0, got 0.0"),
    (GRAPHML.format(kind="double", latency="0.01", bandwidth="inf"), "edge train-a: bandwidth must be finite and > 0, got inf"),
    (GRAPHML.format(kind="string", latency="abc", bandwidth="1e9"), "could not convert string to float: 'abc'"),
    ("", "not GraphML: no element found: line 1, column 0"),
    ("<graphml>", "not GraphML: no element found: line 1, column 9"),
    ("\xff junk", "not GraphML: syntax error: line 1, column 0"),
]


@pytest.mark.parametrize(("content", "expected"), GRAPHML_CASES, ids=range(len(GRAPHML_CASES)))
def test_graphml_cases(tmp_path, capsys, content, expected):
    (tmp_path / "wan.graphml").write_text(content)
    data = copy.deepcopy(SMALL)
    data["topology"] |= {"graphml": "wan.graphml", "wan": {"mesh": False}}
    path = tmp_path / "scenario.yaml"
    path.write_text(_dump(data))
    code, lines = _check_cli(capsys, ["validate", str(path)], f"{path}: ")
    if expected is None:
        assert code == 0
    else:
        assert lines == [f"{path}: topology.graphml: cannot read {str(tmp_path / 'wan.graphml')!r}: {expected}"]


# --- a sample as real subprocesses -----------------------------------------------------------

SUBPROCESS_CASES = [
    ("topology.wan.bandwidth", "10 Gbps/s"), ("models[0].keys", "1e400"), ("topology.datacenters[1]", "[[[[]]]]"),
    ("seed", "-1"), ("until", "-5ms"), ("topology.wan.latency", "5 parsecs"), ("models[0].value_bytes", "1e400MB"),
    ("topology.datacenters[0].role", "{a: 1}"),
]


@pytest.mark.parametrize(("field", "value"), SUBPROCESS_CASES)
def test_subprocess_sample(tmp_path, field, value):
    path = tmp_path / "scenario.yaml"
    data = copy.deepcopy(SMALL)
    node = data
    steps = [int(s) if s.isdigit() else s for s in re.findall(r"[^.\[\]]+", field)]
    for step in steps[:-1]:
        node = node[step]
    node[steps[-1]] = yaml.safe_load(value) if value.startswith(("[", "{", "-1")) else value
    path.write_text(_dump(data))
    result = run_cli("validate", str(path), env={"PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith(f"{path}: {field}"), result.stderr


@pytest.mark.parametrize("content", [b"", b"\xff\xfe\x00bad", b"? [a, b]\n: 1\n", b"[" * 3000],
                         ids=["empty", "not UTF-8", "complex key", "deep nesting"])
def test_subprocess_broken_files(tmp_path, content):
    path = tmp_path / "scenario.yaml"
    path.write_bytes(content)
    result = run_cli("validate", str(path), env={"PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith(f"{path}: "), result.stderr


def test_subprocess_bad_set_and_trace(tmp_path):
    (tmp_path / "trace.csv").write_text(TRACE_HEADER + "1,m,5000,1\n")
    path = tmp_path / "scenario.yaml"
    path.write_text(_dump(TRACE_SCENARIO | {"workload": {"duration": "1s", "trace": "trace.csv"}}))
    env = {"PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    result = run_cli("validate", str(path), env=env)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr == f"{path}: workload.trace: {tmp_path / 'trace.csv'}:2: key: 5000 is out of range for model 'm' (0 <= key < 1000)\n"
    result = run_cli("run", str(path), "--set", "topology.wan['a']=1", "--set", "seed=1e400", env=env)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("error: --set topology.wan['a']: not a dotted path"), result.stderr
