"""The scenario schema: every field a scenario may set, its unit, default and meaning.

This module knows nothing of SimPy or the simulator. Structure, types, units and ranges are
checked here by pydantic; references between sections (a link naming a data center, a chain
order) are checked by `ekkosim.scenario.checks`, which needs the whole scenario. The sections of
the extension points say what the checks need to know of them: a strategy's own section
(`StrategySection`) and a fault kind (`Fault`) each carry their checks.

Every default that stands in for something we do not know says where its value comes from:
"paper" (a fact of Ekko, OSDI 2022, or the book chapter in shared/seed) or "assumption".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    PrivateAttr,
    model_validator,
)

from ekkosim.units import BANDWIDTH, DURATION, SIZE, Dimension, shown, shown_count


def _written(raw: Any) -> str:
    """A value as the user wrote it: a short string bare ("-1Gbps"), anything else as `shown` quotes it."""
    return raw if isinstance(raw, str) and len(raw) <= 60 else shown(raw)


def _quantity(dim: Dimension, *, gt: float | None = None, ge: float | None = None) -> Any:
    """A float field in `dim`'s base unit, written with units, range-checked against the input."""

    def parse(raw: Any) -> float:
        value = dim.parse(raw)
        if gt is not None and not value > gt:
            raise ValueError(f"must be > {dim.format(gt)}, got {_written(raw)}")
        if ge is not None and not value >= ge:
            raise ValueError(f"must be >= {dim.format(ge)}, got {_written(raw)}")
        return value

    unit = {
        "type": "string",
        "pattern": dim.pattern,
        "patternErrorMessage": f"expected a {dim.name} such as {dim.example} (units: {', '.join(dim.units)})",  # editors
        "examples": [dim.example],
    }
    schema = {"anyOf": [unit, {"const": 0}]}  # a bare number only if 0, as `parse` reads it
    return Annotated[
        float,
        dim,  # read by ekkosim.scenario.describe, which names the unit in the docs and for editors
        BeforeValidator(parse),
        PlainSerializer(dim.format, when_used="json"),
        WithJsonSchema(schema),
    ]


Size = _quantity(SIZE, ge=0)
PositiveSize = _quantity(SIZE, gt=0)
Bandwidth = _quantity(BANDWIDTH, ge=0)
PositiveBandwidth = _quantity(BANDWIDTH, gt=0)
Duration = _quantity(DURATION, ge=0)
PositiveDuration = _quantity(DURATION, gt=0)

Name = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]*$", max_length=64)]


class Section(BaseModel):
    """A scenario section: unknown keys are errors, values are checked as they are assigned."""

    # strict: no silent coercion (`shards: true` is not 1, `servers: "3"` is not 3); floats take ints
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False, strict=True)


Problem = tuple[str, str]  # a problem of a scenario: the dotted path of the field, and what is wrong

_LINK_REF = re.compile(r"^(uplink|downlink):(\S+)$|^wan:(\S+?)(->|<->)(\S+)$")


def parse_link_ref(ref: str) -> tuple[str, tuple[str, ...], bool] | None:
    """Split a link reference: ("uplink", (dc,), False), ("wan", (a, b), both_directions)."""
    match = _LINK_REF.match(ref)
    if match is None:
        return None
    kind, dc, a, arrow, b = match.groups()
    if kind:
        return kind, (dc,), False
    return "wan", (a, b), arrow == "<->"


def link_ref_problems(path: str, ref: str, known: set[str]) -> Iterator[Problem]:
    """A link reference's problems: its form, and ends that are not DCs or WAN nodes in `known`."""
    parsed = parse_link_ref(ref)
    if parsed is None:
        yield path, f"expected uplink:DC, downlink:DC, wan:A->B or wan:A<->B, got {ref!r}"
        return
    for name in parsed[1]:
        if name not in known:
            yield path, f"unknown DC {name!r} in {ref!r}"


class StrategySection(Section):
    """A strategy's own section, and what the rest of the scenario needs to know of the strategy:
    whether it has trainer hosts, which optional sections it models, when it ends, what it refuses.
    What it does in a run is its `start` function (`ekkosim.strategies`)."""

    trainers: ClassVar[bool] = False  # trainer hosts in the training DC, each with a NIC of its own
    supports: ClassVar[frozenset[str]] = frozenset()  # the optional sections it models (`quality`, ...)

    def end_s(self, scenario: Scenario) -> float | None:
        """When the strategy is done, if known before it runs."""
        return None

    def problems(self, scenario: Scenario) -> Iterator[Problem]:
        """What is wrong with this section in `scenario`, whichever strategy runs: names of
        other sections' things that do not exist."""
        return iter(())

    def run_problems(self, scenario: Scenario) -> Iterator[Problem]:
        """What the strategy cannot run, when it is the scenario's (beyond what
        `ekkosim.scenario.checks` refuses of every scenario)."""
        return iter(())

    def route_problems(self, scenario: Scenario, round_trip_s: Callable[[str, str], float | None]
                       ) -> Iterator[Problem]:
        """What the strategy cannot run given the WAN, when it is the scenario's:
        `round_trip_s(a, b)` is the round trip of the lowest-latency path between two DCs (None:
        there is none)."""
        return iter(())


