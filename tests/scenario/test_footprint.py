"""The memory estimate: its terms computed by hand for a small scenario, the refusal naming the
largest part and the limit, `--max-memory`, and real runs (fresh processes) staying below the
estimate they were given."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import pytest
import yaml

from ekkosim.scenario import ScenarioError, validate
from ekkosim.scenario import footprint as fp
from tests.conftest import REPO, SCENARIOS, SMALL, call_cli


def tiny() -> dict:
    data = copy.deepcopy(SMALL) | {"strategy": "ekko", "workload": {"duration": "0.3s"}, "sync": {"drain": "0.3s"}}
    data["models"][0].update(keys=1000, shards=2, workload={"rate": 500})
    return data


def test_terms_of_a_small_ekko_scenario():
    terms = {term.name: term for term in fp.estimate(validate(tiny())).terms}
    copies = 3  # one copy of each shard in each of 3 DCs
    expected = {
        "the interpreter and libraries": fp.INTERPRETER_BYTES,
        "DC pairs": 3 * fp.DC_PAIR_BYTES,
        "servers": 3 * fp.SERVER_BYTES,
        # 2 NIC links per server, 6 directed WAN links, an uplink and a downlink per DC; 0.6 s in 1 s windows
        "link time series": (6 + 6 + 6) * 0.6 * fp.TIMESERIES_ROW_BYTES,
        # 150 updates could touch 150 keys, and a warm start fills 2 x 4,096: all 1,000 keys
        "per-key state of model m": 1000 * copies * fp.KEY_STATE_BYTES,
        "per-shard state of model m": 2 * copies * fp.SHARD_COPY_BYTES,
        "update caches of model m (sync.cache_size 4,096)": 2 * copies * 2 * 4096 * fp.CACHE_ENTRY_BYTES,
        "update batches of model m": 500 * 0.1 * fp.BATCHES_HELD * fp.UPDATE_BYTES,
        "latency samples of model m": 500 * 0.3 * (copies - 1) * fp.LATENCY_ROW_BYTES,
        # 2 shards x 2 pulling copies, one lane, every 50 ms for 0.6 s, two flows a pull
        "pull flows of model m": 2 * (2 * 2 * 0.6 / 0.05) * fp.FLOW_BYTES,
    }
    assert {name: term.bytes for name, term in terms.items()} == pytest.approx(expected, rel=1e-12)
    assert terms["per-key state of model m"].field == "models[0].keys"


def test_touched_keys_follow_the_workload_when_the_model_is_larger():
    data = tiny()
    data["models"][0]["keys"] = 10**8
    data["sync"]["warm_start"] = False
    term = next(t for t in fp.estimate(validate(data)).terms if t.name.startswith("per-key"))
    assert (term.count, term.field) == (500 * 0.3 * 3, "models[0].workload.rate")


def test_refused_with_the_number_and_the_largest_part():
    data = tiny()
    data["models"][0]["workload"]["rate"] = 1e8
    with pytest.raises(ScenarioError) as refused:
        validate(data, max_memory=2**30)
    assert refused.value.problems == [
        "output.latency_sample: a run needs about 12.2 GiB of memory, more than the limit of 1 GiB (raise it with "
        "--max-memory); the largest part is latency samples of model m, 60,000,000 deliveries x 200 B = 11.2 GiB"]
    assert validate(data, max_memory=16 * 2**30).name == "small"


def test_cli_prints_the_estimate_and_takes_the_limit(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(tiny()))
    code, out, _ = call_cli(capsys, "validate", str(path))
    assert (code, out) == (0, f"{path}: ok (small, strategy ekko, about 258 MiB of memory)\n")
    code, _, err = call_cli(capsys, "validate", str(path), "--max-memory", "100MB")
    assert code == 2 and err.startswith(f"{path}: (scenario): a run needs about 258 MiB of memory, more than the "
                                        "limit of 95.4 MiB")
    for bad in ("-1GB", "0", "lots"):
        code, _, err = call_cli(capsys, "validate", str(path), "--max-memory", bad)
        assert code == 2 and err.startswith("ekkosim: error: argument --max-memory: "), err


# The peak is VmHWM, the high-water mark of this process's own memory: ru_maxrss would count the
# parent's RSS at the fork before the exec (Linux keeps the larger), a pytest worker's hundreds of MB.
MEASURE = """
import json, re, sys, tempfile
from pathlib import Path
from ekkosim.runner import run
from ekkosim.scenario import load
from ekkosim.scenario.footprint import estimate
scenario = load(sys.argv[1], sys.argv[2:])
with tempfile.TemporaryDirectory() as out:
    run(scenario, out + "/run")
peak_kib = int(re.search(r"VmHWM:\\s*(\\d+) kB", Path("/proc/self/status").read_text()).group(1))
print(json.dumps([peak_kib * 1024, estimate(scenario).bytes]))
"""


@pytest.mark.parametrize("overrides", [
    [],  # offline, the book's small example
    ["strategy=ekko", "models[0].keys=20000", "models[0].workload.rate=20000", "workload.duration=2s", "sync.drain=1s"],
    ["strategy=ekko", "models[0].keys=20000", "models[0].shards=2000", "sync.cache_size=64", "workload.duration=1s",
     "sync.drain=1s"],
], ids=["offline", "ekko, keys all touched", "ekko, many shards"])
def test_a_run_stays_below_its_estimate(tmp_path, overrides):
    """Scenarios whose keys are all touched (so that the dense state of today and the sparse
    state the estimate counts agree), run in a fresh interpreter."""
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(SMALL))
    result = subprocess.run([sys.executable, "-c", MEASURE, str(path), *overrides], capture_output=True, text=True,
                            cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr
    peak, estimate = json.loads(result.stdout)
    assert peak <= estimate, (peak / 2**20, estimate / 2**20)
