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

import math
from dataclasses import dataclass


from ekkosim.input_file import size_text
from ekkosim.ps.key_values import KEY_BYTES
from ekkosim.schema import DENSE_KEYS, Chain, Model, Scenario, Sync, key_rows, key_state_bytes
from ekkosim.units import shown_count

DEFAULT_LIMIT_BYTES = 8 * 2**30  # `--max-memory`: a laptop's or a CI runner's share, raised on a larger machine

# Python with NumPy, SimPy, pyarrow and pydantic loaded, and a run's fixed costs; Numba and the pull's
# compiled loops add about 120 MB (peak RSS of importing them, 225 MB against 105 MB without)
INTERPRETER_BYTES = 384 * 2**20
# At the end of a run the convergence check and the count of lost updates compare, one server at a
# time, every key the server holds with the origin's (versions and values of both, the keys merged
# and sorted), with every key written at the origin at hand: about 310 bytes a key of the largest
# store, measured on scenarios/ablation.yaml (a million keys a server).
COMPARED_KEY_BYTES = 350
WRITTEN_KEY_BYTES = 16  # a key written at the origin and its shard
# A shard copy's version, knowledge, cache floors and its pullers' cursors: 109 B measured as the peak RSS
# difference of scenarios/paper/wide_deep.yaml at 10^5 and 10^6 shards (18 million copies apart) over a
# 100 ms run (`--set workload.duration=100ms --set sync.drain=0s --set sync.cache_size=1`), rounded up.
SHARD_COPY_BYTES = 120
# An update-cache entry in its server's journal: row (int32), clock (int64) and link (int32), with a
# quarter more room (`ekkosim.arrays.GROWTH`; a journal of fewer than 4,096 entries doubles, a few KB)
JOURNAL_ENTRY_BYTES = 20
UPDATE_BYTES = 40  # an update in a trainer's batch: key, magnitude, new-key flag, version, and their merge
BATCHES_HELD = 2  # the batch being written and the one before it, still referenced by answers
LATENCY_ROW_BYTES = 200  # a sampled (update, replica) delivery: the tracker's record and the table's row
FLOW_BYTES = 150  # a completed flow in the flow log and in the flows table
TIMESERIES_ROW_BYTES = 150  # a (window, link) row of the link meter, a Python tuple until the run ends
DC_PAIR_BYTES = 1_000  # a WAN graph edge, two directed links and a route, per pair of DCs (a full mesh)
SERVER_BYTES = 2_000  # a server's NIC links, CPU resource and routes to its DC's switch
# A key's value in the quality model's clean copy or one of the manager's lagged copies, once
# written: its hash-table slots, its key and its value (tests/ps/test_key_values.py measures 34.6 B
# a key at the worst fill, just after the table doubled); keys never written cost nothing.
KEY_VALUES_BYTES = KEY_BYTES
START_VALUE_BYTES = 8  # a key's value at the start, a float64
BIASED_KEY_BYTES = KEY_BYTES  # a key ever published biased, in a hash index (no value: errs high)
# An update published and not yet taken by a lagged copy (`delay_s` behind, or frozen while the
# model is suspected): its key and value, in the arrays of its batch.
PENDING_WRITE_BYTES = 16
TRACE_BYTES_PER_FILE_BYTE = 6  # a trace's text parsed into Arrow strings, then NumPy columns
TRACE_ROW_MIN_BYTES = 8  # the shortest row a trace can have, "0,m,1,1\n": its rows are at most its bytes / 8


@dataclass(frozen=True)
class Term:
    """One part of the estimate: `count` things of `unit_bytes` each, driven by `field`."""

    name: str
    field: str
    count: float
    unit: str  # what is counted, for messages: "shard copies"
    unit_bytes: float

    @property
    def bytes(self) -> float:
        return self.count * self.unit_bytes

    def describe(self) -> str:
        if self.count == 1:
            return f"{self.name} ({self.unit}) = {size_text(self.bytes)}"
        return f"{self.name}, {shown_count(self.count)} {self.unit} x {size_text(self.unit_bytes)} = {size_text(self.bytes)}"


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
    section = scenario.strategy_section
    if isinstance(section, Sync):
        terms += _sync_terms(scenario, end_s, trace_bytes)
    elif isinstance(section, Chain):
        chunks = sum(model.size_bytes for model in scenario.models) / section.chunk
        terms.append(Term("flows", "chain.chunk", chunks * len(dcs), "chunk transfers", FLOW_BYTES))
    return Footprint(terms)


def updates(scenario: Scenario, model_index: int, trace_bytes: int = 0) -> float:
    """The updates the trainers write to a model over the run, at most: its rate times the
    workload's duration, or as many as the trace has rows."""
    if scenario.workload.trace is not None:
        return trace_bytes / TRACE_ROW_MIN_BYTES
    return scenario.models[model_index].workload.rate * scenario.workload.duration


