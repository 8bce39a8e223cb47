"""Ekko's robustness claim, shown (docs/stragglers.md): with one inference server 10 times slower,
the other DCs' update latency under Ekko stays as it was, while chain replication's and central
push's model-ready times grow with the slow factor (scenarios/stragglers.yaml, shortened)."""

import pytest

from ekkosim.runner import run
from ekkosim.scenario import load
from tests.conftest import SCENARIOS

SHORT = ["workload.duration=2s", "sync.drain=1s"]


def _run(tmp_path, strategy: str, factor: float) -> dict:
    scenario = load(SCENARIOS / "stragglers.yaml", [*SHORT, f"strategy={strategy}", f"faults[0].factor={factor}"])
    return run(scenario, tmp_path / f"{strategy}-{factor}", check=strategy == "ekko" and factor > 1, plots=False)


def test_under_ekko_a_straggler_does_not_hold_the_other_dcs_up(tmp_path):
    healthy, straggling = _run(tmp_path, "ekko", 1), _run(tmp_path, "ekko", 10)
    for summary in (healthy, straggling):
        assert summary["converged"] is True and summary["lost_updates"] == 0 and summary["undelivered"] == 0
    for dc in ("shanghai", "tokyo"):
        before, after = healthy["latency_by_dc_s"][dc]["mean"], straggling["latency_by_dc_s"][dc]["mean"]
        assert after == pytest.approx(before, rel=0.10), dc
    assert straggling["faults"]["injected"][0]["target"] == "frankfurt/ps0"


@pytest.mark.parametrize("strategy", ["chain", "central_push"])
def test_whole_model_strategies_wait_for_the_straggler_longer_the_slower_it_is(tmp_path, strategy):
    ready = {factor: _run(tmp_path, strategy, factor)["model_ready_s"] for factor in (1, 10, 30)}
    slowest = {factor: max(times.values()) for factor, times in ready.items()}
    # the straggler carries a third of the model (17 MB) through its NIC, 1 Gbps / factor: at
    # factor 10 that alone takes 1.36 s, at 30 4.1 s; healthy, the whole push takes about 0.5 s
    assert slowest[10] > 2.5 * slowest[1] and slowest[30] > 2.5 * slowest[10]
    assert slowest[30] > 17e6 * 8 / (1e9 / 30)