# What a run may hold, refused up front by the strategies' `run_problems`
MAX_CHUNKS = 1_000_000  # chunks of chain replication
MAX_KEY_STATE_BYTES = 16 * 2**30  # the sync's per-key state
KEY_STATE_BYTES = 47  # per row: key 8, holding 4, version (time 8, origin 2, counter 8), value 8, seq 8, class 1
# per row of a sparse store besides: hash-table slots (4 B, 2 to 4 a row) and a journal entry (16 B); its
# columns' growth room (a quarter at most) is left out, as rows are counted one per update, which errs high
HASHED_ROW_BYTES = 32
# A parameter server's store of at most this many keys keeps a row for every key (about 47 bytes
# a key, no hashing: the testbed's 10^6-key model on every server); a larger one keeps rows for
# the keys written only (ekkosim/ps/store.py).
DENSE_KEYS = 2**22


def key_rows(scenario: Scenario, model: Model) -> tuple[float, int]:
    """The rows of per-key state each copy of `model` holds at the end of a run, and the bytes of
    a row: a store of a small key space keeps every key (`DENSE_KEYS`), a larger one the keys
    written, at most one per update (the warm start's keys have no rows)."""
    servers = min(dc.servers for dc in scenario.topology.datacenters)
    if model.keys * model.replicas / servers <= DENSE_KEYS:
        return model.keys, KEY_STATE_BYTES
    return min(model.keys, model.workload.rate * scenario.workload.duration), KEY_STATE_BYTES + HASHED_ROW_BYTES


def key_state_bytes(scenario: Scenario, model: Model) -> float:
    """Per-key state of every copy of `model` at the end of a run (`key_rows`)."""
    rows, row_bytes = key_rows(scenario, model)
    return rows * model.replicas * len(scenario.topology.datacenters) * row_bytes


class DataCenter(Section):
    """A data center: its role, its parameter servers and its attachment to the WAN."""

    name: Name = Field(description="Unique name, used by links, orders and results.")
    role: Literal["training", "inference", "both"] = Field(
        description="`training` holds the trainers (the origin of updates); `inference` serves "
        "requests; `both` does both (paper: the training DC also serves inference)."
    )
    servers: int = Field(
        3, ge=1, le=100_000,
        description="Parameter servers in this DC (paper testbed: 3 per DC).",
    )
    nic: PositiveBandwidth = Field(
        5e9, description="NIC bandwidth of each parameter server, each direction (paper testbed: 5 Gbps)."
    )
    lan_latency: Duration = Field(
        1e-4,
        description="One-way latency between two servers of this DC (assumption: 100 us, a "
        "typical data-center fabric).",
    )
    uplink: PositiveBandwidth | None = Field(
        None,
        description="Capacity of this DC's WAN egress shared by all its servers; null means no "
        "limit beyond the WAN links (assumption).",
    )
    downlink: PositiveBandwidth | None = Field(
        None, description="Capacity of this DC's WAN ingress; null means no limit (assumption)."
    )
    cores: int = Field(
        24, ge=1, le=4096,
        description="CPU cores of each parameter server for sync work (paper testbed: 24).",
    )


class Wan(Section):
    """Defaults for the WAN links between data centers."""

    mesh: bool = Field(
        True,
        description="Connect every pair of DCs with a WAN link (bandwidth and latency below) "
        "unless `topology.links` or `topology.graphml` gives the links.",
    )
    bandwidth: PositiveBandwidth = Field(
        4.8e9,
        description="Bandwidth of each WAN link, each direction (paper testbed: inter-DC "
        "bandwidth shaped to 4,800 Mbps).",
    )
    latency: Duration = Field(
        0.02,
        description="One-way latency of each WAN link (assumption: 20 ms, DCs hundreds to a few "
        "thousand km apart).",
    )


class WanLink(Section):
    """A full-duplex WAN link between two data centers (or GraphML transit nodes)."""

    between: list[Name] = Field(min_length=2, max_length=2, description="The two endpoints, by DC name.")
    bandwidth: PositiveBandwidth | None = Field(None, description="Each direction; default `topology.wan.bandwidth`.")
    latency: Duration | None = Field(None, description="One way; default `topology.wan.latency`.")


class Topology(Section):
    """Data centers and the WAN between them, built into a graph; routes take the lowest latency."""

    datacenters: list[DataCenter] = Field(min_length=1, description="The data centers.")
    wan: Wan = Field(default_factory=Wan, description="WAN link defaults.")
    links: list[WanLink] = Field(
        default_factory=list,
        description="Explicit WAN links. With `wan.mesh: true` they override the mesh link of "
        "their pair; with `wan.mesh: false` they are the only links.",
    )
    graphml: str | None = Field(
        None,
        description="A GraphML file (e.g. from the Internet Topology Zoo) giving the WAN graph, "
        "relative to the scenario file. Nodes whose label names a DC are that DC; the others "
        "are transit nodes. Edge attributes `latency_s` and `bandwidth_bps` are used if present; "
        "else latency follows the great-circle distance between node coordinates at 2/3 of "
        "the speed of light, and bandwidth is `wan.bandwidth`.",
    )


class Congestion(Section):
    """A period during which a link carries less: a fraction of its capacity, or an absolute one."""

    link: str = Field(
        description="`uplink:DC`, `downlink:DC`, `wan:A->B` (one direction) or `wan:A<->B` (both)."
    )
    start: Duration = Field(description="When the congestion begins.")
    end: PositiveDuration = Field(description="When the link recovers its full capacity.")
    fraction: float | None = Field(None, ge=0.0, le=1.0, description="Share of capacity left.")
    capacity: Bandwidth | None = Field(None, description="Capacity left, instead of `fraction`.")

    @model_validator(mode="after")
    def _one_of(self) -> Congestion:
        if (self.fraction is None) == (self.capacity is None):
            raise ValueError("give exactly one of `fraction` and `capacity`")
        if self.end <= self.start:
            raise ValueError(f"`end` ({DURATION.format(self.end)}) must be after `start` ({DURATION.format(self.start)})")
        return self