def pullers(scenario: Scenario, model: Model) -> int:
    """How many puller processes pull `model`'s shards, at most: one per (pulling server, peer
    server) pair (`ekkosim.ps.placement.pull_groups`). Copy j of shard s lives on server
    (s + j) mod n, so the shards one server holds as copy j are s = c (mod n), whose leaders
    in a DC of n' servers are on n' / gcd(n, n') servers at most."""
    dcs = {dc.name: dc for dc in scenario.topology.datacenters}
    sources = scenario.source_dcs
    origin = scenario.training_dc.name
    total = 0
    for dc in dcs.values():
        for copy in range(model.replicas):
            if dc.name == origin and copy == 0:
                continue  # the origin pulls from no one
            local = dc.name == origin or (copy > 0 and scenario.sync.local_leader)
            peer = dc if local else dcs[sources[dc.name]]
            peers_per_server = min(peer.servers // math.gcd(dc.servers, peer.servers), -(-model.shards // dc.servers))
            total += min(model.shards, dc.servers * peers_per_server)
    return total


def _sync_terms(scenario: Scenario, end_s: float, trace_bytes: int) -> list[Term]:
    dcs = scenario.topology.datacenters
    sync = scenario.sync
    lanes = 2 if scenario.scheduler.enabled else 1
    terms = []
    for i, model in enumerate(scenario.models):
        copies = model.replicas * len(dcs)
        written = updates(scenario, i, trace_bytes)
        # the sync's own estimate: every key of a small key space, else the keys the updates may touch
        key_state = key_state_bytes(scenario, model)
        terms.append(Term(f"per-key state of model {model.name}", f"models[{i}]", 1,
                          f"copies' keys: {shown_count(model.keys)} keys, {shown_count(written)} updates, {copies} copies",
                          key_state))
        rows, _ = key_rows(scenario, model)
        store_rows = rows * min(1.0, model.replicas / min(dc.servers for dc in dcs))
        terms.append(Term(f"end-of-run comparisons of model {model.name}", f"models[{i}]", 1,
                          f"{shown_count(store_rows)} keys of its largest store",
                          store_rows * COMPARED_KEY_BYTES + rows * WRITTEN_KEY_BYTES))
        terms.append(Term(f"per-shard state of model {model.name}", f"models[{i}].shards", model.shards * copies,
                          "shard copies", SHARD_COPY_BYTES))
        if sync.update_cache:
            entries = min(2 * sync.cache_size * model.shards, written)  # its journal holds twice the caches, at most
            terms.append(Term(f"update caches of model {model.name} (sync.cache_size {sync.cache_size:,})",
                              "sync.cache_size", entries * copies, "journal entries", JOURNAL_ENTRY_BYTES))
        # the quality model's clean copy and the manager's two lagged copies: a value of each key
        # written (`ekkosim.ps.key_values`), and the manager's writes waiting to be taken
        value_copies = scenario.quality.enabled + 2 * scenario.manager.enabled
        if value_copies:
            terms.append(Term(f"quality and manager values of model {model.name}", f"models[{i}]",
                              min(model.keys, written) * value_copies, "written keys' values", KEY_VALUES_BYTES))
            if model.keys <= DENSE_KEYS:  # a small key space's start values, in a table (`ekkosim.quality.service`)
                terms.append(Term(f"start values of model {model.name}", f"models[{i}].keys", model.keys, "keys",
                                  START_VALUE_BYTES))
        if scenario.quality.enabled and any(burst.model == model.name for burst in scenario.quality.biased_updates):
            terms.append(Term(f"biased keys of model {model.name}", "quality.biased_updates", min(model.keys, written),
                              "written keys", BIASED_KEY_BYTES))
        if scenario.manager.enabled:
            terms.append(Term(f"manager's waiting writes of model {model.name}", "manager.enabled", written * 2,
                              "updates", PENDING_WRITE_BYTES))
        per_batch = written if scenario.workload.trace else model.workload.rate * scenario.workload.batch_interval
        terms.append(Term(f"update batches of model {model.name}", f"models[{i}].workload.rate",
                          per_batch * BATCHES_HELD, "updates", UPDATE_BYTES))
        terms.append(Term(f"latency samples of model {model.name}", "output.latency_sample",
                          written * (copies - 1) / scenario.output.latency_sample, "deliveries", LATENCY_ROW_BYTES))
        pulls = pullers(scenario, model) * lanes * end_s / sync.pull_interval
        terms.append(Term(f"pull flows of model {model.name}", "sync.pull_interval", 2 * pulls, "flows", FLOW_BYTES))
    return terms


def _end_s(scenario: Scenario) -> float:
    """When the run stops, at the latest, if the scenario says; 0 for a strategy whose end
    follows from the network (unknown here) and no `until`."""
    ends = [t for t in (scenario.until, scenario.strategy_section.end_s(scenario)) if t is not None]
    return min(ends, default=0.0)
