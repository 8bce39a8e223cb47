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

import numpy as np

from ekkosim.arrays import distinct
from ekkosim.net.topology import Server
from ekkosim.schema import Scenario


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
    source = scenario.source_dcs[replica.dc]
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


def _leader_copies(leaders: Leaders | None, model: int, dc: str, shards: int):
    """The copy that leads each shard of `model` in `dc`, as an array."""
    lead = np.zeros(shards, dtype=np.int64)
    for (m, s, d), copy in (leaders or {}).items():
        if m == model and d == dc:
            lead[s] = copy
    return lead


def pull_pairs(scenario: Scenario, leaders: Leaders | None = None) -> dict[tuple[Server, Server], list]:
    """`pull_groups` as arrays: for each (pulling server, peer server), per model (ascending)
    `(model, shards, copies, peer copies)`, shards ascending. Groups come in the order of their
    first replica in `all_replicas` order."""
    origin = scenario.training_dc.name
    dcs = {dc.name: dc for dc in scenario.topology.datacenters}
    order = {dc.name: d for d, dc in enumerate(scenario.topology.datacenters)}
    sources = scenario.source_dcs
    parts = []  # (rank of the first replica, puller, peer, model, shards, copies, peer copies)
    for m, model in enumerate(scenario.models):
        shards = np.arange(model.shards, dtype=np.int64)
        lead = {dc: _leader_copies(leaders, m, dc, model.shards) for dc in dcs}
        for dc in scenario.topology.datacenters:
            for j in range(model.replicas):
                if dc.name == origin:
                    if j == 0:
                        continue
                    up_dc, up_copy = origin, np.zeros(model.shards, dtype=np.int64)
                    pulling = shards
                else:  # followers pull from their DC's leader, leaders from their source DC
                    local = scenario.sync.local_leader
                    follower = lead[dc.name] != j if local else np.zeros(model.shards, dtype=bool)
                    up_copy, pulling = lead[dc.name], shards
                if dc.name != origin:
                    source = sources[dc.name]
                    source_copy = np.zeros(model.shards, dtype=np.int64) if source == origin else lead[source]
                    for is_follower in (True, False):
                        sel = pulling[follower == is_follower]
                        if not sel.size:
                            continue
                        peer_dc = dc.name if is_follower else source
                        peer_copy = up_copy[sel] if is_follower else source_copy[sel]
                        parts += _group(m, sel, j, dc.name, peer_dc, peer_copy, dcs, order, model.replicas)
                else:
                    parts += _group(m, pulling, j, dc.name, up_dc, up_copy, dcs, order, model.replicas)
    groups: dict[tuple[Server, Server], list] = {}
    for _, puller, peer, m, shards, copies, peer_copies in sorted(parts, key=lambda part: part[0]):
        groups.setdefault((puller, peer), []).append((m, shards, copies, peer_copies))
    for key, models in groups.items():  # one entry per model, shards ascending
        merged = {}
        for m, shards, copies, peer_copies in models:
            merged.setdefault(m, []).append((shards, copies, peer_copies))
        groups[key] = []
        for m in sorted(merged):
            shards, copies, peer_copies = (np.concatenate(c) for c in zip(*merged[m]))
            by_shard = np.argsort(shards, kind="stable")
            groups[key].append((m, shards[by_shard], copies[by_shard], peer_copies[by_shard]))
    return groups


def _group(m: int, shards, copy: int, dc: str, peer_dc: str, peer_copy, dcs: dict, order: dict, replicas: int) -> list:
    """Split the pairs (shard s copy `copy` in `dc`, pulling s copy `peer_copy[i]` in `peer_dc`) by
    (pulling server, peer server); each part ranked by its first replica in all_replicas order."""
    n, n_peer = dcs[dc].servers, dcs[peer_dc].servers
    server = (shards + copy) % n
    peer = (shards + peer_copy) % n_peer
    key = server * n_peer + peer
    parts = []
    for k in distinct(key):
        sel = key == k
        rank = (m, int(shards[sel][0]), order[dc], copy)
        parts.append((rank, Server(dc, int(k // n_peer)), Server(peer_dc, int(k % n_peer)), m,
                      shards[sel], np.full(int(sel.sum()), copy, dtype=np.int64), peer_copy[sel]))
    return parts
