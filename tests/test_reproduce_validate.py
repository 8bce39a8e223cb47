"""`ekkosim reproduce validate`: the held-out figures. Jobs (the production window, the costs copied
from the testbed being validated, distinct folders), rows from hand-made summaries (exact
values, bounds that hold or fail), the CLI's table, and a run end to end on small stand-ins."""

import json
import shutil

import pytest
import yaml

from ekkosim import reproduce
from ekkosim.scenario import load
from tests.conftest import SCENARIOS, call_cli

CALIBRATED_COSTS = {"cpu_per_request": "33us", "cpu_per_shard": "2.5us", "cpu_per_key_applied": "123ns",
                    "header_bytes": "100B"}


@pytest.fixture
def calibrated_testbed(tmp_path):
    """A testbed whose per-operation costs differ from the defaults, and from production's."""
    data = yaml.safe_load((SCENARIOS / reproduce.TESTBED).read_text())
    data["sync"]["costs"] = CALIBRATED_COSTS
    data["sync"]["pull_interval"] = "20ms"  # not a cost: production must not take it
    path = tmp_path / "fitted.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def plan(testbed, quick=False):
    return reproduce.Plan(SCENARIOS, testbed, tuple(reproduce.QUICK) if quick else (), (), quick=quick)


def test_jobs_run_production_with_the_testbeds_costs_and_only_those(calibrated_testbed):
    jobs = reproduce.EXPERIMENTS["validate"].jobs(plan(calibrated_testbed))
    folders = [job.folder for job in jobs]
    assert len(set(folders)) == len(folders) == 6
    production = jobs[0]
    assert production.scenario == reproduce.PRODUCTION and production.folder == "production"
    assert production.overrides[:2] == reproduce.PRODUCTION_WINDOW
    assert all(o.startswith("sync.costs.") for o in production.overrides[2:])
    run = load(production.scenario, list(production.overrides))
    assert run.sync.costs == load(calibrated_testbed).sync.costs  # every cost, read back exactly
    assert run.sync.costs.cpu_per_request == pytest.approx(33e-6, rel=1e-15)
    shipped = load(reproduce.PRODUCTION, max_memory=float("inf"))  # its full 50 s: beyond 8 GiB
    assert run.sync.pull_interval == shipped.sync.pull_interval == 0.5  # the testbed's 20 ms is not a cost
    assert run.workload.duration == 3.0 and run.sync.drain == 3.0
    assert run.model_dump(exclude={"sync", "workload"}) == shipped.model_dump(exclude={"sync", "workload"})
    by_folder = {job.folder: job for job in jobs}
    assert by_folder["broadcast_800s"] == reproduce.BROADCAST_800S  # the baselines' run, shared
    assert by_folder["congestion"].overrides == ()
    assert by_folder["congestion-no-scheduler"].overrides == ("scheduler.enabled=false",)
    assert by_folder["testbed_heterogeneous"].scenario == reproduce.HETEROGENEOUS
    assert "validate" not in reproduce.ALL


def test_the_rollback_runs_the_testbed_being_validated_with_a_113_gb_model(calibrated_testbed):
    job = {job.folder: job for job in reproduce.EXPERIMENTS["validate"].jobs(plan(calibrated_testbed))}["rollback"]
    assert job.scenario == calibrated_testbed
    run, testbed = load(job.scenario, list(job.overrides)), load(calibrated_testbed)
    model, base = run.models[0], testbed.models[0]
    # 113 GB of 256-byte rows, in shards of the testbed's 480 rows: 1 copy a DC (2 would need
    # 226 GB of a DC's 3 x 64 GB)
    assert (model.keys, model.value_bytes, model.shards, model.replicas) == (441_406_250, 256, 919_597, 1)
    assert model.keys / model.shards == pytest.approx(base.keys / base.shards, rel=1e-5)
    assert model.shard_split == base.shard_split and run.sync == testbed.sync.model_copy(update={"drain": 30.0})
    assert run.sync.costs.cpu_per_request == pytest.approx(33e-6, rel=1e-15)  # the calibrated costs, not refitted
    assert run.quality.enabled and run.manager.enabled
    assert run.manager.model_dump() == type(run.manager)(enabled=True).model_dump()  # the manager's defaults
    [burst] = run.quality.biased_updates
    assert (burst.model, burst.start, burst.end, burst.strength, burst.share) == ("wide_deep", 60.0, 90.0, 2.0, 0.5)
    assert burst.start >= run.manager.witness_lag and run.workload.duration == burst.end
    quick = {job.folder: job for job in reproduce.EXPERIMENTS["validate"].jobs(plan(calibrated_testbed, True))}
    short = load(calibrated_testbed, list(quick["rollback"].overrides))
    assert short.workload.duration == 20.0 and short.quality.biased_updates[0].start == 12.0
    assert short.models == run.models


