"""`python -m benchmarks`: one quick case end to end, and a bad case name. No timing is asserted:
the speed targets live in the benchmark's own table (docs/performance.md)."""

import gc
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _benchmarks(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "benchmarks", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_a_quick_case_prints_its_row_with_every_column():
    result = _benchmarks("--quick", "--cases", "keys_1e5", "--wall-limit", "1")
    assert result.returncode == 0, result.stderr
    runs, targets = result.stdout.strip().split("\n\n")
    header, rule, row = runs.splitlines()
    assert targets.splitlines()[0] == "| target | measured | met |"
    assert [cell.strip() for cell in header.strip("|").split("|")] == [
        "case", "build s", "simulated s", "wall s", "CPU s", "simulated/wall", "events", "events/wall s", "flows",
        "keys examined", "peak RSS GiB", "ran at", "load"]
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[0] == "keys_1e5" and int(cells[6].replace(",", "")) > 0


def test_a_bad_rss_limit_is_one_line_and_exit_2():
    result = _benchmarks("--rss-limit", "nan")
    assert result.returncode == 2
    assert result.stderr == ("python -m benchmarks: error: argument --rss-limit: must be a finite number of GB, above 0; "
                             "got nan (see --help)\n")


def test_an_unknown_case_is_one_line_and_exit_2():
    result = _benchmarks("--quick", "--cases", "nonesuch")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "nonesuch" in result.stderr


def test_the_floor_counts_every_changed_key_once_per_receiving_copy():
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.floor", "--seconds", "0.2", "--set", "models[0].keys=100000",
         "--set", "models[0].workload.rate=100000"],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    floor = json.loads(result.stdout)
    assert floor["receiving_copies"] == 3 * 10 - 1  # the testbed: 3 copies in each of 10 DCs, less the writer's
    # pulls every 50 ms find each 100 ms batch alone: the changed keys are the batches' merged keys
    assert 0 < floor["changed_keys_per_s"] <= floor["updates_per_s"]
    assert floor["deliveries_per_s"] == floor["changed_keys_per_s"] * floor["receiving_copies"]
    assert floor["floor_cpu_s_per_60s"] == floor["draw_cpu_s_per_60s"] + floor["deliver_cpu_s_per_60s"]


