"""The memory a run of a scenario needs, estimated from the scenario alone, before anything is
built: a run that would not fit is refused in a second (`--max-memory`), not killed after
minutes with the machine swapping.

The estimate is a sum of named terms, each a count the scenario gives (keys touched, shard
copies, updates in a batch, DC pairs, ...) times the bytes one of them costs. The counts are
upper bounds where the scenario cannot tell (every update may touch a new key; every puller
may pull at every `sync.pull_interval`), so the estimate errs high. The per-unit bytes were
measured on this code, with the peak RSS of small runs that vary one count at a time
(tests/scenario/test_footprint.py checks that runs stay below their estimate); change a term
here when the layout it stands for changes.
"""

from __future__ import annotations

from dataclasses import dataclass

from ekkosim.input_file import size_text
from ekkosim.scenario.schema import Scenario

DEFAULT_LIMIT_BYTES = 8 * 2**30  # `--max-memory`: a laptop's or a CI runner's share, raised on a larger machine

INTERPRETER_BYTES = 256 * 2**20  # Python with NumPy, SimPy, pyarrow and pydantic loaded, and a run's fixed costs
# Per key held, per copy: version (time 8, origin 2, counter 8), value 8, shard version of the last
# change 8, priority class 1 (ekkosim.ps.shard), rounded up.
KEY_STATE_BYTES = 34
# The keys an update can touch: one. So `rate x duration` bounds the keys a workload touches; a
# Zipf workload touches far fewer (it repeats hot keys), a uniform one nearly that many.
KEYS_PER_UPDATE = 1.0
SHARD_COPY_BYTES = 2_500  # a shard replica's arrays and object, its puller and pull lanes (measured)
CACHE_ENTRY_BYTES = 32  # key and shard version (8 + 8), in a buffer of twice `sync.cache_size`
UPDATE_BYTES = 40  # an update in a trainer's batch: key, magnitude, new-key flag, version, and their merge
BATCHES_HELD = 2  # the batch being written and the one before it, still referenced by answers
LATENCY_ROW_BYTES = 200  # a sampled (update, replica) delivery: the tracker's record and the table's row
FLOW_BYTES = 150  # a completed flow in the flow log and in the flows table
TIMESERIES_ROW_BYTES = 150  # a (window, link) row of the link meter, a Python tuple until the run ends
DC_PAIR_BYTES = 1_000  # a WAN graph edge, two directed links and a route, per pair of DCs (a full mesh)
SERVER_BYTES = 2_000  # a server's NIC links, CPU resource and routes to its DC's switch
MANAGER_KEY_BYTES = 8  # the state manager's copy of each model's published values (dense, float64)
TRACE_BYTES_PER_FILE_BYTE = 6  # a trace's text parsed into Arrow strings, then NumPy columns
TRACE_ROW_MIN_BYTES = 8  # the shortest row a trace can have, "0,m,1,1\n": its rows are at most its bytes / 8


@dataclass(frozen=True)
class Term:
    """One part of the estimate: `count` things of `unit_bytes` each, driven by `field`."""

    name: str
    field: str
    count: float
    unit: str  # what is counted, for messages: "keys x copies"
    unit_bytes: float

    @property
    def bytes(self) -> float:
        return self.count * self.unit_bytes

    def describe(self) -> str:
        return f"{self.name}, {_count(self.count)} {self.unit} x {size_text(self.unit_bytes)} = {size_text(self.bytes)}"


@dataclass(frozen=True)
class Footprint:
    terms: list[Term]

    @property
    def bytes(self) -> float:
        return sum(term.bytes for term in self.terms)

    @property
    def largest(self) -> Term:
        return max(self.terms, key=lambda term: term.bytes)

    def problem(self, limit_bytes: float) -> tuple[str, str] | None:
        """(field, message) if the run needs more than `limit_bytes`, naming its largest part."""
        if self.bytes <= limit_bytes:
            return None
        largest = self.largest
        return largest.field, (f"a run needs about {size_text(self.bytes)} of memory, more than the limit of "
                               f"{size_text(limit_bytes)} (raise it with --max-memory); the largest part is "
                               f"{largest.describe()}")


