"""`ekkosim calibrate`: calibration files validated before any run; the shipped example recovers
the values that produced its targets; every evaluation in calibration.parquet; the same file
gives the same bytes, whether it ran at once or was interrupted and resumed (and the resumed one
makes only the runs it lacks); the fitted scenario feeds `ekkosim reproduce --testbed`."""

import json
import math
import shutil

import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import ekkosim
from ekkosim import calibrate as calibration_module
from ekkosim import reproduce
from ekkosim.calibrate import Parameter, calibrate, read_calibration
from ekkosim.cli import main
from ekkosim.scenario.load import ScenarioError
from ekkosim.sweep import value_text
from ekkosim.units import DURATION
from tests.conftest import PAPER_CALIBRATION, REPO, SCENARIOS

EXAMPLE = REPO / "calibrations" / "example.yaml"
# what produced the example's targets: ekko_basic's own values (the file's comment gives the command)
KNOWN = {"sync.pull_interval": 0.05, "models[0].workload.rate": 10_000}


def _example(folder, **fields) -> str:
    """The shipped example with `fields` changed, written in `folder`."""
    data = {**yaml.safe_load(EXAMPLE.read_text()), "scenario": str(SCENARIOS / "ekko_basic.yaml"), **fields}
    folder.mkdir(exist_ok=True)
    path = folder / "calibration.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


