"""Checks that need the whole scenario: names that must exist, be unique, or form a path.

Each check yields `(path, message)` with the dotted path of the offending field, so the loader
can report every problem at once, in the same form as schema errors. What only a strategy or a
kind of fault refuses, its section says (`StrategySection`, `Fault` in `ekkosim.schema`); what a
sharing model needs, the model says (`ekkosim.net.sharing`).
"""

from __future__ import annotations

from collections.abc import Iterator

import networkx as nx

from ekkosim.manager.replicated import ManagerParams
from ekkosim.net.sharing import SHARING
from ekkosim.schema import STRATEGY_SECTIONS, Problem, Scenario, link_ref_problems, parse_link_ref
from ekkosim.units import shown_count
from ekkosim.workload.synthetic import BoundedZipf

MAX_WINDOWS = 1_000_000  # time-series windows a run may have


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
        problems = list(link_ref_problems(path, congestion.link, known))
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

    sharing = scenario.network.sharing
    if SHARING[sharing].needs_latency:  # every route needs some latency
        for i, dc in enumerate(scenario.topology.datacenters):
            if dc.lan_latency == 0:
                yield f"topology.datacenters[{i}].lan_latency", f"must be > 0 with network.sharing: {sharing}"
        if scenario.topology.wan.latency == 0:
            yield "topology.wan.latency", f"must be > 0 with network.sharing: {sharing}"
        for i, link in enumerate(scenario.topology.links):
            if link.latency == 0:
                yield f"topology.links[{i}].latency", f"must be > 0 with network.sharing: {sharing}"

    for i, model in enumerate(scenario.models):
        for dc in scenario.topology.datacenters:
            if model.replicas > dc.servers:
                yield f"models[{i}].replicas", f"{model.replicas} copies of a shard need {model.replicas} servers; {dc.name} has {dc.servers}"
                break

    for section in ("quality", "scheduler"):
        if getattr(scenario, section).enabled and section not in scenario.strategy_section.supports:
            yield f"{section}.enabled", f"works with strategy {_strategies(section)} only, not {scenario.strategy}"
    if scenario.quality.enabled:
        yield from _check_learning_rate(scenario)
    if scenario.scheduler.priority is not None and not scenario.scheduler.enabled:
        yield "scheduler.priority", "is set, but scheduler.enabled is false: the function would never run"
    if scenario.scheduler.enabled and not scenario.sync.shard_version:
        yield "scheduler.enabled", "needs sync.shard_version: true (the high-priority lane pulls by shard-version cursor)"
    yield from _check_manager(scenario)
    yield from _check_faults(scenario, known)
    yield from _check_pull_graph(scenario)
    yield from _check_windows(scenario)
    yield from scenario.strategy_section.run_problems(scenario)
    for field in STRATEGY_SECTIONS.values():
        yield from getattr(scenario, field).problems(scenario)


def _strategies(section: str) -> str:
    """The strategies that model `section`, for a message: "ekko", "ekko or chain"."""
    return " or ".join(Scenario.strategies_supporting(section))


def _check_learning_rate(scenario: Scenario) -> Iterator[Problem]:
    """The trainer's SGD step (docs/quality-model.md) contracts toward the truth only while the
    learning rate times a key's examples per batch stays below 8: check the hottest key of every
    synthetic workload, at its expected examples."""
    rate = scenario.quality.learning_rate
    if scenario.workload.trace is not None:
        return
    for model in scenario.models:
        initial = max(1, int(model.workload.initial_keys * model.keys))
        hottest = model.workload.rate * scenario.workload.batch_interval * float(BoundedZipf(model.workload.zipf).pmf(initial, [1])[0])
        if rate * hottest >= 8:
            yield "quality.learning_rate", (
                f"{rate} times the {shown_count(hottest)} examples per batch of model {model.name}'s hottest key is "
                f"{rate * hottest:{'.1f' if rate * hottest < 1e15 else '.3g'}}; the trainer's step diverges from 8 on: "
                f"use a rate below {8 / hottest:.3g}")
            return


def _check_windows(scenario: Scenario) -> Iterator[Problem]:
    """A run of more time-series windows than this simulator can keep, refused up front (a
    strategy's own limits are its `run_problems`)."""
    end = scenario.until
    strategy_end = scenario.strategy_section.end_s(scenario)
    if strategy_end is not None:
        end = min(end or float("inf"), strategy_end)
    if end is not None and end / scenario.output.window > MAX_WINDOWS:
        yield "output.window", (f"{shown_count(end / scenario.output.window)} windows over {end:g} s of simulated time; "
                                f"at most {MAX_WINDOWS:,}: widen the window")


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
            ManagerParams(replicas=manager.replicas, one_way_delay_s=manager.one_way_delay)
        except ValueError as err:
            yield "manager.one_way_delay", str(err)


def _check_faults(scenario: Scenario, known: set[str]) -> Iterator[Problem]:
    """Faults name things that exist and that this simulator can break (each kind says what:
    `Fault.problems`), under a strategy that models them."""
    for i, fault in enumerate(scenario.faults):
        if fault.needs not in scenario.strategy_section.supports:
            yield f"faults[{i}]", (f"{fault.kind} works with strategy {_strategies(fault.needs)} only, "
                                   f"not {scenario.strategy}")
        else:
            yield from fault.problems(scenario, f"faults[{i}]", known)


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
    """Problems only the built WAN graph shows: unreachable DCs, links named that do not exist,
    and what the strategy cannot run over this WAN."""
    origin = scenario.training_dc.name
    for i, dc in enumerate(scenario.topology.datacenters):
        if not nx.has_path(graph, origin, dc.name):
            yield f"topology.datacenters[{i}].name", f"{dc.name} cannot be reached from {origin} over the WAN"

    def round_trip_s(a: str, b: str) -> float | None:
        return 2 * nx.shortest_path_length(graph, a, b, weight="latency_s") if nx.has_path(graph, a, b) else None

    yield from scenario.strategy_section.route_problems(scenario, round_trip_s)
    refs = [(f"network.congestion[{i}].link", c.link) for i, c in enumerate(scenario.network.congestion)]
    refs += [(f"faults[{i}].{field}", ref) for i, f in enumerate(scenario.faults) for field, ref in f.named_links()]
    for path, ref in refs:
        kind, ends, _ = parse_link_ref(ref)
        if kind == "wan" and not graph.has_edge(*ends):
            yield path, f"no WAN link between {ends[0]} and {ends[1]}"


def _unique(path: str, field: str, names: list[str]) -> Iterator[Problem]:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            yield f"{path}[{i}].{field}", f"duplicate name {name!r}"
        seen.add(name)