class Background(Section):
    """Competing traffic (inference, other services) between two DCs: Poisson arrivals of flows
    whose sizes are exponentially distributed, from the source DC's WAN egress to the target's."""

    src: Name = Field(description="Source DC.")
    dst: Name = Field(description="Destination DC.")
    rate: float = Field(gt=0, le=1e6, description="Mean flow arrivals per second.")
    mean_size: PositiveSize = Field(description="Mean flow size.")
    start: Duration = Field(0.0, description="When arrivals begin.")
    end: PositiveDuration | None = Field(None, description="When arrivals stop; null: never.")


class Network(Section):
    """The flow-level network model (docs/network-model.md)."""

    sharing: Literal["maxmin", "rtt_weighted"] = Field(
        "maxmin",
        description="`maxmin`: equal shares on a bottleneck; `rtt_weighted`: shares inversely "
        "proportional to route latency, as TCP behaves (SimGrid CM02).",
    )
    window: PositiveSize | None = Field(
        None, description="Per-flow window: a flow's rate is at most window / round-trip time. Null: no cap."
    )
    congestion: list[Congestion] = Field(default_factory=list, description="Capacity schedules.")
    background: list[Background] = Field(default_factory=list, description="Background flows.")
    routing: Literal["live", "fixed"] = Field(
        "live", description="`live`: when a WAN link fails or is repaired, flows started from then on take "
        "the lowest-latency path over the working links, as a WAN's routing does (at once: an assumption; "
        "flows under way on a failed link fail); `fixed`: routes never change, as SimGrid's (a failed link "
        "fails its flows until it is repaired).",
    )


class ModelWorkload(Section):
    """How the trainers update one model: which keys, how often, how much.

    Keys are drawn from a bounded Zipf popularity over the keys that exist; the hot set drifts
    through the key space (temporal locality); a share of updates creates brand-new keys.
    """

    rate: float = Field(
        20_000, gt=0, le=1e9,
        description="Key updates per second the trainers produce for this model (assumption).",
    )
    zipf: float = Field(
        1.05, ge=0, le=5,
        description="Zipf exponent of key popularity (assumption; 0 is uniform; recommender "
        "embeddings are typically near 1).",
    )
    hot_drift: float = Field(
        0.0, ge=0,
        description="Popularity drift, in steps per second: each step moves every initial key one "
        "popularity rank down (it cools) and brings the coldest to the top (temporal locality; assumption).",
    )
    new_keys: float = Field(
        0.01, ge=0, le=1,
        description="Share of updates that create a brand-new key (a new user or item; assumption).",
    )
    initial_keys: float = Field(
        0.9, gt=0, le=1,
        description="Share of the key space that exists at the start; new keys take the rest in order.",
    )
    magnitude_sigma: float = Field(
        1.0, ge=0, le=10,
        description="Update magnitudes are lognormal with median 1 and this sigma (heavy-tailed; assumption).",
    )


class Model(Section):
    """A model: its embedding rows (keys), their size and their split into shards."""

    name: Name = Field(description="Unique model name.")
    keys: int = Field(ge=1, le=10**12, description="Number of keys (embedding rows or dense blocks).")
    value_bytes: PositiveSize = Field(
        64, description="Bytes per value (e.g. dimension x 4 for float32; assumption: 16 floats)."
    )
    shards: int = Field(64, ge=1, le=10**7, description="Shards per replica (assumption).")
    shard_split: int = Field(
        1, ge=1, le=10**4,
        description="Shards of the real system each simulated shard stands for: the model has "
        "shards x shard_split of them (key k in real shard k mod that). The simulator keeps its state "
        "per simulated shard (memory and time follow `shards`); what a pull costs per shard (request "
        "entries, the comparisons, per shard with news its shard version, knowledge and CPU) is "
        "charged per real shard, those with news counted from the keys answered. 1: the simulated "
        "shards are the real ones (docs/sync.md, \"Many shards\").",
    )
    traffic_share: float = Field(
        1.0, gt=0.0, le=1.0,
        description="Share of inference traffic this model serves: its share of scored requests, and "
        "p_m of its updates' priority.",
    )
    replicas: int = Field(
        1, ge=1, le=1000,
        description="Replicas of each shard in every DC, on distinct servers (replica j of shard s "
        "lives on server (s + j) mod servers). Local leaders matter when this is above 1.",
    )
    workload: ModelWorkload = Field(default_factory=ModelWorkload, description="The synthetic update workload.")

    @property
    def size_bytes(self) -> float:
        return self.keys * self.value_bytes


class Offline(StrategySection):
    """The offline update: checkpoint, validate, then broadcast the whole model."""

    supports: ClassVar[frozenset[str]] = frozenset({"slowdowns"})

    checkpoint_time: Duration = Field(
        300.0, description="Time to write the checkpoint (assumption: 5 min; the book says minutes to hours)."
    )
    validation_time: Duration = Field(
        600.0, description="Time to validate it (assumption: 10 min; the book says minutes to hours)."
    )


