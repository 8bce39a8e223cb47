"""`ekkosim reproduce`: the machinery of the paper tables (rows, JSON), on small stand-ins, and
the book's 800 s example exactly."""

import json

import pytest

from ekkosim import reproduce
from tests.conftest import run_cli


def test_ablation_rows(small_scenarios, tmp_path):
    rows = reproduce.ablation(tmp_path / "runs", workers=1, scenarios=small_scenarios)
    assert [row.config for row in rows] == ["vv", "vv+shard_version", "vv+shard_version+local_leader"]
    assert [row.paper_s for row in rows] == [27.4, 6.0, 2.6]
    for row in rows:
        assert 0 < row.p50_s <= row.p99_s and row.sim_s > 0
        assert set(row.as_json()) == {"config", "paper_s", "sim_s", "p50_s", "p99_s"}


def test_baselines_minutes_against_seconds_and_the_800s_example(small_scenarios, tmp_path):
    rows = {row.config: row for row in reproduce.baselines(tmp_path / "runs", workers=2, scenarios=small_scenarios)}
    assert rows["broadcast_800s"].sim_s == pytest.approx(800.0, rel=1e-3)
    assert rows["offline"].sim_s > 60 * rows["ekko"].sim_s  # minutes against seconds
    assert rows["offline"].sim_s > 300 + 600  # checkpoint and validation alone take 15 minutes


def test_cli_json_form(small_scenarios, tmp_path):
    result = run_cli("reproduce", "latency", "--json", "--out", str(tmp_path / "runs"), "--workers", "1",
                     "--scenarios", str(small_scenarios))
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [row["config"] for row in rows] == ["cross_dc", "intra_dc"]
    assert [row["paper_s"] for row in rows] == [2.4, 0.7]