def estimate(scenario: Scenario, trace_bytes: int = 0) -> Footprint:
    """The memory a run of `scenario` needs at its peak, in named terms. `trace_bytes`: the size
    of its trace file (the caller has checked the file; 0 without a trace)."""
    dcs = scenario.topology.datacenters
    end_s = _end_s(scenario)
    terms = [Term("the interpreter and libraries", "(scenario)", 1, "process", INTERPRETER_BYTES)]
    terms.append(Term("DC pairs", "topology.datacenters", len(dcs) * (len(dcs) - 1) / 2, "pairs", DC_PAIR_BYTES))
    terms.append(Term("servers", "topology.datacenters", sum(dc.servers for dc in dcs), "servers", SERVER_BYTES))
    links = 2 * sum(dc.servers for dc in dcs) + len(dcs) * (len(dcs) - 1) + 2 * len(dcs)
    terms.append(Term("link time series", "output.window", links * end_s / scenario.output.window,
                      "(link, window) rows", TIMESERIES_ROW_BYTES))
    if trace_bytes:
        terms.append(Term("the trace", "workload.trace", trace_bytes, "bytes of file", TRACE_BYTES_PER_FILE_BYTE))
    if scenario.strategy == "ekko":
        terms += _ekko_terms(scenario, end_s, trace_bytes)
    elif scenario.strategy == "chain":
        chunks = sum(model.size_bytes for model in scenario.models) / scenario.chain.chunk
        terms.append(Term("flows", "chain.chunk", chunks * len(dcs), "chunk transfers", FLOW_BYTES))
    return Footprint(terms)


def updates(scenario: Scenario, model_index: int, trace_bytes: int = 0) -> float:
    """The updates the trainers write to a model over the run, at most: its rate times the
    workload's duration, or as many as the trace has rows."""
    if scenario.workload.trace is not None:
        return trace_bytes / TRACE_ROW_MIN_BYTES
    return scenario.models[model_index].workload.rate * scenario.workload.duration


def touched_keys(scenario: Scenario, model_index: int, trace_bytes: int = 0) -> float:
    """The keys of a model a copy holds state for: those the updates may touch and those a warm
    start fills, at most the model's keys."""
    model = scenario.models[model_index]
    sync = scenario.sync
    warm = model.shards * sync.cache_size if sync.warm_start else 0
    return min(float(model.keys), updates(scenario, model_index, trace_bytes) * KEYS_PER_UPDATE + warm)


def _ekko_terms(scenario: Scenario, end_s: float, trace_bytes: int) -> list[Term]:
    dcs = scenario.topology.datacenters
    sync = scenario.sync
    lanes = 2 if scenario.scheduler.enabled else 1
    terms = []
    for i, model in enumerate(scenario.models):
        copies = model.replicas * len(dcs)
        keys = touched_keys(scenario, i, trace_bytes)
        written = updates(scenario, i, trace_bytes)
        rate_bound = keys < model.keys
        terms.append(Term(f"per-key state of model {model.name}",
                          f"models[{i}].workload.rate" if rate_bound else f"models[{i}].keys",
                          keys * copies, "key copies", KEY_STATE_BYTES))
        shard_copies = model.shards * copies
        terms.append(Term(f"per-shard state of model {model.name}", f"models[{i}].shards", shard_copies,
                          "shard copies", SHARD_COPY_BYTES))
        if sync.update_cache:
            terms.append(Term(f"update caches of model {model.name} (sync.cache_size {sync.cache_size:,})",
                              f"models[{i}].shards", shard_copies, "shard copies", 2 * sync.cache_size * CACHE_ENTRY_BYTES))
        per_batch = written if scenario.workload.trace else model.workload.rate * scenario.workload.batch_interval
        terms.append(Term(f"update batches of model {model.name}", f"models[{i}].workload.rate",
                          per_batch * BATCHES_HELD, "updates", UPDATE_BYTES))
        deliveries = written * (copies - 1)
        terms.append(Term(f"latency samples of model {model.name}", "output.latency_sample",
                          deliveries / scenario.output.latency_sample, "deliveries", LATENCY_ROW_BYTES))
        pulls = (model.shards * (copies - 1)) * lanes * end_s / sync.pull_interval
        terms.append(Term(f"pull flows of model {model.name}", "sync.pull_interval", 2 * pulls, "flows", FLOW_BYTES))
        if scenario.manager.enabled:
            terms.append(Term(f"the state manager's values of model {model.name}", f"models[{i}].keys", model.keys,
                              "keys", MANAGER_KEY_BYTES))
    return terms


def _end_s(scenario: Scenario) -> float:
    """When the run stops, at the latest, if the scenario says; 0 for a whole-model strategy
    without `until` (its end follows from the network, unknown here)."""
    ends = [scenario.until] if scenario.until is not None else []
    if scenario.strategy == "ekko":
        ends.append(scenario.workload.duration + scenario.sync.drain)
    return min(ends, default=0.0)


def _count(n: float) -> str:
    return f"{n:,.0f}" if n < 1e15 else f"{n:.3g}"
