"""The notebooks run headlessly, top to bottom, and draw their figures."""

import nbformat
import yaml
from nbclient import NotebookClient

from tests.conftest import REPO

NOTEBOOKS = REPO / "notebooks"


def _execute(name: str, parameters: str, cwd) -> nbformat.NotebookNode:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    cell = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    cell.source = parameters
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}).execute()
    return notebook


def _images(notebook) -> int:
    return sum("image/png" in output.get("data", {}) for cell in notebook.cells for output in cell.get("outputs", []))


def _printed(notebook) -> str:
    return "".join(output.get("text", "") for cell in notebook.cells for output in cell.get("outputs", []))


def test_ablation_latency_cdf(small_scenarios, tmp_path):
    notebook = _execute(
        "ablation_latency_cdf.ipynb",
        f"from pathlib import Path\nfrom ekkosim import reproduce\nSCENARIOS = Path({str(small_scenarios)!r})\n"
        f"OUT = Path({str(tmp_path / 'runs')!r})\nQUICK = False",
        tmp_path,
    )
    assert _images(notebook) == 1
    printed = _printed(notebook)
    assert "vv+shard_version+local_leader" in printed and "paper   2.6 s" in printed


def test_state_manager_timeline(tmp_path):
    notebook = _execute(
        "state_manager_timeline.ipynb",
        f"from pathlib import Path\nSCENARIO = Path({str(REPO / 'scenarios' / 'biased_update.yaml')!r})\n"
        f"OUT = Path({str(tmp_path / 'runs')!r})\nOVERRIDES = ['workload.duration=45s', 'sync.drain=1s']",
        tmp_path,
    )
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
    notebook = _execute(
        "sweep_heatmap.ipynb",
        f"from pathlib import Path\nSWEEP = Path({str(sweep)!r})\nOUT = Path({str(out)!r})\nWORKERS = 1\n"
        "METRIC = 'cross_dc_latency_s'",
        tmp_path,
    )
    assert _images(notebook) == 1
    table = ekkosim.load_sweep(out)
    assert _printed(notebook).splitlines() == [
        f"topology.wan.bandwidth={row['topology.wan.bandwidth']} sync.pull_interval={row['sync.pull_interval']}: "
        f"{row['cross_dc_latency_s']:.6f}" for row in table.to_dict("records")]
    # a narrow WAN makes updates slower, whatever the pull interval
    latency = table.set_index(["topology.wan.bandwidth", "sync.pull_interval"])["cross_dc_latency_s"]
    assert latency["20Mbps"].gt(latency["4800Mbps"]).all()