class Chain(StrategySection):
    """Chain replication: the model passes DC to DC in chunks, each DC forwarding what it received."""

    supports: ClassVar[frozenset[str]] = frozenset({"slowdowns"})

    chunk: PositiveSize = Field(64e6, description="Chunk size (assumption: 64 MB).")
    order: list[Name] | None = Field(
        None, description="Inference DCs in chain order; default: their order in `topology.datacenters`."
    )

    def problems(self, scenario: Scenario) -> Iterator[Problem]:
        if self.order is None:
            return
        remote = scenario.receiving_dcs
        for j, name in enumerate(self.order):
            if name not in remote:
                yield f"chain.order[{j}]", f"{name!r} is not an inference DC (inference DCs: {', '.join(remote)})"
        if sorted(self.order) != sorted(remote) and all(name in remote for name in self.order):
            yield "chain.order", f"must name every inference DC exactly once: {', '.join(remote)}"

    def run_problems(self, scenario: Scenario) -> Iterator[Problem]:
        chunks = sum(model.size_bytes for model in scenario.models) / self.chunk
        if chunks > MAX_CHUNKS:
            yield "chain.chunk", f"{shown_count(chunks)} chunks; at most {MAX_CHUNKS:,}: use larger chunks"


class CentralPush(StrategySection):
    """Central push: the training DC sends every DC its copy, then commits (two-phase commit)."""

    supports: ClassVar[frozenset[str]] = frozenset({"slowdowns"})

    commit: bool = Field(
        True,
        description="Make the new model visible only when every DC has acknowledged it (a commit "
        "round of one round trip), as a two-phase-commit design does.",
    )


class Workload(Section):
    """The trainers: how long they produce updates and how they push them."""

    duration: PositiveDuration = Field(60.0, description="How long the trainers produce updates.")
    batch_interval: PositiveDuration = Field(
        0.1, description="Trainers push a batch of updates this often (assumption: 100 ms)."
    )
    trainers: int = Field(1, ge=1, le=10_000, description="Trainer hosts in the training DC.")
    trainer_nic: PositiveBandwidth = Field(25e9, description="NIC bandwidth of a trainer host (assumption).")
    trace: str | None = Field(
        None,
        description="A CSV or Parquet file of updates to replay instead of the synthetic workload, "
        "relative to the scenario file; columns time_s, model, key, magnitude.",
    )


class Costs(Section):
    """What the sync charges per unit of work: CPU time at either end and bytes on the wire.

    All are assumptions (the paper does not publish them), chosen as orders of magnitude of a
    C++ parameter server (docs/sync.md).
    """

    cpu_per_request: Duration = Field(20e-6, description="CPU to receive and parse a pull request.")
    cpu_per_shard: Duration = Field(
        1e-6, description="CPU per shard with news in a pull: at the peer to find its keys, at the puller to apply them."
    )
    cpu_per_vector_entry: Duration = Field(
        5e-9, description="CPU per entry compared or merged: a shard version, or one entry of a knowledge "
        "(an 8-byte load and compare streaming through memory; assumption)."
    )
    cpu_per_key_scanned: Duration = Field(20e-9, description="CPU per key compared by a full shard scan.")
    cpu_per_cache_entry: Duration = Field(50e-9, description="CPU per update-cache entry compared.")
    cpu_per_key_applied: Duration = Field(200e-9, description="CPU per key applied at the puller or written by a trainer.")
    header_bytes: Size = Field(64, description="Bytes of a message's header.")
    key_bytes: Size = Field(8, description="Bytes of a key id.")
    version_bytes: Size = Field(16, description="Bytes of a version (origin, counter, time).")
    vector_entry_bytes: Size = Field(8, description="Bytes of one knowledge-vector entry.")
    shard_version_bytes: Size = Field(8, description="Bytes of a shard version (64 bits).")


class PullEdge(Section):
    """A custom pull: the replicas of `dc` pull from those of `source` instead of the training DC."""

    dc: Name = Field(description="The pulling DC.")
    source: Name = Field(description="The DC it pulls from.")


class Retry(Section):
    """How a puller deals with a pull that fails (a link or server down) or takes too long."""

    timeout: PositiveDuration = Field(
        30.0, description="A pull not complete this long after it started is abandoned and retried "
        "(assumption: an RPC deadline well above the slowest pull of the shipped scenarios).",
    )
    backoff: PositiveDuration = Field(
        0.1, description="Wait before the first retry after a failure; it doubles with each failure in a "
        "row, up to `max_backoff`, and each wait is drawn uniformly from its upper half (assumption).",
    )
    max_backoff: PositiveDuration = Field(5.0, description="The longest wait between retries (assumption).")

    @model_validator(mode="after")
    def _ordered(self) -> Retry:
        if self.max_backoff < self.backoff:
            raise ValueError(f"`max_backoff` ({DURATION.format(self.max_backoff)}) must be at least "
                             f"`backoff` ({DURATION.format(self.backoff)})")
        return self


