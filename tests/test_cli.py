"""The command as a user meets it: --version, help, output in pipes and logs, --check, faults,
and `ekkosim compare`."""

import io
import json
import re
from types import SimpleNamespace

from rich.console import Console

import ekkosim
from ekkosim.cli import _ProgressDisplay
from ekkosim.progress import ProgressLines, duration_text, eta_text
from tests.conftest import SCENARIOS, interrupted_in_compiled_code, run_cli

LONG = "a-data-center-whose-name-fills-most-of-an-80-column-terminal-x"  # 62 characters


def test_version_and_help():
    version = run_cli("--version")
    assert version.returncode == 0 and version.stdout == f"ekkosim {ekkosim.__version__}\n"
    bare = run_cli()
    assert bare.returncode == 0 and bare.stdout.startswith("usage: ekkosim") and "compare" in bare.stdout
    assert bare.stderr == ""


def test_a_pipe_gets_whole_tables_and_quiet_silences_everything(small, write_scenario, tmp_path):
    small["topology"]["datacenters"][1]["name"] = LONG
    scenario = write_scenario(small)
    result = run_cli("run", str(scenario), "--out", str(tmp_path / "run"), "--no-plots")
    assert result.returncode == 0, result.stderr
    assert re.search(rf"│ {LONG} +│ inference +│ +1\.610 │", result.stdout)  # not cut to 80 columns
    assert "…" not in result.stdout and "\x1b[" not in result.stdout  # no cut cells, no terminal codes
    quiet = run_cli("run", str(scenario), "--out", str(tmp_path / "run"), "--quiet", "--no-plots")
    assert quiet.returncode == 0 and quiet.stdout == quiet.stderr == ""


def test_progress_lines_come_every_interval_and_say_how_far():
    now = [100.0]
    out = io.StringIO()
    lines = ProgressLines(lambda elapsed: f"at {elapsed:g}", out, interval_s=10, clock=lambda: now[0])
    for t in (105, 109.9, 110, 115, 121, 130.5, 131):
        now[0] = t
        lines.tick()
    assert out.getvalue() == "at 10\nat 21\nat 31\n"  # 10 s after the last line, not after the last tick
    assert [duration_text(s) for s in (4.6, 65, 3725)] == ["5 s", "1 min 05 s", "1 h 02 min"]
    assert eta_text(30, 10, 40) == "ETA 1 min 30 s" and eta_text(30, 0, 40) == "ETA unknown"
    assert eta_text(30, 5, None) == "end unknown"


def test_a_run_in_a_log_reports_simulated_time_events_and_eta():
    display = _ProgressDisplay(Console(file=io.StringIO()))  # not a terminal
    sim = SimpleNamespace(env=SimpleNamespace(events_processed=123_456), scenario=SimpleNamespace(until=None),
                          outcome=SimpleNamespace(expected_end_s=lambda until: 40.0))
    display.start(sim)
    display(10.0)
    assert display.line(20.0) == "simulated t = 10.0 s of 40.0 s, 123,456 events, 20 s elapsed, ETA 1 min 00 s"
    display.close()


def test_check_says_the_invariants_held_and_the_faults_are_listed(tmp_path):
    result = run_cli("run", str(SCENARIOS / "faults.yaml"), "--check", "--no-plots", "--out", str(tmp_path / "run"),
                     "--set", "workload.duration=7s", "--set", "sync.drain=1.5s",
                     "--set", "models[0].workload.rate=2000")
    assert result.returncode == 0, result.stderr
    assert re.search(r"invariants \(--check\) +held throughout the run", result.stdout)
    assert "faults injected: 2" in result.stdout  # of five: the run ends at 8.5 s
    assert re.search(r"│ +0 │ link_down +│ wan:shenzhen<->frankfurt +│ +2\.000 │ +4\.000 │", result.stdout)
    assert re.search(r"│ +1 │ partition +│ shanghai, tokyo +│ +5\.000 │ +8\.000 │", result.stdout)


def _comparable_runs(small, write_scenario, tmp_path):
    small.update(strategy="ekko", workload={"duration": "1s"})
    small["models"][0].update(keys=10_000, shards=4, workload={"rate": 2000})
    scenario = write_scenario(small)
    for overrides in ([], ["--set", "topology.wan.latency=50ms"]):
        assert run_cli("run", str(scenario), "--quiet", "--no-plots", *overrides, cwd=tmp_path).returncode == 0
    return sorted((tmp_path / "runs").iterdir())


def test_compare_sets_runs_side_by_side(small, write_scenario, tmp_path):
    first, second = _comparable_runs(small, write_scenario, tmp_path)
    result = run_cli("compare", str(first), str(second), "--plot", str(tmp_path / "cdf.png"))
    assert result.returncode == 0, result.stderr
    assert re.search(r"│ topology\.wan\.latency +│ 10ms +│ 50ms +│", result.stdout)
    a, b = (json.loads((run / "summary.json").read_text()) for run in (first, second))
    ratio = b["cross_dc_latency_s"] / a["cross_dc_latency_s"]
    assert re.search(rf"│ cross_dc_latency_s +│ +{a['cross_dc_latency_s']:.4g} │ +{b['cross_dc_latency_s']:.4g} │ "
                     rf"+{ratio:.3f} │", result.stdout)
    assert (tmp_path / "cdf.png").read_bytes()[:4] == b"\x89PNG"

    as_json = json.loads(run_cli("compare", str(first), str(second), "--json", "--no-plots").stdout)
    assert as_json["scenario_differences"] == {"topology.wan.latency": ["10ms", "50ms"]}
    assert as_json["summary"]["digest"] == [a["digest"], b["digest"]]
    assert as_json["ratio_to_first"]["cross_dc_latency_s"] == [1.0, ratio]
    assert as_json["summary"]["latency_by_dc_s.a.mean"] == [a["latency_by_dc_s"]["a"]["mean"],
                                                           b["latency_by_dc_s"]["a"]["mean"]]


def test_compare_refuses_what_is_not_a_finished_run(tmp_path):
    result = run_cli("compare", str(tmp_path), str(tmp_path))
    assert result.returncode == 2 and "not a finished run" in result.stderr and "Traceback" not in result.stderr


def test_ctrl_c_that_comes_out_of_compiled_code_as_a_system_error_is_an_interrupt(monkeypatch, capsys):
    """Numba turns a KeyboardInterrupt raised in its dispatcher into a SystemError caused by it:
    that is still Ctrl-C (exit code 130), and a SystemError of its own is still a bug (1)."""
    from ekkosim import cli

    monkeypatch.setattr(cli, "_validate", interrupted_in_compiled_code)
    assert cli.main(["validate", "any.yaml"]) == cli.EXIT_INTERRUPTED
    assert "interrupted" in capsys.readouterr().err

    def broken(args, console):
        raise SystemError("a bug")

    monkeypatch.setattr(cli, "_validate", broken)
    assert cli.main(["validate", "any.yaml"]) == cli.EXIT_INTERNAL
    assert "internal error" in capsys.readouterr().err
