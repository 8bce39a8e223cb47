"""The notebooks run headlessly, top to bottom, and draw their figures."""

import base64
from pathlib import Path

import nbformat
import pytest
import yaml

from notebooks.refresh import NOTEBOOKS, execute, stable
from tests.conftest import REPO, SCENARIOS


def _assignment(name: str, value) -> str:
    return f"{name} = Path({str(value)!r})" if isinstance(value, Path) else f"{name} = {value!r}"


def _execute(name: str, cwd: Path, **parameters) -> nbformat.NotebookNode:
    """Run a notebook with `parameters` assigned in a cell right after its own parameters cell
    (as papermill injects them), so the test sizes the run and the notebook's imports stay."""
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    execute(notebook, cwd, "\n".join(_assignment(key, value) for key, value in parameters.items()), timeout_s=600)
    return notebook


def _images(notebook) -> int:
    return sum("image/png" in output.get("data", {}) for cell in notebook.cells for output in cell.get("outputs", []))


def _printed(notebook) -> str:
    return "".join(output.get("text", "") for cell in notebook.cells for output in cell.get("outputs", []))


def test_ablation_latency_cdf(small_scenarios, tmp_path):
    notebook = _execute("ablation_latency_cdf.ipynb", tmp_path, SCENARIOS=small_scenarios, OUT=tmp_path / "runs", QUICK=False)
    assert _images(notebook) == 1
    printed = _printed(notebook)
    assert "vv+shard_version+local_leader" in printed and "paper   2.6 s" in printed


def test_sensitivity_heatmap(small_scenarios, tmp_path):
    """One parameter halved and doubled on the stand-in testbed: the heat map, and each point's
    line naming what it moved."""
    notebook = _execute("sensitivity_heatmap.ipynb", tmp_path, SCENARIOS=small_scenarios, OUT=tmp_path / "runs",
                        PARAMETERS=("sync.pull_interval",), QUICK=False)
    assert _images(notebook) == 1
    printed = _printed(notebook).splitlines()
    assert printed[0].startswith("base: vv ")
    assert [line.split()[:2] for line in printed[1:]] == [["sync.pull_interval", "x0.5"], ["sync.pull_interval", "x2"]]


def test_state_manager_timeline(tmp_path):
    notebook = _execute("state_manager_timeline.ipynb", tmp_path, SCENARIO=SCENARIOS / "biased_update.yaml",
                        OUT=tmp_path / "runs", OVERRIDES=["workload.duration=45s", "sync.drain=1s"])
    assert _images(notebook) == 1
    printed = _printed(notebook)
    assert "ranking: injected 40.000 s, detected 4" in printed and "manager off" in printed


def test_sweep_heatmap(tmp_path):
    """A 2 x 2 grid of short runs: the heatmap, and each cell as sweep.parquet gives it."""
    import ekkosim

    sweep = tmp_path / "grid.yaml"
    sweep.write_text(yaml.safe_dump({
        "scenario": str(REPO / "scenarios" / "ekko_basic.yaml"),
        "set": {"workload.duration": "0.5s", "sync.drain": "0.5s", "models[0].workload.rate": 2000},
        "grid": {"topology.wan.bandwidth": ["20Mbps", "4800Mbps"], "sync.pull_interval": ["10ms", "200ms"]},
    }, sort_keys=False))
    out = tmp_path / "runs"
    notebook = _execute("sweep_heatmap.ipynb", tmp_path, SWEEP=sweep, OUT=out, WORKERS=1, METRIC="cross_dc_latency_s")
    assert _images(notebook) == 1
    table = ekkosim.load_sweep(out)
    assert _printed(notebook).splitlines() == [
        f"topology.wan.bandwidth={row['topology.wan.bandwidth']} sync.pull_interval={row['sync.pull_interval']}: "
        f"{row['cross_dc_latency_s']:.6f}" for row in table.to_dict("records")]
    # a narrow WAN makes updates slower, whatever the pull interval
    latency = table.set_index(["topology.wan.bandwidth", "sync.pull_interval"])["cross_dc_latency_s"]
    assert latency["20Mbps"].gt(latency["4800Mbps"]).all()


def test_heterogeneous_wan(tmp_path):
    # a lighter workload (100,000 key updates a second on 100,000 keys) for 1 s
    lighter = ["workload.duration=1s", "sync.drain=0.5s", "models[0].workload.rate=100000", "models[0].keys=100000",
               "models[0].shards=30", "models[0].shard_split=1", "sync.cache_size=1024"]
    notebook = _execute("heterogeneous_wan.ipynb", tmp_path, SCENARIO=SCENARIOS / "paper" / "testbed_heterogeneous.yaml",
                        OUT=tmp_path / "runs", OVERRIDES=lighter)
    assert _images(notebook) == 1
    printed = _printed(notebook)
    # every inference DC's path is its own link from Shenzhen (a star: no detour is shorter)
    assert "hongkong     4800 Mbps    1.0 ms" in printed and "saopaulo     1000 Mbps  135.0 ms" in printed


def test_congestion_quality(tmp_path):
    # 3 s of updates, both links congested from 0.5 s to 2 s
    congested = [f"network.congestion[{i}].{key}" for i in (0, 1) for key in ("start=0.5s", "end=2s")]
    notebook = _execute("congestion_quality.ipynb", tmp_path, SCENARIO=SCENARIOS / "congestion.yaml",
                        OUT=tmp_path / "runs", OVERRIDES=["workload.duration=3s", "sync.drain=0.5s", *congested])
    assert _images(notebook) == 1
    printed = _printed(notebook)
    assert "scheduler on   shanghai peak" in printed and "scheduler off  shanghai peak" in printed


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.stem)
def test_stored_with_outputs_that_do_not_churn(path):
    """A notebook is stored as `python -m notebooks.refresh` leaves it: every code cell run, its
    figures in it (so a browser and the docs site show them), nothing that differs between two
    refreshes of the same code (timestamps, the Python version, the matplotlib version)."""
    notebook = nbformat.read(path, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert [cell.execution_count for cell in code] == list(range(1, len(code) + 1)), "not refreshed"
    assert _images(notebook) >= 1
    assert not any(output.get("output_type") == "error" for cell in code for output in cell.outputs)
    assert stable(nbformat.read(path, as_version=4)) == notebook
    assert "language_info" not in notebook.metadata
    images = [base64.b64decode(output["data"]["image/png"]) for cell in code for output in cell.outputs
              if "image/png" in output.get("data", {})]
    assert all(b"Matplotlib version" not in image for image in images)