class Sync(StrategySection):
    """Ekko's peer-to-peer, log-less, state-based sync (docs/sync.md) and its switches."""

    trainers: ClassVar[bool] = True
    supports: ClassVar[frozenset[str]] = frozenset({"quality", "scheduler", "faults", "slowdowns"})

    shard_version: bool = Field(
        True, description="Pullers send the shard version they last saw; unchanged shards are skipped."
    )
    update_cache: bool = Field(
        True, description="Each shard keeps recently updated keys, so a pull need not scan the shard."
    )
    local_leader: bool = Field(
        True, description="Only one replica per shard and DC pulls over the WAN; the others pull from it."
    )
    cache_size: int = Field(4096, ge=1, le=10**8, description="Update-cache entries per shard replica (assumption).")
    knowledge_entries: int = Field(
        1, ge=1, le=10**4,
        description="Entries of a shard's knowledge as a request without shard versions carries it and a peer "
        "compares it: one per replica that has produced versions of the shard, plus exceptions for versions "
        "that arrived out of order. 1 is what the simulated versions need (trainers write through one origin "
        "copy per shard); Ekko's layout is not published: a vector over every copy of a shard, as state-based "
        "replication keeps, has replicas x DCs (assumption; docs/sync.md).",
    )
    warm_start: bool = Field(
        True,
        description="Start in steady state, as a long-running deployment is: every replica holds the "
        "same versions (written at time 0) of the first `cache_size` keys of each shard, and every "
        "update cache is full of them. Off: every replica starts empty, caches too.",
    )
    pull_interval: PositiveDuration = Field(
        0.05, description="Floor between the starts of two pulls of one puller (adaptive rate; assumption)."
    )
    drain: Duration = Field(
        10.0, description="Time after the workload ends before the convergence check."
    )
    pull_graph: list[PullEdge] = Field(
        default_factory=list,
        description="Custom pulls between DCs (trees, pulling from a nearer DC); DCs not listed pull "
        "from the training DC. Must form a tree rooted at the training DC.",
    )
    costs: Costs = Field(default_factory=Costs, description="CPU and byte costs of the sync.")
    retry: Retry = Field(default_factory=Retry, description="Timeouts and retries of pulls.")
    election_timeout: PositiveDuration = Field(
        1.0, description="How long after a local leader's server crashes the lowest-index live copy of "
        "the shard in its DC takes over (assumption: a lease of a second).",
    )

    def end_s(self, scenario: Scenario) -> float:
        return scenario.workload.duration + self.drain

    def run_problems(self, scenario: Scenario) -> Iterator[Problem]:
        for i, model in enumerate(scenario.models):
            need = key_state_bytes(scenario, model)
            if need > MAX_KEY_STATE_BYTES:
                yield f"models[{i}].workload.rate", (
                    f"{model.keys:,} keys, {shown_count(model.workload.rate)} updates a second for "
                    f"{scenario.workload.duration:g} s in {model.replicas * len(scenario.topology.datacenters)} shard "
                    f"copies need about {need / 2**30:,.0f} GiB of per-key state (at most "
                    f"{MAX_KEY_STATE_BYTES // 2**30} GiB); fewer updates, a shorter run or a smaller key space")

    def route_problems(self, scenario: Scenario, round_trip_s: Callable[[str, str], float | None]
                       ) -> Iterator[Problem]:
        """A pull's timeout must exceed the round trip of the longest pull between DCs: below it,
        every pull would time out."""
        trips = {(dc, source): trip for dc, source in scenario.source_dcs.items()
                 if (trip := round_trip_s(dc, source)) is not None}  # no path: another check says so
        (dc, source), trip = max(trips.items(), key=lambda item: item[1], default=((None, None), 0.0))
        if self.retry.timeout <= trip:
            yield "sync.retry.timeout", (f"{DURATION.format(self.retry.timeout)} is not above the "
                                         f"{DURATION.format(trip)} round trip of the pulls of {dc} from {source}: "
                                         "every such pull would time out")


class BiasedUpdates(Section):
    """A burst of harmful updates (a training bug, poisoned data; docs/manager.md): while it
    lasts, a share of the keys each batch of `model` updates is published `strength` away from the
    truth (the trainer's own copy stays clean). They travel through the ordinary sync."""

    model: Name = Field(description="The model whose updates are biased.")
    start: Duration = Field(description="When the burst begins.")
    end: PositiveDuration = Field(description="When it ends (the trainer publishes clean values again).")
    strength: float = Field(
        1.0, gt=0, le=100,
        description="How far a biased value is published from the trainer's clean value, in logits, "
        "away from the key's truth (assumption: 1 logit, a harm a minute's staleness does not reach).",
    )
    share: float = Field(
        0.5, gt=0, le=1, description="Share of the burst's updated keys that are biased, each drawn per write (assumption)."
    )

    @model_validator(mode="after")
    def _ordered(self) -> BiasedUpdates:
        if self.end <= self.start:
            raise ValueError(f"`end` ({DURATION.format(self.end)}) must be after `start` ({DURATION.format(self.start)})")
        return self


class Quality(Section):
    """The service-quality model (docs/quality-model.md): each key has a true
    logit that drifts, the trainer moves its copy toward it (so an update's magnitude is how far
    the copy moved), and inference requests in every inference DC are scored by the expected log
    loss of the value their replica serves, next to an ideal replica with zero update latency
    scored on the same requests. Every parameter is an assumption: the paper measures quality on
    live traffic, which a simulator has to stand in for."""

    enabled: bool = Field(False, description="Model service quality (it costs some time per updated key).")
    requests: float = Field(
        2000, gt=0, le=1e7,
        description="Scored inference requests per second per inference DC, over all models (each "
        "model takes its traffic_share); a sample of real traffic (assumption).",
    )
    interval: PositiveDuration = Field(
        0.1, description="Requests are scored in ticks of this length, against the replicas' state at "
        "an instant drawn uniformly within the tick (a cost/resolution trade-off; assumption).",
    )
    drift_amplitude: float = Field(
        1.0, ge=0, le=100, description="Amplitude of each key's sinusoidal drift of its true logit (assumption)."
    )
    drift_period: PositiveDuration = Field(
        60.0, description="Typical period of a key's drift; each key's lies in [1/2, 2] times it (assumption)."
    )
    spread: float = Field(1.0, ge=0, le=100, description="Standard deviation of the keys' mean true logits (assumption).")
    learning_rate: float = Field(
        0.01, gt=0, le=1, description="The trainer's SGD step per example on the log loss of a key's logit "
        "(assumption; about 1 / (0.25 * learning_rate) = 400 examples move a key most of the way to its truth).",
    )
    biased_updates: list[BiasedUpdates] = Field(
        default_factory=list, description="Bursts of harmful updates to inject (none by default)."
    )