def test_the_floor_names_a_bad_field_in_one_line():
    result = subprocess.run([sys.executable, "-m", "benchmarks.floor", "--set", "models[0].keys=-1"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "keys" in result.stderr


def _on_small_scaling(program: str, *arguments: str, keys: int = 100_000) -> dict:
    """`python -m benchmarks.<program>` on half a simulated second of a small scaling scenario
    (of `keys` keys: a store of 10^5 holds a row for every key, one of 10^10 only for those written)."""
    result = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{program}", "benchmarks/scaling.yaml", "--seconds", "0.5", *arguments,
         "--set", f"models[0].keys={keys}", "--set", "topology.datacenters[*].servers=2", "--set", "models[0].shards=20"],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_per_event_costs_split_what_a_longer_run_adds_into_its_pulls_and_its_delivered_keys():
    costs = _on_small_scaling("per_event", "--repeats", "2")
    (idle, idle_2), (busy, busy_2) = costs["idle"], costs["busy"]
    for kept in (idle, idle_2, busy, busy_2):  # each the run of least CPU of two
        assert len(kept["runs_cpu_s"]) == 2 and kept["cpu_s"] == min(kept["runs_cpu_s"])
    assert idle["keys_sent"] == idle_2["keys_sent"] == 0 < busy["keys_sent"]  # no updates: nothing new to pull
    assert 0 < idle["pulls"] < idle_2["pulls"] and 0 < busy["pulls"] < busy_2["pulls"] and busy["keys_sent"] < busy_2["keys_sent"]
    pull_s = (idle_2["cpu_s"] - idle["cpu_s"]) / (idle_2["pulls"] - idle["pulls"])
    assert costs["us_per_idle_pull"] == pull_s * 1e6
    extra_cpu_s = busy_2["cpu_s"] - busy["cpu_s"] - (busy_2["pulls"] - busy["pulls"]) * pull_s
    assert costs["ns_per_delivered_key"] == extra_cpu_s / (busy_2["keys_sent"] - busy["keys_sent"]) * 1e9
    average_s = idle_2["cpu_s"] / idle_2["pulls"]  # start-up included
    assert costs["average_us_per_idle_pull"] == average_s * 1e6
    assert costs["average_ns_per_delivered_key"] == (busy_2["cpu_s"] - busy_2["pulls"] * average_s) / busy_2["keys_sent"] * 1e9


def test_inside_a_run_each_step_is_timed_and_fitted_and_every_allocation_counted():
    inside = _on_small_scaling("inside", "--loops", keys=10**10)  # rows, journals and hash tables grow
    steps = inside["steps"]
    assert set(steps) == {"apply", "answer", "tracker", "allocation", "rows growth", "journal growth", "index growth",
                          "index rehash", "answer loop", "moved pairs loop", "apply loop", "hash lookups",
                          "tracker lookup"} and inside["cpu_s"] > 0
    assert all(step["calls"] > 0 and 0 < step["s"] < inside["cpu_s"] for step in steps.values())
    assert sum(inside["allocations"].values()) == steps["allocation"]["calls"]  # each allocation counted once
    for name in ("apply", "answer", "tracker", "rows growth", "journal growth", "index growth", "index rehash"):
        # a fixed cost a call and a cost a key, over every key taken (a growth's: elements copied)
        assert steps[name]["keys"] > 0 and {"fixed_us", "ns_a_key", "median_keys"} <= set(steps[name])
    for name in ("rows growth", "journal growth", "index growth", "index rehash"):  # only calls that copied or placed
        assert steps[name]["median_keys"] > 0
    # an answer compares its pairs once (the moved pairs' loop), then reads the caches at most once
    assert steps["moved pairs loop"]["calls"] == steps["answer"]["calls"] >= steps["answer loop"]["calls"] > 0
    assert steps["answer loop"]["s"] + steps["moved pairs loop"]["s"] < steps["answer"]["s"]  # both within it
    # the apply's loop is given every key an apply is, again where the rows or table lacked room
    assert steps["apply"]["calls"] <= steps["apply loop"]["calls"] <= 2 * steps["apply"]["calls"]
    assert steps["apply"]["keys"] < steps["apply loop"]["keys"] <= 2 * steps["apply"]["keys"]
    assert 0 < steps["apply loop"]["s"] < steps["apply"]["s"]
    assert steps["answer"]["keys"] >= steps["tracker"]["keys"]  # an apply takes at most the keys answered
    collector = inside["garbage_collector"]  # the timed run's collections (none, or a few)
    assert set(collector) == {"collections", "s", "collected"} and 0 <= collector["s"] < inside["cpu_s"]
    later = _on_small_scaling("inside", "--from", "0.25", "--seconds", "0.25", keys=10**10)  # the first quarter untimed
    assert later["from_s"] == later["simulated_s"] == 0.25 and 0 < later["cpu_s"] < inside["cpu_s"]
    assert not {"answer loop", "apply loop"} & set(later["steps"])  # the loops only with --loops
    assert 0 < later["steps"]["apply"]["calls"] < 0.75 * steps["apply"]["calls"]  # a quarter second's calls


def test_the_collector_timed_counts_each_collection_and_what_it_freed():
    from benchmarks.inside import collector_timed

    gc.collect()
    with collector_timed() as counts:
        for _ in range(3):
            cycle = [[]]
            cycle[0].append(cycle)  # garbage only the cyclic collector frees
            del cycle
            gc.collect()
    after = dict(counts)
    gc.collect()  # outside the block: not counted
    assert counts == after and after["collections"] == 3 and after["collected"] >= 6 and after["s"] >= 0


def test_per_event_on_too_short_a_run_says_so_in_one_line():
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.per_event", "benchmarks/scaling.yaml", "--seconds", "0.001",
         "--set", "models[0].keys=100000", "--set", "topology.datacenters[*].servers=2", "--set", "models[0].shards=20"],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "--seconds 0.001: too short" in result.stderr


def test_events_per_pull_count_every_event_by_what_it_wakes():
    counted = _on_small_scaling("events")
    assert counted["events"] == counted["events_processed"] > 0  # every event the run processed, once
    per_pull = counted["events_per_pull"]
    assert abs(sum(per_pull.values()) * counted["pulls"] - counted["events"]) < 1e-6 * counted["events"]
    # every completed pull sent a request and a reply, each a flow that waits out its latency first
    assert per_pull["Timeout: Network.transfer.<locals>.<lambda>"] >= 2


