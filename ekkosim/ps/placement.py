"""Where shard replicas live and whom each pulls from: the pull topology.

Each DC holds `replicas` copies of every shard of a model; copy j of shard s lives on server
(s + j) mod servers. Copy 0 of each shard in the training DC is the origin: trainers write
there. The other copies pull (docs/design.md, "The sync"):

- in the training DC, from the origin, over the LAN;
- elsewhere, with local leaders, copy 0 (the DC's leader for that shard) pulls across the WAN
  from copy 0 of its source DC and the other copies pull from their leader over the LAN;
  without local leaders every copy pulls across the WAN from copy 0 of its source DC.

The source DC is the training DC unless `sync.pull_graph` names another (trees, overlays,
pulling from a nearer DC). Copy 0 leads at first; when its server crashes, the DC elects
another copy (`ekkosim.sync.faults`), given here as `leaders`: (model, shard, DC) to the
copy that leads, and what pulls from a DC pulls from its leader.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from ekkosim.net.topology import Server
from ekkosim.scenario.schema import Scenario


@dataclass(frozen=True, order=True)
class ReplicaId:
    """Copy `copy` of shard `shard` of model `model` (an index) in data center `dc`."""

    model: int
    shard: int
    dc: str
    copy: int


def server_of(scenario_dcs: dict, replica: ReplicaId) -> Server:
    n = scenario_dcs[replica.dc].servers
    return Server(replica.dc, (replica.shard + replica.copy) % n)


def source_dcs(scenario: Scenario) -> dict[str, str]:
    """The DC each DC pulls from (the training DC has none)."""
    origin = scenario.training_dc.name
    custom = {edge.dc: edge.source for edge in scenario.sync.pull_graph}
    return {dc.name: custom.get(dc.name, origin) for dc in scenario.topology.datacenters if dc.name != origin}


Leaders = dict[tuple[int, int, str], int]


def leader(leaders: Leaders | None, model: int, shard: int, dc: str) -> int:
    """The copy of `shard` that leads in `dc`: copy 0 unless an election chose another."""
    return 0 if leaders is None else leaders.get((model, shard, dc), 0)


def upstream(scenario: Scenario, replica: ReplicaId, leaders: Leaders | None = None) -> ReplicaId | None:
    """The replica that `replica` pulls from; None for the origin."""
    m, s = replica.model, replica.shard
    origin = scenario.training_dc.name
    if replica.dc == origin:
        return None if replica.copy == 0 else ReplicaId(m, s, origin, 0)
    lead = leader(leaders, m, s, replica.dc)
    if scenario.sync.local_leader and replica.copy != lead:
        return ReplicaId(m, s, replica.dc, lead)
    source = source_dcs(scenario)[replica.dc]
    return ReplicaId(m, s, source, 0 if source == origin else leader(leaders, m, s, source))


def all_replicas(scenario: Scenario) -> list[ReplicaId]:
    """Every shard replica of every model, in a fixed order (model, shard, DC order, copy)."""
    return [
        ReplicaId(m, s, dc.name, j)
        for m, model in enumerate(scenario.models)
        for s in range(model.shards)
        for dc in scenario.topology.datacenters
        for j in range(model.replicas)
    ]


def pull_groups(scenario: Scenario, leaders: Leaders | None = None) -> dict[tuple[Server, Server], list[tuple[ReplicaId, ReplicaId]]]:
    """Pullers: for each (pulling server, peer server), the (replica, its upstream) pairs it
    pulls, in a fixed order. One puller process serves each group."""
    dcs = {dc.name: dc for dc in scenario.topology.datacenters}
    groups: dict[tuple[Server, Server], list] = defaultdict(list)
    for replica in all_replicas(scenario):
        source = upstream(scenario, replica, leaders)
        if source is not None:
            groups[(server_of(dcs, replica), server_of(dcs, source))].append((replica, source))
    return dict(groups)