class Detector(Section):
    """The manager's anomaly detector, a one-sided CUSUM on the online model's quality gap to its
    baseline (docs/manager.md, "The anomaly detector")."""

    k: float = Field(0.5, ge=0, le=100, description="Reference value in standard errors (Montgomery's k = delta/2 for a 1-sigma shift).")
    h: float = Field(5.0, gt=0, le=1000, description="Decision interval in standard errors: damaged at S >= h (Montgomery: 4 or 5).")
    uncertain_at: float = Field(0.5, gt=0, le=1, description="Uncertain at S >= uncertain_at * h (assumption).")
    warmup: int = Field(
        10, ge=2, le=100_000,
        description="Windows with requests on both models that estimate the gap's scale (assumption: 10, "
        "short enough for minute-long scenarios; the scale's relative error is about 24%).",
    )
    ceiling: float = Field(0.0, ge=-1, le=10, description="The relative gap the chart accepts: 0 = online as good as its baseline (assumption).")


class Manager(Section):
    """Ekko's inference model state manager (docs/manager.md): per model a
    baseline that lags the online model and serves a small share of requests, a detector on the
    quality gap between them, a healthy/uncertain/damaged state replicated over manager replicas,
    and on damaged a traffic switch to the baseline and a rollback republished by a witness."""

    enabled: bool = Field(False, description="Run the model state manager (needs quality.enabled).")
    baseline_delay: PositiveDuration = Field(
        300.0, description="How far each baseline (and the witness's healthy state) lags the published model "
        "(paper: a copy some minutes behind; 5 minutes is ours).",
    )
    witness_lag: PositiveDuration = Field(
        60.0, description="How far the witness's healthy state lags the published model: a rollback restores "
        "the model as of this long before the suspicion (assumption: a minute; damage older than this "
        "when the model is suspected is not undone).",
    )
    baseline_share: float = Field(
        0.01, gt=0, lt=1, description="Share of each model's requests its baseline serves (paper: under 1%; we take 1%).",
    )
    window: PositiveDuration = Field(1.0, description="One detector observation per model per window (assumption).")
    replicas: int = Field(3, ge=1, le=9, description="Manager replicas (paper: a majority agrees, one may fail; 3 is ours).")
    one_way_delay: Duration = Field(
        0.001, description="One-way delay of a manager message (assumption: replicas in one DC).",
    )
    detector: Detector = Field(default_factory=Detector, description="The anomaly detector.")


class Fault(Section):
    """Something that breaks at `at` and, if `recover` is set, is repaired then. A kind of fault
    is a subclass with its `kind`, its target's fields and its checks; how a run breaks and
    repairs it is in `ekkosim.sync.faults` (and, for slowdowns, `ekkosim.net.slowdowns`)."""

    needs: ClassVar[str] = "faults"  # what a strategy must support to take it (`StrategySection.supports`)

    at: Duration = Field(description="When it breaks.")
    recover: PositiveDuration | None = Field(None, description="When it is repaired; null: never.")

    @model_validator(mode="after")
    def _ordered(self) -> Fault:
        if self.recover is not None and self.recover <= self.at:
            raise ValueError(f"`recover` ({DURATION.format(self.recover)}) must be after `at` ({DURATION.format(self.at)})")
        return self

    def problems(self, scenario: Scenario, path: str, known: set[str]) -> Iterator[Problem]:
        """What is wrong with this fault's target in `scenario` (`path`: the fault's own;
        `known`: the names of the DCs and WAN nodes)."""
        return iter(())

    def named_links(self) -> list[tuple[str, str]]:
        """The links this fault names, as (field, link reference): each must exist in the WAN."""
        return []


def _crash_problems(scenario: Scenario, path: str, dc: str) -> list[Problem]:
    """A server crash names a DC of the topology (the training DC's too: its origins recover
    from their peers)."""
    dcs = [d.name for d in scenario.topology.datacenters]
    if dc not in dcs:
        return [(f"{path}.dc", f"unknown DC {dc!r} (known: {', '.join(dcs)})")]
    return []


class LinkDown(Fault):
    """A link fails: every flow over it fails, and so does every flow started over it until it is
    repaired (routes do not change)."""

    kind: Literal["link_down"]
    link: str = Field(description="`wan:A->B`, `wan:A<->B` (both directions), `uplink:DC` or `downlink:DC`.")

    def problems(self, scenario: Scenario, path: str, known: set[str]) -> Iterator[Problem]:
        return link_ref_problems(f"{path}.link", self.link, known)

    def named_links(self) -> list[tuple[str, str]]:
        return [("link", self.link)]


class Partition(Fault):
    """Every WAN link between `dcs` and the rest of the WAN (other DCs and transit nodes) fails."""

    kind: Literal["partition"]
    dcs: list[Name] = Field(min_length=1, description="The DCs cut off from the rest.")

    def problems(self, scenario: Scenario, path: str, known: set[str]) -> Iterator[Problem]:
        dcs = [dc.name for dc in scenario.topology.datacenters]
        for j, name in enumerate(self.dcs):
            if name not in dcs:
                yield f"{path}.dcs[{j}]", f"unknown DC {name!r} (known: {', '.join(dcs)})"
            elif name in self.dcs[:j]:
                yield f"{path}.dcs[{j}]", f"{name} is named twice"
        if set(self.dcs) >= set(dcs):
            yield f"{path}.dcs", "names every DC: no DC is left on the other side, and nothing would be cut"