def test_quick_jobs_are_short(calibrated_testbed):
    jobs = {job.folder: job for job in reproduce.EXPERIMENTS["validate"].jobs(plan(calibrated_testbed, quick=True))}
    assert jobs["production"].overrides[:2] == reproduce.PRODUCTION_QUICK
    assert jobs["congestion-no-scheduler"].overrides == ("scheduler.enabled=false", *reproduce.CONGESTION_QUICK)
    assert jobs["testbed_heterogeneous"].overrides == tuple(reproduce.QUICK)


def latency(mean, censored=False):
    return {"mean": mean, "p50": mean - 0.01, "p99": mean + 0.5, "mean_censored": censored}


HETEROGENEOUS_MEANS = {"hongkong": 0.3, "shanghai": 0.4, "chengdu": 0.42, "beijing": 0.45, "singapore": 0.5,
                       "tokyo": 0.52, "frankfurt": 1.7, "virginia": 1.8, "saopaulo": 2.0}


def summaries(heterogeneous=HETEROGENEOUS_MEANS, on_pct=0.5, off_pct=5.0, rollback_incidents=None):
    rollback_incidents = ROLLBACK_INCIDENTS if rollback_incidents is None else rollback_incidents
    return {
        "production": {"cross_dc_latency_s": 1.2, "intra_dc_latency_s": 0.35},
        "broadcast_800s": {"model_ready_s": {"dc1": 800.02, "dc2": 400.0}},
        "congestion": {"slo": {"slo_drop_peak_pct": on_pct}},
        "congestion-no-scheduler": {"slo": {"slo_drop_peak_pct": off_pct}},
        "testbed_heterogeneous": {"latency_by_dc_s": {dc: latency(mean) for dc, mean in heterogeneous.items()}},
        "rollback": {"manager": {"incidents": rollback_incidents}},
    }


def incident(injected_at_s, switched_s, complete_s):
    """An incident as summary.json's manager.incidents has it (the fields the row reads)."""
    return {"injected_at_s": injected_at_s, "traffic_switched_at_s": switched_s,
            "rollback_complete_s": {f"dc{i}": t for i, t in enumerate(complete_s)}}


# a false alarm first; then the burst's first incident, complete in all 10 DCs of the testbed
ROLLBACK_INCIDENTS = [incident(None, 17.0, [17.1] * 10), incident(60.0, 66.0, [66.3, 70.0, 72.5] + [69.0] * 7),
                      incident(60.0, 75.0, [75.5] * 10)]


def rows_of(summaries_by_folder):
    rows = reproduce.EXPERIMENTS["validate"].rows(plan(SCENARIOS / reproduce.TESTBED), None, summaries_by_folder)
    return {row.config: row for row in rows}


def test_rows_from_summaries():
    rows = rows_of(summaries())
    cross, intra = rows["production: cross-DC mean"], rows["production: intra-DC mean"]
    assert (cross.paper_s, cross.sim_s, cross.ratio) == (2.4, 1.2, 0.5)
    assert (intra.paper_s, intra.sim_s, intra.ratio) == (0.7, 0.35, 0.5)
    assert cross.source == ("the book's production average; production.yaml with workload.duration=3s, "
                            "sync.drain=3s and the sync.costs of testbed.yaml")
    assert (rows["broadcast_800s"].sim_s, rows["broadcast_800s"].paper_s) == (800.02, 800.0)
    on, off = rows["congestion: peak SLO drop, scheduler on"], rows["congestion: peak SLO drop, scheduler off"]
    assert (on.paper_s, on.sim_s, on.bound, on.unit, on.holds, on.ratio) == (2.0, 0.5, "<", "%", True, None)
    assert (off.paper_s, off.sim_s, off.bound, off.holds) == (2.0, 5.0, ">", True)
    rollback = rows["rollback of a 113 GB model"]
    assert (rollback.paper_s, rollback.sim_s, rollback.holds) == (6.4, 72.5 - 66.0, None)
    assert rollback.ratio == pytest.approx(6.5 / 6.4, rel=1e-12)
    assert rollback.source == (
        "an author's public notes; testbed.yaml with a 113 GB model (441,406,250 rows in 919,597 shards, 1 copy "
        "a DC), the quality model and the manager on, biased updates from 60 s: from the traffic switch to the "
        "last DC holding the rollback")
    hongkong = rows["heterogeneous: hongkong (1 ms, 4800 Mbps)"]
    assert (hongkong.paper_s, hongkong.sim_s, hongkong.p50_s, hongkong.p99_s) == (None, 0.3, 0.29, 0.8)
    assert hongkong.source == "no published figure"
    assert rows["heterogeneous: saopaulo (135 ms, 1000 Mbps)"].sim_s == 2.0
    check = rows[reproduce.OUT_OF_ORDER]
    assert (check.paper_s, check.sim_s, check.bound, check.holds) == (0, 0, "<=", True)
    assert json.loads(json.dumps(check.as_json()))["holds"] is True


