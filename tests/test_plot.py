"""`ekkosim plot`: latency CDFs of run folders, as PNG files."""

import pytest

from ekkosim.plot import PlotError, plot_cdfs
from ekkosim.runner import run
from ekkosim.scenario import validate
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def ekko_runs(tmp_path_factory):
    from tests.conftest import SMALL
    import copy

    folders = []
    for seed in (1, 2):
        data = copy.deepcopy(SMALL) | {"strategy": "ekko", "seed": seed, "workload": {"duration": "1s"}}
        data["models"][0].update(keys=10_000, shards=4, workload={"rate": 2000})
        folder = tmp_path_factory.mktemp(f"seed{seed}")
        run(validate(data), folder)
        folders.append(folder)
    return folders


def test_overlay_of_runs_and_per_dc(ekko_runs, tmp_path):
    out = plot_cdfs(ekko_runs, tmp_path / "cdf.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result = run_cli("plot", str(ekko_runs[0]), "--by", "dc", "--out", str(tmp_path / "by_dc.png"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "by_dc.png").stat().st_size > 10_000


def test_a_run_without_latencies_is_a_clear_error(small, tmp_path):
    run(validate(small), tmp_path / "offline")
    with pytest.raises(PlotError, match="no latency.parquet"):
        plot_cdfs([tmp_path / "offline"], tmp_path / "x.png")
    result = run_cli("plot", str(tmp_path / "nowhere"), "--out", str(tmp_path / "y.png"))
    assert result.returncode == 2 and "not a finished run" in result.stderr and "Traceback" not in result.stderr