class ServerCrash(Fault):
    """A parameter server crashes: its NIC links fail, its shard replicas lose their memory, and a
    DC it leads shards of elects other leaders. On restart it loads the checkpoint of time 0 and
    recovers the rest from its peers (a training-DC server its origins first, before it takes
    writes again); it serves again once it has caught up."""

    kind: Literal["server_crash"]
    dc: Name = Field(description="The server's DC (the training DC's too: its origins recover from their peers).")
    server: int = Field(ge=0, description="The server's index in its DC.")

    def problems(self, scenario: Scenario, path: str, known: set[str]) -> Iterator[Problem]:
        problems = _crash_problems(scenario, path, self.dc)
        if problems:
            yield from problems
            return
        servers = next(dc.servers for dc in scenario.topology.datacenters if dc.name == self.dc)
        if self.server >= servers:
            yield f"{path}.server", f"{self.dc} has servers 0 to {servers - 1}, not {self.server}"


class LeaderCrash(Fault):
    """The server of a shard's local leader in a DC crashes, whichever server leads at `at`."""

    kind: Literal["leader_crash"]
    dc: Name = Field(description="The DC (in the training DC, the shard's origin leads).")
    model: Name | None = Field(None, description="The model; default the first.")
    shard: int = Field(0, ge=0, description="The shard.")

    def problems(self, scenario: Scenario, path: str, known: set[str]) -> Iterator[Problem]:
        yield from _crash_problems(scenario, path, self.dc)
        models = [m.name for m in scenario.models]
        if self.model is not None and self.model not in models:
            yield f"{path}.model", f"unknown model {self.model!r} (known: {', '.join(models)})"
            return
        model = scenario.models[0 if self.model is None else models.index(self.model)]
        if self.shard >= model.shards:
            yield f"{path}.shard", f"model {model.name} has shards 0 to {model.shards - 1}, not {self.shard}"


class ManagerCrash(Fault):
    """A model state manager replica crashes and, if `recover` is set, restarts then."""

    kind: Literal["manager_crash"]
    replica: int | Literal["leader"] = Field(description="The replica's index, or `leader`: whichever leads at that instant.")

    def problems(self, scenario: Scenario, path: str, known: set[str]) -> Iterator[Problem]:
        if not scenario.manager.enabled:
            yield path, "a manager replica crash needs manager.enabled: true"
        elif isinstance(self.replica, int) and not 0 <= self.replica < scenario.manager.replicas:
            yield f"{path}.replica", f"no replica {self.replica}: manager.replicas is {scenario.manager.replicas}"


SLOW_FACTOR = 10.0  # a straggler's slowdown (assumption: the 10x slower server of Ekko's robustness claim)


class SlowServer(Fault):
    """A server k times slower, short of failing: its NIC's links carry 1/k of their capacity and
    (in the sync) its CPU work takes k times as long. Any DC's server, the training DC's too:
    slowness loses nothing."""

    needs: ClassVar[str] = "slowdowns"
    kind: Literal["slow_server"]
    dc: Name = Field(description="The server's DC.")
    server: int = Field(0, ge=0, description="The server's index in its DC.")
    factor: float = Field(SLOW_FACTOR, ge=1, le=1e6, description="How many times slower (assumption: 10, a straggler).")

    def problems(self, scenario: Scenario, path: str, known: set[str]) -> Iterator[Problem]:
        dcs = {dc.name: dc.servers for dc in scenario.topology.datacenters}
        if self.dc not in dcs:
            yield f"{path}.dc", f"unknown DC {self.dc!r} (known: {', '.join(dcs)})"
        elif self.server >= dcs[self.dc]:
            yield f"{path}.server", f"{self.dc} has servers 0 to {dcs[self.dc] - 1}, not {self.server}"


class SlowLink(Fault):
    """A link degraded, not failed: it carries 1/k of its nominal capacity (where a congestion
    period holds it lower, the lower wins); routes do not change."""

    needs: ClassVar[str] = "slowdowns"
    kind: Literal["slow_link"]
    link: str = Field(description="`wan:A->B`, `wan:A<->B` (both directions), `uplink:DC` or `downlink:DC`.")
    factor: float = Field(SLOW_FACTOR, ge=1, le=1e6, description="How many times slower (assumption: 10).")

    def problems(self, scenario: Scenario, path: str, known: set[str]) -> Iterator[Problem]:
        return link_ref_problems(f"{path}.link", self.link, known)

    def named_links(self) -> list[tuple[str, str]]:
        return [("link", self.link)]


FAULTS = (LinkDown, Partition, ServerCrash, LeaderCrash, ManagerCrash, SlowServer, SlowLink)  # every kind of fault
FaultEvent = Annotated[Union[FAULTS], Field(discriminator="kind")]
FAULT_KINDS = tuple(kind.model_fields["kind"].annotation.__args__[0] for kind in FAULTS)