def test_bounds_that_fail_and_latency_that_falls_with_distance():
    means = dict(HETEROGENEOUS_MEANS, shanghai=0.25, virginia=0.1)  # shanghai below hongkong; virginia below 7 DCs
    rows = rows_of(summaries(means, on_pct=2.5, off_pct=1.0))
    assert rows["congestion: peak SLO drop, scheduler on"].holds is False
    assert rows["congestion: peak SLO drop, scheduler off"].holds is False
    check = rows[reproduce.OUT_OF_ORDER]
    # virginia (98 ms, 1000 Mbps) is worse than every DC but saopaulo, and has the lowest mean
    assert (check.sim_s, check.holds) == (1 + 7, False)
    assert "shanghai below hongkong" in check.source and "virginia below frankfurt" in check.source
    assert "saopaulo below virginia" not in check.source


def test_a_rollback_that_no_dc_or_not_every_dc_completed_has_no_figure():
    """Only a detected burst's incident whose rollback reached all 10 DCs counts; false alarms never."""
    for incidents in ([], [incident(None, 17.0, [17.1] * 10)], [incident(60.0, 66.0, [66.3] * 9)]):
        assert rows_of(summaries(rollback_incidents=incidents))["rollback of a 113 GB model"].sim_s is None


def test_an_undetermined_mean_leaves_the_check_undetermined():
    by_folder = summaries()
    by_folder["testbed_heterogeneous"]["latency_by_dc_s"]["saopaulo"]["mean_censored"] = True
    rows = rows_of(by_folder)
    assert rows["heterogeneous: saopaulo (135 ms, 1000 Mbps)"].sim_s is None
    check = rows[reproduce.OUT_OF_ORDER]
    assert (check.sim_s, check.holds) == (None, None)


def test_cli_prints_the_held_out_table(monkeypatch, capsys):
    rows = list(rows_of(summaries(on_pct=2.5)).values())
    monkeypatch.setattr(reproduce, "reproduce", lambda names, out, **kwargs: {"validate": rows})
    code, out, err = call_cli(capsys, "reproduce", "validate", "--quiet")
    assert code == 0, err
    lines = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") > 2}
    assert "< 2 %" in lines["congestion: peak SLO drop, scheduler on"]
    assert "2.500 %" in lines["congestion: peak SLO drop, scheduler on"]
    assert "fails" in lines["congestion: peak SLO drop, scheduler on"]
    assert "holds" in lines["congestion: peak SLO drop, scheduler off"]
    assert "2.4 s" in lines["production: cross-DC mean"] and "0.50" in lines["production: cross-DC mean"]
    assert "6.4 s" in lines["rollback of a 113 GB model"] and "6.500 s" in lines["rollback of a 113 GB model"]
    code, out, err = call_cli(capsys, "reproduce", "validate", "--json", "--quiet")
    assert [row["config"] for row in json.loads(out)] == [row.config for row in rows]


def test_end_to_end_on_small_stand_ins(small_scenarios, tmp_path):
    """Every run made and read: production and the heterogeneous testbed stood in for by the
    small testbed (a WAN of unequal links), the congestion scenario shortened (`quick`)."""
    shutil.copy(small_scenarios / reproduce.TESTBED, small_scenarios / reproduce.HETEROGENEOUS)
    shutil.copy(SCENARIOS / "congestion.yaml", small_scenarios / "congestion.yaml")
    rows = {row.config: row for row in reproduce.reproduce(
        ["validate"], tmp_path / "runs", quick=True, workers=2, scenarios=small_scenarios, plots=False,
        production=small_scenarios / reproduce.TESTBED)["validate"]}
    assert rows["broadcast_800s"].sim_s == pytest.approx(800.0, rel=1e-3)
    assert 0 < rows["production: intra-DC mean"].sim_s < rows["production: cross-DC mean"].sim_s
    assert rows["congestion: peak SLO drop, scheduler on"].sim_s >= 0
    shanghai = rows["heterogeneous: shanghai (15 ms, 4800 Mbps)"].sim_s
    assert 0 < shanghai < rows["heterogeneous: frankfurt (90 ms, 4800 Mbps)"].sim_s
    assert rows[reproduce.OUT_OF_ORDER].holds is True
    # the stand-in testbed (3 DCs of 3 servers) with a 113 GB model: the burst at 12 s detected and rolled back
    assert 0 < rows["rollback of a 113 GB model"].sim_s < 8
