"""What the differential test compares between two runs of one scenario, the live ekko
strategy's and the oracle's, and how it names a difference.

Every table is compared column by column, exactly (same dtype, same values; NaN equals NaN),
and the summary field by field as summary.json writes them, except `IMPLEMENTATION_SPECIFIC`.
A difference is named by its table, column and first differing row, with both values and the
live row around it.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np

from ekkosim.results.summary import flows_table, summarise
from ekkosim.schema import Scenario
from ekkosim.simulation import Outcome, Simulation
from ekkosim.strategies import STRATEGIES

# Summary fields that may differ between two implementations of one protocol. The run's wall
# time is not in `summarise`'s summary at all (the runner adds it), nor is the digest.
IMPLEMENTATION_SPECIFIC = frozenset({
    "events",  # SimPy events processed: issue 15's rewrite is meant to need fewer per pull
})
# Summary sections the live code added after the oracle was frozen (issue 16's regime report).
LIVE_ONLY = ("regime.",)
# Latency statistics: since issue 17 the live code counts undelivered pairs as censored
# observations, lists every DC and flags what the run did not determine; the oracle predates
# that. They are compared where no pair is undelivered (the numbers are then the same); the
# latency table and `undelivered`, of which they are a function, are compared always.
LATENCY_STATISTICS = ("latency_s.", "latency_by_dc_s.", "latency_by_priority_s.", "cross_dc_latency_s",
                      "intra_dc_latency_s", "all_replica_latency_s.")
CENSORING_ONLY = ("_censored", ".undelivered", ".undelivered_after_s",
                  ".caught_up_s")  # and issue 17's catch-up time of a restarted server
SUMMARY_LINES = 5  # differing summary fields named; a change of timing moves dozens


def simulate(scenario: Scenario, strategy: Callable[[Simulation], Outcome] | None = None,
             check: bool = True) -> Simulation:
    """Run `scenario` to its end with `strategy` (None: the scenario's own, the live code's)."""
    sim = Simulation(scenario, strategy or STRATEGIES[scenario.strategy], check=check)
    sim.run()
    return sim


def results(sim: Simulation) -> dict[str, dict]:
    """What must be equal, by name: the tables (columns) and the summary (flattened fields)."""
    flows = flows_table(sim)
    outcome = sim.outcome
    return {
        "latency": outcome.latency_table,
        "state": outcome.state_table(),
        "knowledge": outcome.knowledge_table(),
        "flows": flows,
        "summary": _comparable(_flattened(summarise(sim, flows))),
    }


def _comparable(summary: dict) -> dict:
    """The summary fields both implementations report alike (see `LATENCY_STATISTICS`)."""
    idle_dcs = tuple(field.removesuffix("count") for field, value in summary.items()
                     if field.startswith("latency_by_dc_s.") and field.endswith(".count") and value == 0)
    censored = summary.get("undelivered", 0) > 0
    return {k: v for k, v in summary.items()
            if k not in IMPLEMENTATION_SPECIFIC and not k.startswith(LIVE_ONLY) and not k.endswith(CENSORING_ONLY)
            and not k.startswith(idle_dcs) and k != "latency_by_dc_s"  # a leaf only when the oracle lists no DC
            and not (censored and k.startswith(LATENCY_STATISTICS))}


def differences(live: dict[str, dict], oracle: dict[str, dict]) -> list[str]:
    """One line per part of `results` that differs, naming its first difference."""
    found = []
    for name in live:
        if name != "summary":
            line = table_difference(live[name], oracle[name])
            if line is not None:
                found.append(f"table {name}: {line}")
    fields = _summary_differences(live["summary"], oracle["summary"])
    more = [f"summary: and {len(fields) - SUMMARY_LINES} more fields"] if len(fields) > SUMMARY_LINES else []
    return found + [f"summary: {line}" for line in fields[:SUMMARY_LINES]] + more


def assert_same(case: str, live: Simulation, oracle: Simulation) -> None:
    """Fail, naming `case` and every difference, unless the two runs' results are equal."""
    found = differences(results(live), results(oracle))
    assert not found, f"case {case}: the live run differs from the oracle's\n  " + "\n  ".join(found)


def table_difference(live: dict, oracle: dict) -> str | None:
    """The first difference of two tables (columns by name), or None if they are equal."""
    if list(live) != list(oracle):
        return f"columns live {list(live)}, oracle {list(oracle)}"
    live = {name: _array(column) for name, column in live.items()}
    oracle = {name: _array(column) for name, column in oracle.items()}
    for name in live:
        if live[name].dtype != oracle[name].dtype:
            return f"column {name}: dtype live {live[name].dtype}, oracle {oracle[name].dtype}"
    n_live, n_oracle = _rows(live), _rows(oracle)
    n = min(n_live, n_oracle)
    first = {name: _first_unequal(live[name][:n], oracle[name][:n]) for name in live}
    row = min((r for r in first.values() if r is not None), default=None)
    if row is not None:
        column = next(name for name in live if first[name] == row)
        return (f"column {column}, row {row}: live {_value(live[column], row)!r}, "
                f"oracle {_value(oracle[column], row)!r} (live row {_row(live, row)})")
    if n_live != n_oracle:
        longer, side = (live, "live") if n_live > n_oracle else (oracle, "oracle")
        return f"{n_live} rows live, {n_oracle} oracle; row {n}, only {side}'s: {_row(longer, n)}"
    return None


def _summary_differences(live: dict, oracle: dict) -> list[str]:
    lines = []
    for field in list(live) + [f for f in oracle if f not in live]:
        if field not in live or field not in oracle:
            lines.append(f"field {field} only in {'live' if field in live else 'oracle'}")
        elif not _same_value(live[field], oracle[field]):
            lines.append(f"field {field}: live {live[field]!r}, oracle {oracle[field]!r}")
    return lines


def _flattened(value, path: str = "") -> dict:
    """A summary's leaves by dotted path: {"latency_s.p50": ..., "faults.injected[0].at_s": ...}."""
    if isinstance(value, dict) and value:
        items = [(f"{path}.{key}" if path else str(key), item) for key, item in value.items()]
    elif isinstance(value, list) and value:
        items = [(f"{path}[{i}]", item) for i, item in enumerate(value)]
    else:
        return {path: value}
    return {leaf: v for item_path, item in items for leaf, v in _flattened(item, item_path).items()}


def _same_value(a, b) -> bool:
    """Written the same in summary.json (1 is not 1.0 nor true; floats to the last bit)."""
    return json.dumps(a, default=repr) == json.dumps(b, default=repr)


def _array(column) -> np.ndarray:
    return column if isinstance(column, np.ndarray) else np.array(column, dtype=object)


def _rows(table: dict[str, np.ndarray]) -> int:
    return len(next(iter(table.values()))) if table else 0


def _first_unequal(a: np.ndarray, b: np.ndarray) -> int | None:
    unequal = a != b
    if a.dtype.kind in "fc":
        unequal &= ~(np.isnan(a) & np.isnan(b))
    return int(unequal.argmax()) if unequal.any() else None


def _value(column: np.ndarray, row: int):
    """A cell as a plain Python value (its repr tells any two different floats apart)."""
    return column[row : row + 1].tolist()[0]


def _row(table: dict[str, np.ndarray], row: int) -> str:
    return "{" + ", ".join(f"{name}: {_value(column, row)!r}" for name, column in table.items()) + "}"