@pytest.mark.parametrize(("fields", "message"), [
    ({"budgt": 3}, "budgt: unknown field"),
    ({"budget": 0}, "budget: Input should be greater than or equal to 1, got 0"),
    ({"parameters": {"sync.pull_intervl": {"range": ["1ms", "2ms"], "reason": "r"}}},
     "parameters['sync.pull_intervl'].range[0]: sync.pull_intervl: unknown field"),
    ({"parameters": {"sync.pull_interval": {"range": ["1ms", "-2ms"], "reason": "r"}}},
     "parameters['sync.pull_interval'].range[1]: sync.pull_interval: must be > 0ns, got -2ms"),
    ({"parameters": {"sync.pull_interval": {"range": ["2ms", "1ms"], "reason": "r"}}},
     "parameters['sync.pull_interval'].range: low must be below high, got [2ms, 1ms]"),
    ({"parameters": {"topology.wan.latency": {"range": [0, "1s"], "reason": "r"}}},
     "parameters['topology.wan.latency'].range: a log scale needs a low above 0, got 0"),
    ({"parameters": {"sync.pull_interval": {"range": ["1ms", "2ms"]}}},
     "parameters['sync.pull_interval'].reason: required field missing"),
    ({"parameters": {"sync.pull_interval": {"range": ["1ms", "2ms"], "reason": " "}}},
     "parameters['sync.pull_interval'].reason: ' ' is not a reason: say why the parameter is free and why this range"),
    ({"parameters": {"name": {"range": [1, 2], "reason": "r", "scale": "linear"}}},
     "parameters['name'].range[0]: name: Input should be a valid string, got 1"),
    ({"parameters": {"sync.local_leader": {"range": [False, True], "reason": "r", "scale": "linear"}}},
     "parameters['sync.local_leader']: not a number, so not a free parameter (got False)"),
    ({"targets": [{"metric": "pulls", "value": -1}]}, "targets[0].value: Input should be greater than 0, got -1"),
    ({"targets": [{"metric": "latency_s..mean", "value": 1}]},
     "targets[0].metric: 'latency_s..mean' is not a dotted path into summary.json such as latency_s.mean"),
    ({"targets": [{"metric": "pulls", "value": 1, "variant": "vv"}]},
     "targets[0].variant: no variant 'vv' (variants: base)"),
    ({"variants": {"a": {}, "b": {}}}, "targets[0].variant: required, as there are several variants (a, b)"),
    ({"variants": {"a": {}}, "targets": [{"metric": "pulls", "value": 1, "over": "a"}]},
     "targets[0].over: the ratio of a variant to itself is 1"),
    ({"variants": {"a": {"sync.local_leader": "maybe"}}},
     "variants.a: sync.local_leader: Input should be a valid boolean, got 'maybe'"),
    ({"variants": {"../x": {}}},
     "variants['../x']: '../x' is not a name of letters, digits and _ + . - (a file name: fitted-<variant>.yaml)"),
    ({"variants": "ablaton"}, "variants: a mapping of name to overrides, or `ablation`, got 'ablaton'"),
    ({"set": {"seed": 2}}, "set.seed: the seed is set by `seeds`, not by an override"),
    ({"search": {"initial": 6}}, "search.initial: must be a power of 2 (a Sobol design's balance), got 6"),
    ({"targets": [{"metric": "pulls", "value": 1, "name": "t"}, {"metric": "flows", "value": 1, "name": "t"}]},
     "targets: two targets have the same name; give one a `name`"),
])
def test_a_bad_calibration_file_fails_at_once_naming_the_field(tmp_path, capsys, fields, message):
    path = _example(tmp_path, **fields)
    assert main(["calibrate", path, "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == f"error: {path}: {message}\n"
    assert not (tmp_path / "out").exists()  # no run started


JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(-10**30, 10**30), st.floats(), st.text(max_size=30),
    st.sampled_from(["1e400", "-1ms", "0", ".inf", "ablation", "pulls", "10ms", "[", "a..b", "x" * 5000]),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
# where a mutation lands: every field of the example, and the parts of its parameters and targets
WHERE = [("budget",), ("set",), ("set", "workload.duration"), ("variants",), ("variants", "x"), ("seeds",),
         ("search",), ("search", "initial"), ("search", "step"), ("parameters",),
         ("parameters", "sync.pull_interval"), ("parameters", "sync.pull_interval", "range"),
         ("parameters", "sync.pull_interval", "range", 0), ("parameters", "sync.pull_interval", "range", 1),
         ("parameters", "sync.pull_interval", "scale"), ("parameters", "models[0].workload.zipf"),
         ("targets",), ("targets", 0), ("targets", 0, "metric"), ("targets", 0, "value"), ("targets", 0, "over"),
         ("targets", 1, "weight"), ("scenario",), ("name",)]


@settings(max_examples=60, deadline=None)
@given(where=st.sampled_from(WHERE), junk=JUNK)
def test_hostile_calibration_files_are_refused_line_by_line(tmp_path_factory, where, junk):
    """Junk anywhere in the example: either a valid calibration, or a line per problem naming the
    field (never a traceback). Validation only: nothing runs."""
    data = yaml.safe_load(EXAMPLE.read_text())
    data["scenario"] = str(SCENARIOS / "ekko_basic.yaml")
    node = data
    for step in where[:-1]:
        node = node.setdefault(step, {}) if isinstance(node, dict) else node[step]
    node[where[-1]] = junk
    path = tmp_path_factory.mktemp("fuzz") / "calibration.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    try:
        read_calibration(path)
    except ScenarioError as err:
        for problem in err.problems:  # one line per problem, as for scenarios and sweeps
            assert problem.startswith(f"{path}: ") and "\n" not in problem and len(problem) < 400, problem


def test_values_lie_on_the_range_in_log_or_linear_space():
    pull = Parameter("sync.pull_interval", 0.01, 1.0, log=True, integer=False, reason="r", written=("10ms", "1s"),
                     dimension=DURATION)
    assert [pull.value(u) for u in (0, 0.5, 1)] == [0.01, 0.1, 1.0]  # the middle of a log range: the geometric mean
    assert pull.value(0.25) == float(f"{10 ** -1.5:.6g}")  # six significant digits
    shards = Parameter("models[0].shards", 10, 3000, log=True, integer=True, reason="r", written=("10", "3000"),
                       dimension=None)
    assert shards.value(0.5) == round(math.sqrt(10 * 3000)) and isinstance(shards.value(0.5), int)
    rate = Parameter("models[0].workload.rate", 2000.0, 4000.0, log=False, integer=False, reason="r",
                     written=("2000", "4000"), dimension=None)
    assert [rate.value(u) for u in (0, 0.25, 1)] == [2000.0, 2500.0, 4000.0]
    assert [pull.text(pull.value(0.5)), shards.text(shards.value(0.5)), rate.text(2500.0)] == ["100ms", "173", "2500.0"]


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    """The shipped example with its targets as the known values give them now, calibrated once
    for the module (about 40 runs of a fifth of a second): (calibration, result, output folder,
    the known values' summary)."""
    folder = tmp_path_factory.mktemp("example")
    shipped = yaml.safe_load(EXAMPLE.read_text())
    known_set = {key: DURATION.format(value) if key == "sync.pull_interval" else value for key, value in KNOWN.items()}
    known = ekkosim.run(ekkosim.load(SCENARIOS / "ekko_basic.yaml", [f"{key}={value_text(value)}" for key, value in
                                                                     {**shipped["set"], **known_set}.items()]),
                        folder / "known")
    path = _example(folder, targets=[{"metric": target["metric"], "value": known[target["metric"]]}
                                     for target in shipped["targets"]])
    cal = read_calibration(path)
    return cal, calibrate(cal, folder / "out", workers=2), folder / "out", known


def test_the_shipped_example_targets_are_what_its_known_values_give(example):
    """If the model changes, the example's figures must be made again: the command is in its comment."""
    *_, known = example
    shipped = yaml.safe_load(EXAMPLE.read_text())
    assert {t["metric"]: t["value"] for t in shipped["targets"]} == {"pulls": known["pulls"],
                                                                    "bytes_wan": known["bytes_wan"]}


def test_the_example_recovers_the_values_that_produced_its_targets(example):
    cal, result, out, _ = example
    assert result.best.values.keys() == KNOWN.keys()
    for path, known in KNOWN.items():
        assert result.best.values[path] == pytest.approx(known, rel=0.05), path
    # the search used its budget's worth of runs or stopped at its tolerance, never more
    assert len(result.evaluations) <= cal.budget
    assert result.runs_made == len(result.evaluations) and result.runs_read == 0
    fitted = ekkosim.load(out / "fitted.yaml")  # the base with the fitted values, resolved
    assert fitted.sync.pull_interval == result.best.values["sync.pull_interval"]
    assert fitted.models[0].workload.rate == result.best.values["models[0].workload.rate"]
    assert fitted.models[0].keys == 100_000 and fitted.workload.duration == 0.3  # `set` is part of what was fitted
    summary = json.loads((out / "calibration.json").read_text())
    assert summary["evaluation"] == result.best.index and summary["objective"] == result.best.objective
    assert [p["path"] for p in summary["parameters"]] == list(KNOWN)
    assert summary["parameters"][0]["range"] == ["10ms", "250ms"] and summary["parameters"][0]["reason"]
    assert [t["name"] for t in summary["targets"]] == ["base:pulls", "base:bytes_wan"]


def test_calibration_parquet_holds_every_evaluation(example):
    cal, result, out, known = example
    table = pd.read_parquet(out / "calibration.parquet")
    assert table["evaluation"].tolist() == list(range(len(result.evaluations)))
    assert table["phase"].tolist() == ["design"] * cal.search.initial + ["refine"] * (len(table) - cal.search.initial)
    assert table["error"].isna().all()
    for row in table.to_dict("records"):
        (folder,) = row["runs"].split()  # one variant, one seed
        summary = json.loads((out / folder / "summary.json").read_text())
        run = ekkosim.load_run(out / folder)
        assert run.scenario.sync.pull_interval == row["sync.pull_interval"]
        assert run.scenario.models[0].workload.rate == row["models[0].workload.rate"]
        assert row["base:pulls"] == row["simulated:base:pulls"] == summary["pulls"]
        assert row["base:bytes_wan"] == summary["bytes_wan"]
        expected = (math.log(summary["pulls"] / known["pulls"]) ** 2
                    + math.log(summary["bytes_wan"] / known["bytes_wan"]) ** 2) / 2
        assert row["objective"] == pytest.approx(expected, rel=1e-12)
    assert table["objective"].idxmin() == result.best.index
    # distinct points only: a point the search reaches twice is evaluated once
    assert not table.duplicated(list(KNOWN)).any()


def test_a_rerun_reads_every_run_and_writes_the_same_bytes(example, tmp_path, capsys):
    cal, result, out, _ = example
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    (copy / "calibration.parquet").unlink()
    assert main(["calibrate", str(cal.source), "--out", str(copy), "--workers", "1"]) == 0
    printed = capsys.readouterr().out
    n = len(result.evaluations)
    assert f"{n} evaluations (0 runs made, {n} read from earlier)" in printed
    assert "sync.pull_interval" in printed and "base:bytes_wan" in printed
    for name in ("calibration.parquet", "calibration.json", "fitted.yaml", "fitted-base.yaml"):
        assert (copy / name).read_bytes() == (out / name).read_bytes(), name


def test_an_interrupted_calibration_resumes_making_only_the_missing_runs(tmp_path, monkeypatch, capsys):
    """Four runs per point (two variants, two seeds); the first attempt is interrupted after two
    runs of its design; the resumed one makes the rest, and gives the bytes of an uninterrupted one."""
    fields = {"variants": {"a": {}, "b": {"sync.local_leader": False}},
              "targets": [{"metric": "pulls", "variant": "a", "value": 252},
                          {"metric": "cross_dc_latency_s", "variant": "b", "over": "a", "value": 1.5}],
              "seeds": [1, 2], "budget": 2, "search": {"seed": 1, "initial": 2}}
    once = _example(tmp_path / "a", **fields)
    assert main(["calibrate", once, "--out", str(tmp_path / "once"), "--quiet"]) == 0

    path = _example(tmp_path / "b", **fields)  # the same file, elsewhere
    real = calibration_module.run_jobs

    def interrupted(jobs, workers, scheduler, progress):
        real(jobs[:2], 1, None)
        raise KeyboardInterrupt

    monkeypatch.setattr(calibration_module, "run_jobs", interrupted)
    assert main(["calibrate", path, "--out", str(tmp_path / "resumed")]) == 130
    assert "interrupted; the complete runs stay in" in capsys.readouterr().err
    made = sorted((tmp_path / "resumed" / "runs").glob("*/summary.json"))
    assert len(made) == 2 and not (tmp_path / "resumed" / "calibration.parquet").exists()  # written at the end only
    before = [summary.stat().st_mtime_ns for summary in made]

    monkeypatch.setattr(calibration_module, "run_jobs", real)
    result = calibrate(read_calibration(path), tmp_path / "resumed", workers=2)
    assert (result.runs_read, result.runs_made) == (2, 2 * 4 - 2)  # 2 points x 2 variants x 2 seeds
    assert [summary.stat().st_mtime_ns for summary in made] == before  # read, not made again
    for name in ("calibration.parquet", "calibration.json", "fitted.yaml", "fitted-a.yaml", "fitted-b.yaml"):
        assert (tmp_path / "resumed" / name).read_bytes() == (tmp_path / "once" / name).read_bytes(), name
    table = pd.read_parquet(tmp_path / "once" / "calibration.parquet")
    assert len(table) == 2
    for row in table.to_dict("records"):  # a variant's metric: the mean over the seeds
        a1, a2, b1, b2 = (ekkosim.load_run(tmp_path / "once" / folder).summary for folder in row["runs"].split())
        assert [a1["seed"], a2["seed"], b1["seed"], b2["seed"]] == [1, 2, 1, 2]
        assert row["a:pulls"] == (a1["pulls"] + a2["pulls"]) / 2
        assert row["b:cross_dc_latency_s"] == pytest.approx((b1["cross_dc_latency_s"] + b2["cross_dc_latency_s"]) / 2,
                                                             rel=1e-15)
    assert table["simulated:b/a:cross_dc_latency_s"].tolist() == (table["b:cross_dc_latency_s"]
                                                                   / table["a:cross_dc_latency_s"]).tolist()


def test_a_metric_no_summary_has_is_named_after_the_design(tmp_path, capsys):
    path = _example(tmp_path, targets=[{"metric": "pulls", "value": 1}, {"metric": "latency_s.maen", "value": 1}],
                    budget=2, search={"initial": 2})
    assert main(["calibrate", path, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: targets[1].metric: 'latency_s.maen' is not a number in the summary of "
                          f"variant base (see {tmp_path / 'out' / 'runs'}/base-")
    assert len(err.splitlines()) == 1


def test_points_the_scenario_refuses_are_recorded_not_run(tmp_path, capsys):
    """Every backoff of the range is valid with the base's 5 s max_backoff, but not with the
    variant's 1 s: no point can be run."""
    path = _example(tmp_path, variants={"short": {"sync.retry.max_backoff": "1s"}},
                    parameters={"sync.retry.backoff": {"range": ["2s", "4s"], "reason": "r"}},
                    budget=2, search={"initial": 2})
    assert main(["calibrate", path, "--out", str(tmp_path / "out")]) == 3
    assert capsys.readouterr().err == (f"error: no evaluation could be scored (2 failed; errors in "
                                       f"{tmp_path / 'out' / 'calibration.parquet'})\n")
    table = pd.read_parquet(tmp_path / "out" / "calibration.parquet")
    assert table["objective"].isna().all() and not (tmp_path / "out" / "runs").exists()
    assert table["error"].str.startswith("short: sync.retry: `max_backoff` (1s) must be at least `backoff`").all()
    assert not (tmp_path / "out" / "calibration.json").exists()


def test_reproduce_runs_the_fitted_testbed(example, tmp_path):
    """`ekkosim reproduce --testbed`: the ablation's rows at a calibration's fit."""
    _, result, out, _ = example
    rows = reproduce.reproduce(["ablation"], tmp_path / "runs", workers=2, testbed=out / "fitted.yaml")["ablation"]
    assert [row.config for row in rows] == [name for name, _, _, _ in reproduce.ABLATION]
    for _, _, _, folder in reproduce.ABLATION:
        run = ekkosim.load_run(tmp_path / "runs" / folder)
        assert run.scenario.sync.pull_interval == result.best.values["sync.pull_interval"]
    assert rows[-1].sim_s == ekkosim.load_run(tmp_path / "runs" / "ekko").summary["cross_dc_latency_s"]


def test_the_paper_calibration_fits_the_ablation_as_reproduce_runs_it():
    cal = read_calibration(PAPER_CALIBRATION)
    assert cal.scenario == (SCENARIOS / "paper" / "testbed.yaml").resolve()
    assert cal.variants == {name: overrides for name, _, overrides, _ in reproduce.ABLATION}
    rows = {name: paper for name, paper, _, _ in reproduce.ABLATION}
    targets = {(t.variant, t.over): t.value for t in cal.targets}
    assert targets == {**{(name, None): paper for name, paper in rows.items()},
                       ("vv", "vv+shard_version"): 4.6,
                       ("vv+shard_version", "vv+shard_version+local_leader"): 2.3}
    assert all(t.metric == "cross_dc_latency_s" for t in cal.targets)
    assert all(p.reason.strip() for p in cal.parameters)
