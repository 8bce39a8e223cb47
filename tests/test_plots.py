"""Every run folder has its figures: present, whole PNGs, no text over other text, and curves
that coincide drawn so that both show, the legend saying so."""

import copy

import numpy as np
import pytest
import yaml

from ekkosim.plots.draw import Curve, draw_curves, figure, legend_below, overlapping_texts
from ekkosim.plots.latency import cdf_figure
from ekkosim.plots.run import run_figures
from ekkosim.run_files import LATENCY_FIGURE as LATENCY
from ekkosim.run_files import LINKS_FIGURE as LINKS
from ekkosim.run_files import QUALITY_FIGURE as QUALITY
from ekkosim.runner import run
from ekkosim.scenario import load, validate
from tests.conftest import SCENARIOS, SMALL

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def faults_run(tmp_path_factory):
    """The faults scenario, shortened: latency, quality, congestion-free links with a failed link
    and a partition, crashes; its tables as the run wrote them, and its figures."""
    folder = tmp_path_factory.mktemp("faults")
    scenario = load(SCENARIOS / "faults.yaml", ["workload.duration=9s", "sync.drain=2s",
                                                "models[0].workload.rate=2000"])
    summary = run(scenario, folder)
    return folder, scenario, summary


def _tables(folder):
    import pyarrow.parquet as pq

    return {path.name: {name: column.to_numpy(zero_copy_only=False)
                        for name, column in zip(pq.read_table(path).column_names, pq.read_table(path).columns)}
            for path in folder.glob("*.parquet")}


def test_a_run_folder_holds_its_figures_as_whole_pngs(faults_run):
    folder, _, _ = faults_run
    for name in (LATENCY, LINKS, QUALITY):
        data = (folder / name).read_bytes()
        assert data[:8] == PNG and len(data) > 20_000, name
    assert not list(folder.glob(".*.partial"))


def test_no_text_lies_over_other_text(faults_run):
    folder, scenario, summary = faults_run
    figures = run_figures(scenario, summary, _tables(folder))
    assert sorted(figures) == sorted([LATENCY, LINKS, QUALITY])
    for name, fig in figures.items():
        assert overlapping_texts(fig) == [], name


def test_the_figures_mark_what_the_run_injected(faults_run):
    folder, scenario, summary = faults_run
    figures = run_figures(scenario, summary, _tables(folder))
    legend = [text.get_text() for text in figures[QUALITY].legends[0].get_texts()]
    assert "link_down 2-4 s: wan:shenzhen<->frankfurt" in legend
    assert "partition 5-8 s: shanghai, tokyo cut off" in legend
    assert "server_crash at 9 s: frankfurt/ps1" in legend
    dcs = [text for text in legend if text.split(":")[0] in scenario.receiving_dcs]
    assert len(dcs) == len(scenario.receiving_dcs)
    latency = [text.get_text() for text in figures[LATENCY].legends[0].get_texts()]
    mean = summary["latency_by_dc_s"]["shanghai"]["mean"]
    assert any(text.startswith(f"shanghai: mean {mean:.3g} s") for text in latency), latency
    # frankfurt's crashed server is down at the end: its pairs undelivered, its mean undetermined
    frankfurt = summary["latency_by_dc_s"]["frankfurt"]
    assert frankfurt["mean"] is None and frankfurt["undelivered"] > 0
    delivered = _tables(folder)["latency.parquet"]
    mean = delivered["latency_s"][delivered["dc"] == "frankfurt"].mean()
    assert any(text.startswith(f"frankfurt: mean {mean:.3g} s") and
               text.endswith(f" of the delivered; {frankfurt['undelivered']:,} pairs undelivered") for text in latency), latency


def test_an_offline_run_gets_its_links_figure_only(tmp_path):
    run(validate(copy.deepcopy(SMALL)), tmp_path)
    assert sorted(p.name for p in tmp_path.glob("*.png")) == [LINKS]


def test_no_plots_means_no_figures(tmp_path):
    run(validate(copy.deepcopy(SMALL)), tmp_path, plots=False)
    assert not list(tmp_path.glob("*.png"))


def test_coinciding_curves_both_show_and_the_legend_says_so():
    fig, (ax,) = figure()
    x = np.linspace(0, 1, 50)
    lines = draw_curves(ax, [Curve("vv", x, x**2), Curve("vv+shard_version", x, x**2 * 1.001), Curve("other", x, x)])
    legend_below(fig, ax)
    labels = [text.get_text() for text in fig.legends[0].get_texts()]
    assert labels == ["vv", "vv+shard_version (coincides with vv)", "other"]
    first, second, third = lines
    assert first.get_linestyle() == "-" and third.get_linestyle() == "-"
    assert second.get_linestyle() == "--" and second.get_marker() not in (None, "None", "")
    assert overlapping_texts(fig) == []


def test_latency_cdfs_of_many_samples_draw_through_a_fixed_number_of_points():
    rng = np.random.default_rng(0)
    same = rng.lognormal(size=200_000)
    fig = cdf_figure([("a", same), ("b", same.copy()), ("zero", np.zeros(3))], "t", "x")
    ax = fig.axes[0]
    assert all(len(line.get_xdata()) <= 1000 for line in ax.get_lines())
    assert "no latencies: zero" in ax.get_title()
    labels = [text.get_text() for text in fig.legends[0].get_texts()]
    assert labels[1].endswith("(coincides with a)") and labels[-2:] == ["p50", "p99"]