def test_the_call_prices_time_each_call_and_refuse_arguments(monkeypatch, capsys):
    from benchmarks import calls

    timed = []

    def once(call, number):  # each call made once, not timed: the figures are the benchmark's
        call()
        timed.append(number)
        return float(len(timed))

    monkeypatch.setattr(calls, "_us", once)
    assert calls.main([]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert set(printed["gather_by_index"]) == {"30 rows", "100000 rows"}
    assert printed["test_a_mask_of_113_us"] == {"any": 5.0, "all": 6.0, "count_nonzero": 7.0}
    assert printed["compiled_call_by_array_arguments_us"] == {"1": 8.0, "8": 9.0, "16": 10.0}
    assert printed["eight_scatters_of_113_rows_us"] == {"numpy": 11.0, "one_compiled_pass": 12.0}
    assert printed["add_to_one_element_us"] == {"numpy_row": 14.0, "array_of_doubles": 15.0} and len(timed) == 15
    assert calls.main(["--seconds", "1"]) == 2
    assert capsys.readouterr().err == "usage: python -m benchmarks.calls (it takes no arguments)\n"


def test_a_case_of_several_runs_keeps_the_one_of_least_cpu_and_refuses_runs_that_differ(monkeypatch):
    from benchmarks import __main__ as main
    from benchmarks.cases import Case

    case = Case("c", ROOT / "benchmarks" / "scaling.yaml", (), runs=3)
    runs = iter([{"cpu_s": 5.0, "events": 9, "wall_s": 5.1}, {"cpu_s": 4.0, "events": 9, "wall_s": 4.2},
                 {"cpu_s": 6.0, "events": 9, "wall_s": 6.3}])
    monkeypatch.setattr(main, "_run_once", lambda *_: next(runs))
    assert main.run_case(case, 8e9, None) == {"cpu_s": 4.0, "events": 9, "wall_s": 4.2, "runs_cpu_s": [5.0, 4.0, 6.0]}

    runs = iter([{"cpu_s": 5.0, "events": 9}, {"cpu_s": 4.0, "events": 10}])
    with pytest.raises(SystemExit, match="simulated 9 events, then 10: not deterministic"):
        main.run_case(case, 8e9, None)

    runs = iter([{"cpu_s": 5.0, "events": 9}, {"stopped": "resident memory passed 8 GB"}])
    assert main.run_case(case, 8e9, None) == {"stopped": "resident memory passed 8 GB"}

    runs = iter([{"cpu_s": 9.0, "events": 7, "wall_limited": True}])  # its events are the machine's: one run
    assert main.run_case(case, 8e9, 9.0) == {"cpu_s": 9.0, "events": 7, "wall_limited": True}


def test_production_is_judged_on_the_best_of_its_runs_and_names_every_run():
    from benchmarks.cases import cases
    from benchmarks.report import targets

    production = next(case for case in cases() if case.name == "production")
    assert production.runs == 3
    kept = {"cpu_s": 290.0, "sim_s": 60.0, "wall_limited": False, "peak_rss_bytes": 7 * 2**30, "build_s": 2.0,
            "runs_cpu_s": [310.0, 290.0, 330.5]}
    rows = {target: (figure, met) for target, figure, met in targets([production], {"production": kept})}
    assert rows["production: 60 s in at most 300 CPU s"] == (
        "290 CPU s for 60 s, the best of 3 runs (310.0, 290.0, 330.5 CPU s)", True)
    rows = {target: (figure, met) for target, figure, met in
            targets([production], {"production": {**kept, "cpu_s": 310.0, "runs_cpu_s": [310.0, 331.0, 312.0]}})}
    assert rows["production: 60 s in at most 300 CPU s"][1] is False


def test_per_event_keeps_each_runs_least_cpu_and_stops_where_repetitions_differ(monkeypatch):
    """Stand-in runs: the CPU falls with each repetition but for the last, and the counts follow
    the run's length; then one repetition that delivers a key more stops it."""
    from benchmarks import per_event

    made = []

    def measure(scenario, overrides, rss_at, wall_limit):
        duration, drain = (float(v[:-2]) * 1e-9 if v.endswith("ns") else float(v[:-1])
                           for v in (o.split("=")[1] for o in overrides[-2:]))
        made.append(overrides[-2:])
        busy = duration > 1e-6
        length = duration if busy else drain
        cpu = length * [3.0, 2.0, 2.5][(len(made) - 3) // 4 % 3] + (length if busy else 0.0)
        return {"cpu_s": cpu, "pulls": int(10 * length), "keys_sent": int(1000 * length) if busy else 0,
                "events": int(60 * length)}

    monkeypatch.setattr(per_event, "measure", measure)
    costs = per_event.per_event(Path("x.yaml"), [], 1.0, repeats=3)
    # two warm-ups, then the four runs in turn, thrice
    assert [o[0].split("=")[1] for o in made[2:6]] == ["1ns", "1ns", "1s", "2s"] and len(made) == 2 + 4 * 3
    assert costs["idle"][0]["runs_cpu_s"] == [3.0, 2.0, 2.5] and costs["idle"][0]["cpu_s"] == 2.0
    assert costs["busy"][1]["runs_cpu_s"] == [8.0, 6.0, 7.0] and costs["busy"][1]["cpu_s"] == 6.0
    assert costs["us_per_idle_pull"] == pytest.approx(2.0 / 10 * 1e6)  # (4 - 2 CPU s) / (20 - 10 pulls)
    assert costs["ns_per_delivered_key"] == pytest.approx((6.0 - 3.0 - 10 * 0.2) / 1000 * 1e9)

    def uneven(scenario, overrides, rss_at, wall_limit):
        counts = measure(scenario, overrides, rss_at, wall_limit)
        return {**counts, "keys_sent": counts["keys_sent"] + (len(made) == 9)}  # the second busy run of 1 s

    made.clear()
    monkeypatch.setattr(per_event, "measure", uneven)
    with pytest.raises(SystemExit, match=r"^benchmarks: per_event: the busy runs of 1 s simulated 10/1000/60, then "
                                         r"10/1001/60, then 10/1000/60 \(pulls/keys sent/events\): not deterministic$"):
        per_event.per_event(Path("x.yaml"), [], 1.0, repeats=3)


def test_the_per_event_rows_say_how_many_runs_each_figure_is_the_least_of():
    from benchmarks.cases import cases
    from benchmarks.report import targets

    run = {"cpu_s": 1.0, "pulls": 10, "keys_sent": 0, "events": 60, "runs_cpu_s": [1.2, 1.0, 1.1]}
    measured = {"idle": [run, run], "busy": [run, run], "us_per_idle_pull": 86.4, "ns_per_delivered_key": 2617.0,
                "average_us_per_idle_pull": 93.0, "average_ns_per_delivered_key": 2451.0}
    rows = {target: (figure, met) for target, figure, met in targets(cases(), {"per_event_production": measured})}
    assert rows["production: a pull round trip with nothing new, at most 100 us of CPU"] == (
        "86 us, each run the least CPU of 3 (average with the start: 93 us)", True)
    assert rows["production: a delivered key, at most 100 ns of CPU"] == (
        "2,617 ns, each run the least CPU of 3 (average with the start: 2,451 ns)", False)


@pytest.mark.parametrize(("program", "argument", "problem"), [
    ("inside", ["--seconds", "-1"], "argument --seconds: must be a finite number of seconds, above 0; got -1"),
    ("inside", ["--from", "-2"], "argument --from: must be a finite number of seconds, 0 or more; got -2"),
    ("floor", ["--seconds", "inf"], "argument --seconds: must be a finite number of seconds, above 0; got inf"),
    ("measure", ["benchmarks/scaling.yaml", "--wall-limit", "0"],
     "argument --wall-limit: must be a finite number of seconds, above 0; got 0"),
    ("measure", ["benchmarks/scaling.yaml", "--rss-at", "x"], "argument --rss-at: expected a number of seconds, got 'x'"),
    ("measure", ["benchmarks/scaling.yaml", "--rss-at", "nan"],
     "argument --rss-at: must be a finite number of seconds, 0 or more; got nan"),
    ("memory", ["--seconds", "-1"], "argument --seconds: must be a finite number of seconds, above 0; got -1"),
    ("memory", ["--top", "0"], "argument --top: must be at least 1, got 0"),
    ("workers", ["--runs", "1.5"], "argument --runs: expected a whole number, got '1.5'"),
    ("per_event", ["--repeats", "0"], "argument --repeats: must be at least 1, got 0"),
])
def test_a_bad_number_is_one_line_naming_the_argument_and_exit_2(program, argument, problem):
    result = subprocess.run([sys.executable, "-m", f"benchmarks.{program}", *argument], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr == f"python -m benchmarks.{program}: error: {problem} (see --help)\n"


def test_the_shards_series_row_sets_the_cpu_beside_the_keys_delivered_and_the_shards_with_news():
    from benchmarks.cases import cases
    from benchmarks.report import targets

    series = [case for case in cases() if case.series == "shards"]
    assert [case.x for case in series] == [10**3, 10**4, 10**5]
    run = {"sim_s": 60.0, "wall_limited": False, "peak_rss_bytes": 2**30, "runs_cpu_s": [5.0, 4.0, 6.0]}
    results = {series[0].name: {**run, "cpu_s": 4.0, "keys_sent": 100, "shards_moved": 200},
               series[1].name: {**run, "cpu_s": 4.4, "keys_sent": 100, "shards_moved": 700},
               series[2].name: {**run, "cpu_s": 5.0, "keys_sent": 100, "shards_moved": 900}}
    rows = {target: (figure, met) for target, figure, met in targets(series, results)}
    assert rows["100x more shards (1e+03 to 1e+05), same workload: at most 1.2x the CPU time"] == (
        "1.25x, each the best of 3 runs (keys delivered 1.00x, CPU a key delivered 1.25x, shards with news 4.50x; "
        "peak RSS 1.00 / 1.00 / 1.00 GiB)", False)
