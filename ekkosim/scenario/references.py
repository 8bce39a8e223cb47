"""Checks that need the whole scenario: names that must exist, be unique, or form a path.

Each check yields `(path, message)` with the dotted path of the offending field, so the loader
can report every problem at once, in the same form as schema errors.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import networkx as nx

from ekkosim.scenario.schema import Scenario
from ekkosim.scenario.units import DURATION

_LINK_REF = re.compile(r"^(uplink|downlink):(\S+)$|^wan:(\S+?)(->|<->)(\S+)$")

Problem = tuple[str, str]


def parse_link_ref(ref: str) -> tuple[str, tuple[str, ...], bool] | None:
    """Split a link reference: ("uplink", (dc,), False), ("wan", (a, b), both_directions)."""
    match = _LINK_REF.match(ref)
    if match is None:
        return None
    kind, dc, a, arrow, b = match.groups()
    if kind:
        return kind, (dc,), False
    return "wan", (a, b), arrow == "<->"


def check(scenario: Scenario, wan_nodes: set[str] | None = None) -> Iterator[Problem]:
    """Every reference problem of `scenario`. `wan_nodes`: names of GraphML transit nodes."""
    dcs = [dc.name for dc in scenario.topology.datacenters]
    known = set(dcs) | (wan_nodes or set())
    yield from _unique("topology.datacenters", "name", dcs)
    yield from _unique("models", "name", [m.name for m in scenario.models])

    training = [i for i, dc in enumerate(scenario.topology.datacenters) if dc.role in ("training", "both")]
    if len(training) != 1:
        yield "topology.datacenters", f"need exactly one DC with role training or both, found {len(training)}"
    remote = scenario.receiving_dcs
    if not remote:
        yield "topology.datacenters", "need at least one DC with role inference besides the training DC"

    pairs: set[frozenset[str]] = set()
    for i, link in enumerate(scenario.topology.links):
        a, b = link.between
        for name in (a, b):
            if name not in known:
                yield f"topology.links[{i}].between", f"unknown DC {name!r} (known: {', '.join(dcs)})"
        if a == b:
            yield f"topology.links[{i}].between", f"a link needs two different ends, got {a!r} twice"
        pair = frozenset((a, b))
        if pair in pairs:
            yield f"topology.links[{i}].between", f"a second link between {a!r} and {b!r}"
        pairs.add(pair)

    for i, congestion in enumerate(scenario.network.congestion):
        path = f"network.congestion[{i}].link"
        problems = list(_check_link_ref(path, congestion.link, known))
        yield from problems
        if problems:
            continue
        kind, ends, _ = parse_link_ref(congestion.link)
        if kind in ("uplink", "downlink"):
            dc = next((d for d in scenario.topology.datacenters if d.name == ends[0]), None)
            if dc is not None and getattr(dc, kind) is None and congestion.fraction is not None:
                yield path, f"{ends[0]} has no {kind} capacity to take a fraction of; set topology.datacenters[].{kind}"

    for i, flow in enumerate(scenario.network.background):
        for end in ("src", "dst"):
            if getattr(flow, end) not in dcs:
                yield f"network.background[{i}].{end}", f"unknown DC {getattr(flow, end)!r}"
        if flow.src == flow.dst:
            yield f"network.background[{i}].dst", "must differ from src"
        if flow.end is not None and flow.end <= flow.start:
            yield f"network.background[{i}].end", "must be after start"

    if scenario.network.sharing == "rtt_weighted":
        # a flow's weight is 1 / its latency: every route needs some latency
        for i, dc in enumerate(scenario.topology.datacenters):
            if dc.lan_latency == 0:
                yield f"topology.datacenters[{i}].lan_latency", "must be > 0 with network.sharing: rtt_weighted"
        if scenario.topology.wan.latency == 0:
            yield "topology.wan.latency", "must be > 0 with network.sharing: rtt_weighted"
        for i, link in enumerate(scenario.topology.links):
            if link.latency == 0:
                yield f"topology.links[{i}].latency", "must be > 0 with network.sharing: rtt_weighted"

    for i, model in enumerate(scenario.models):
        for dc in scenario.topology.datacenters:
            if model.replicas > dc.servers:
                yield f"models[{i}].replicas", f"{model.replicas} copies of a shard need {model.replicas} servers; {dc.name} has {dc.servers}"
                break

    for section in ("quality", "scheduler"):
        if getattr(scenario, section).enabled and scenario.strategy != "ekko":
            yield f"{section}.enabled", f"works with strategy ekko only, not {scenario.strategy}"
    if scenario.quality.enabled:
        yield from _check_learning_rate(scenario)
    if scenario.scheduler.priority is not None and not scenario.scheduler.enabled:
        yield "scheduler.priority", "is set, but scheduler.enabled is false: the function would never run"
    if scenario.scheduler.enabled and not scenario.sync.shard_version:
        yield "scheduler.enabled", "needs sync.shard_version: true (the high-priority lane pulls by shard-version cursor)"
    yield from _check_manager(scenario)
    yield from _check_faults(scenario, known)
    yield from _check_pull_graph(scenario)
    yield from _check_size(scenario)

    order = scenario.chain.order
    if order is not None:
        expected = sorted(remote)
        for j, name in enumerate(order):
            if name not in remote:
                yield f"chain.order[{j}]", f"{name!r} is not an inference DC (inference DCs: {', '.join(remote)})"
        if sorted(order) != expected and all(name in remote for name in order):
            yield "chain.order", f"must name every inference DC exactly once: {', '.join(remote)}"


MAX_WINDOWS = 1_000_000
MAX_CHUNKS = 1_000_000
MAX_KEY_STATE_BYTES = 16 * 2**30
KEY_STATE_BYTES = 43  # per row: key, holding, version (time, origin, counter), value, seq, class
HASHED_ROW_BYTES = 32  # per row of a sparse store: its hash-table slots (at most half full) and journal entry


def _check_learning_rate(scenario: Scenario) -> Iterator[Problem]:
    """The trainer's SGD step (docs/quality-model.md) contracts toward the truth only while the
    learning rate times a key's examples per batch stays below 8: check the hottest key of every
    synthetic workload, at its expected examples."""
    from ekkosim.workload.synthetic import BoundedZipf  # the workload imports the schema

    rate = scenario.quality.learning_rate
    if scenario.workload.trace is not None:
        return
    for model in scenario.models:
        initial = max(1, int(model.workload.initial_keys * model.keys))
        hottest = model.workload.rate * scenario.workload.batch_interval * float(BoundedZipf(model.workload.zipf).pmf(initial, [1])[0])
        if rate * hottest >= 8:
            yield "quality.learning_rate", (
                f"{rate} times the {_count(hottest)} examples per batch of model {model.name}'s hottest key is "
                f"{rate * hottest:{'.1f' if rate * hottest < 1e15 else '.3g'}}; the trainer's step diverges from 8 on: "
                f"use a rate below {8 / hottest:.3g}")
            return


def _check_size(scenario: Scenario) -> Iterator[Problem]:
    """Runs this simulator cannot finish in reasonable time and memory, refused up front."""
    end = scenario.until
    if scenario.strategy == "ekko":
        end = min(end or float("inf"), scenario.workload.duration + scenario.sync.drain)
    if end is not None and end / scenario.output.window > MAX_WINDOWS:
        yield "output.window", (f"{_count(end / scenario.output.window)} windows over {end:g} s of simulated time; "
                                f"at most {MAX_WINDOWS:,}: widen the window")
    if scenario.strategy == "chain":
        chunks = sum(model.size_bytes for model in scenario.models) / scenario.chain.chunk
        if chunks > MAX_CHUNKS:
            yield "chain.chunk", f"{_count(chunks)} chunks; at most {MAX_CHUNKS:,}: use larger chunks"
    if scenario.strategy == "ekko":
        for i, model in enumerate(scenario.models):
            need = key_state_bytes(scenario, model)
            if need > MAX_KEY_STATE_BYTES:
                yield f"models[{i}].workload.rate", (
                    f"{model.keys:,} keys, {_count(model.workload.rate)} updates a second for "
                    f"{scenario.workload.duration:g} s in {model.replicas * len(scenario.topology.datacenters)} shard "
                    f"copies need about {need / 2**30:,.0f} GiB of per-key state (at most "
                    f"{MAX_KEY_STATE_BYTES // 2**30} GiB); fewer updates, a shorter run or a smaller key space")


def key_state_bytes(scenario: Scenario, model) -> float:
    """Per-key state of every copy of `model` at the end of a run: a store of a small key space
    keeps every key (`ekkosim.ps.store.DENSE_KEYS`), a larger one the keys written, at most one
    per update (plus the warm start's none: its keys have no rows)."""
    from ekkosim.ps.store import DENSE_KEYS  # ps imports the schema

    copies = model.replicas * len(scenario.topology.datacenters)
    servers = min(dc.servers for dc in scenario.topology.datacenters)
    per_store = model.keys * model.replicas / servers
    if per_store <= DENSE_KEYS:
        return model.keys * copies * KEY_STATE_BYTES
    touched = min(model.keys, model.workload.rate * scenario.workload.duration)
    return touched * copies * (KEY_STATE_BYTES + HASHED_ROW_BYTES)


def _check_manager(scenario: Scenario) -> Iterator[Problem]:
    """Biased updates name a model and need the quality model; the manager needs it too, and its
    crashes name replicas that exist."""
    models = [m.name for m in scenario.models]
    for i, burst in enumerate(scenario.quality.biased_updates):
        if burst.model not in models:
            yield f"quality.biased_updates[{i}].model", f"unknown model {burst.model!r} (known: {', '.join(models)})"
    if scenario.quality.biased_updates and not scenario.quality.enabled:
        yield "quality.biased_updates", "needs quality.enabled: true (a bias moves values away from the truth)"
    manager = scenario.manager
    if manager.enabled and not scenario.quality.enabled:
        yield "manager.enabled", "needs quality.enabled: true (the detector compares service quality)"
    if manager.enabled:
        try:
            from ekkosim.manager.replicated import ManagerParams

            ManagerParams(replicas=manager.replicas, one_way_delay_s=manager.one_way_delay)
        except ValueError as err:
            yield "manager.one_way_delay", str(err)


def _check_faults(scenario: Scenario, known: set[str]) -> Iterator[Problem]:
    """Faults name things that exist and that this simulator can break: links, inference DCs'
    servers and leaders, manager replicas; and only strategy ekko models them."""
    if scenario.faults and scenario.strategy != "ekko":
        yield "faults", f"work with strategy ekko only, not {scenario.strategy}"
        return
    dcs = {dc.name: dc for dc in scenario.topology.datacenters}
    training = scenario.training_dc.name if len([d for d in dcs.values() if d.role in ("training", "both")]) == 1 else None
    models = [m.name for m in scenario.models]
    for i, fault in enumerate(scenario.faults):
        path = f"faults[{i}]"
        if fault.kind == "link_down":
            yield from _check_link_ref(f"{path}.link", fault.link, known)
        elif fault.kind == "partition":
            for j, name in enumerate(fault.dcs):
                if name not in dcs:
                    yield f"{path}.dcs[{j}]", f"unknown DC {name!r} (known: {', '.join(dcs)})"
        elif fault.kind in ("server_crash", "leader_crash"):
            dc = dcs.get(fault.dc)
            if dc is None:
                yield f"{path}.dc", f"unknown DC {fault.dc!r} (known: {', '.join(dcs)})"
            elif fault.dc == training:
                yield f"{path}.dc", (f"{fault.dc} is the training DC: its servers hold the origins, whose unreplicated "
                                     "writes a crash would lose; crash servers of inference DCs")
            elif fault.kind == "server_crash" and fault.server >= dc.servers:
                yield f"{path}.server", f"{fault.dc} has servers 0 to {dc.servers - 1}, not {fault.server}"
            if fault.kind == "leader_crash":
                model = next((m for m in scenario.models if m.name == fault.model), scenario.models[0]) \
                    if fault.model is None or fault.model in models else None
                if model is None:
                    yield f"{path}.model", f"unknown model {fault.model!r} (known: {', '.join(models)})"
                elif fault.shard >= model.shards:
                    yield f"{path}.shard", f"model {model.name} has shards 0 to {model.shards - 1}, not {fault.shard}"
        elif fault.kind == "manager_crash":
            if not scenario.manager.enabled:
                yield path, "a manager replica crash needs manager.enabled: true"
            elif isinstance(fault.replica, int) and not 0 <= fault.replica < scenario.manager.replicas:
                yield f"{path}.replica", f"no replica {fault.replica}: manager.replicas is {scenario.manager.replicas}"


def _check_link_ref(path: str, ref: str, known: set[str]) -> Iterator[Problem]:
    parsed = parse_link_ref(ref)
    if parsed is None:
        yield path, f"expected uplink:DC, downlink:DC, wan:A->B or wan:A<->B, got {ref!r}"
        return
    for name in parsed[1]:
        if name not in known:
            yield path, f"unknown DC {name!r} in {ref!r}"


def _count(n: float) -> str:
    """A count for a message: 9,000,000 in full, but 9e+302 rather than a line of 400 digits."""
    return f"{n:,.0f}" if n < 1e15 else f"{n:.3g}"


def _check_pull_graph(scenario: Scenario) -> Iterator[Problem]:
    dcs = {dc.name for dc in scenario.topology.datacenters}
    origin = scenario.training_dc.name if any(dc.role in ("training", "both") for dc in scenario.topology.datacenters) else None
    sources: dict[str, str] = {}
    for i, edge in enumerate(scenario.sync.pull_graph):
        for end in ("dc", "source"):
            if getattr(edge, end) not in dcs:
                yield f"sync.pull_graph[{i}].{end}", f"unknown DC {getattr(edge, end)!r}"
        if edge.dc == origin:
            yield f"sync.pull_graph[{i}].dc", f"{edge.dc} is the training DC: it is the origin and pulls from no one"
        if edge.dc in sources:
            yield f"sync.pull_graph[{i}].dc", f"{edge.dc} is given a source twice"
        sources[edge.dc] = edge.source
    for i, edge in enumerate(scenario.sync.pull_graph):
        path = [edge.dc, edge.source]
        while path[-1] in sources:
            if path[-1] in path[:-1]:
                yield f"sync.pull_graph[{i}]", f"{edge.dc} pulls in a cycle: {' -> '.join(path)}"
                break
            path.append(sources[path[-1]])


def check_paths(scenario: Scenario, graph: nx.Graph) -> Iterator[Problem]:
    """Problems only the built WAN graph shows: unreachable DCs, congestion on a missing link."""
    origin = scenario.training_dc.name
    for i, dc in enumerate(scenario.topology.datacenters):
        if not nx.has_path(graph, origin, dc.name):
            yield f"topology.datacenters[{i}].name", f"{dc.name} cannot be reached from {origin} over the WAN"
    yield from _check_timeout(scenario, graph)
    refs = [(f"network.congestion[{i}].link", c.link) for i, c in enumerate(scenario.network.congestion)]
    refs += [(f"faults[{i}].link", f.link) for i, f in enumerate(scenario.faults) if f.kind == "link_down"]
    for path, ref in refs:
        kind, ends, _ = parse_link_ref(ref)
        if kind == "wan" and not graph.has_edge(*ends):
            yield path, f"no WAN link between {ends[0]} and {ends[1]}"


def _check_timeout(scenario: Scenario, graph: nx.Graph) -> Iterator[Problem]:
    """A pull's timeout must exceed the round trip of the longest pull between DCs: below it,
    every pull would time out."""
    from ekkosim.ps.placement import source_dcs  # placement imports the topology, which imports this module

    if scenario.strategy != "ekko":
        return
    trips = {(dc, source): 2 * nx.shortest_path_length(graph, dc, source, weight="latency_s")
             for dc, source in source_dcs(scenario).items() if nx.has_path(graph, dc, source)}  # else: said above
    (dc, source), trip = max(trips.items(), key=lambda item: item[1], default=((None, None), 0.0))
    timeout = scenario.sync.retry.timeout
    if timeout <= trip:
        yield "sync.retry.timeout", (f"{DURATION.format(timeout)} is not above the {DURATION.format(trip)} round trip "
                                     f"of the pulls of {dc} from {source}: every such pull would time out")


def _unique(path: str, field: str, names: list[str]) -> Iterator[Problem]:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            yield f"{path}[{i}].{field}", f"duplicate name {name!r}"
        seen.add(name)