class Scheduler(Section):
    """Ekko's SLO-aware update scheduler (docs/scheduler.md): every update gets
    a priority p = (p_g + p_u) * p_m; those above the running top-`top_percent` threshold are high,
    and every puller pulls high-priority keys in a lane of their own, so that over a congested
    path they do not wait behind the low-priority backlog."""

    enabled: bool = Field(False, description="Prioritise updates (needs sync.shard_version).")
    top_percent: float = Field(10.0, gt=0, lt=100, description="Share of updates that are high priority, in percent (assumption).")
    new_key_priority: float = Field(
        10.0, ge=0, description="p_u of an update that creates its key (the book: new keys come first; value an assumption)."
    )
    sample_rate: float = Field(
        0.01, gt=0, le=1, description="Share of updates the background sampler keeps to estimate a model's mean magnitude (assumption)."
    )
    sample_window: int = Field(4096, ge=1, le=10**7, description="Samples the mean magnitude is taken over (assumption).")
    priority: str | None = Field(
        None, description="A user priority function, called with a batch's Features and returning one "
        "priority per update: 'package.module:function' (Python code: runs only with --allow-code), or the "
        "name of a function an installed package registers under the entry-point group ekkosim.priority; "
        "default Ekko's formula.",
    )


class Output(Section):
    """What a run records."""

    window: PositiveDuration = Field(1.0, description="Width of a time-series window.")
    latency_sample: int = Field(
        1, ge=1, le=10**9,
        description="Measure update latency for 1 in N updates, picked by a hash of key and version "
        "(unbiased and deterministic); 1 measures every update.",
    )


# Each strategy a scenario can name, and the field of its own section.
STRATEGY_SECTIONS = {"ekko": "sync", "offline": "offline", "chain": "chain", "central_push": "central_push"}


class Scenario(Section):
    """A whole scenario: topology, network, models, the strategy that moves updates, and outputs."""

    name: Name = Field(description="Scenario name; the default run folder is runs/<name>-<seed>/.")
    description: str = Field("", description="Free text for readers.")
    seed: int = Field(0, ge=0, le=2**63 - 1, description="Seed of every random stream in the run.")
    strategy: Literal[tuple(STRATEGY_SECTIONS)] = Field(
        description="How model updates reach inference DCs: `ekko` (P2P state-based sync of sparse "
        "updates), `offline` (checkpoint, validate, broadcast), `chain` (DC to DC), "
        "`central_push` (training DC to every DC, two-phase commit)."
    )
    until: PositiveDuration | None = Field(
        None, description="Stop the simulation at this time even if the strategy is not done."
    )
    topology: Topology
    network: Network = Field(default_factory=Network)
    models: list[Model] = Field(min_length=1, description="The models every DC holds.")
    offline: Offline = Field(default_factory=Offline)
    chain: Chain = Field(default_factory=Chain)
    central_push: CentralPush = Field(default_factory=CentralPush)
    workload: Workload = Field(default_factory=Workload)
    sync: Sync = Field(default_factory=Sync)
    quality: Quality = Field(default_factory=Quality)
    scheduler: Scheduler = Field(default_factory=Scheduler)
    manager: Manager = Field(default_factory=Manager)
    faults: list[FaultEvent] = Field(
        default_factory=list, description="Failures to inject, each with its time and target (strategy ekko; slowdowns with every strategy; docs/faults.md).",
    )
    output: Output = Field(default_factory=Output)

    # Files the scenario names, resolved against the scenario file's folder by the loader.
    _graphml_path: Path | None = PrivateAttr(None)
    _trace_path: Path | None = PrivateAttr(None)
    _traces: dict | None = PrivateAttr(None)  # the parsed trace, model name to its updates
    _priority_ref: Any = PrivateAttr(None)  # `scheduler.priority` as the user allowed it (scenario.user_code)
    _priority_function: Any = PrivateAttr(None)  # and imported, once a run starts
    _origin_fields: dict | None = PrivateAttr(None)  # the fields as read, before `--set` (scenario.differences)

    @property
    def graphml_path(self) -> Path | None:
        return self._graphml_path

    @property
    def trace_path(self) -> Path | None:
        return self._trace_path

    @property
    def traces(self) -> dict | None:
        """The updates of `workload.trace` per model name, as the loader read them."""
        return self._traces

    @property
    def priority_function(self):
        """The user's priority function of `scheduler.priority`, once a run has imported it
        (`ekkosim.scenario.user_code`); None before, and for Ekko's formula."""
        return self._priority_function

    @property
    def origin_fields(self) -> dict | None:
        """The fields by path as the scenario's file or data gave them, before any override; None
        if it was not read by the loader (`ekkosim.scenario.differences`)."""
        return self._origin_fields

    @property
    def training_dc(self) -> DataCenter:
        return next(dc for dc in self.topology.datacenters if dc.role in ("training", "both"))

    @property
    def receiving_dcs(self) -> list[str]:
        """Names of the inference DCs that are not the training DC, in scenario order."""
        return [dc.name for dc in self.topology.datacenters if dc.role == "inference"]

    @property
    def source_dcs(self) -> dict[str, str]:
        """The DC each DC pulls from (the training DC has none): `sync.pull_graph`'s, else the training DC."""
        origin = self.training_dc.name
        custom = {edge.dc: edge.source for edge in self.sync.pull_graph}
        return {dc.name: custom.get(dc.name, origin) for dc in self.topology.datacenters if dc.name != origin}

    @property
    def strategy_section(self) -> StrategySection:
        """The section of the strategy's own settings."""
        return getattr(self, STRATEGY_SECTIONS[self.strategy])

    @staticmethod
    def strategies_supporting(section: str) -> list[str]:
        """The strategies that model the optional section `section` (`quality`, `faults`, ...)."""
        return [name for name, field in STRATEGY_SECTIONS.items()
                if section in Scenario.model_fields[field].annotation.supports]
