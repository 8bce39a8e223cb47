"""The regime a run of the sync is in, to hold against Ekko's (docs/design.md, "The paper's
regime"): Ekko's gains come from a huge model, a small share of it changing in a pull interval,
hot keys updated again and again, most shards untouched between two pulls.

- `cache_share`: keys in the update caches at the end, over the keys of every shard copy
  (Ekko's production: 0.13% to 0.2%);
- `cache_hit_ratio`: answers of moved shards from the cache, over all answers of moved shards
  (Ekko: about 99.4%);
- `keys_changed_per_hour_share`: distinct keys the trainers (or a rollback) wrote during the run,
  over the model's keys, per hour of training (Ekko: 3.08% per hour);
- `shards_moved_per_pull`: shards answered (with news), over shards a pull covers, over all pulls
  (real shards: each simulated one counts as `models[].shard_split`);
- `request_bytes_per_pull`, `reply_bytes_per_pull`: the mean message sizes;
- `busiest`: the resource with the highest mean utilisation over the run, a link (a NIC's
  transmit or receive side, a DC's uplink or downlink, a WAN link) or a server's cores.
"""

from __future__ import annotations

import numpy as np


def regime(sim, cluster, counters) -> dict:
    scenario, now = sim.scenario, sim.env.now
    cached = held = written = 0
    training_dc = scenario.training_dc.name
    for (server, m), store in cluster.stores.items():
        held += int(store.n_keys.sum())
        if store.cache is not None:
            cached += store.cache.entries()
        if server.dc == training_dc:  # keys written at the origins: copy 0 of the shard is here
            origins = store.shards % cluster.dcs[training_dc].servers == server.index
            written += int((origins[store.rows.holding] & (store.rows.time > 0)).sum())
    model_keys = sum(model.keys for model in scenario.models)
    pulls = max(counters.pulls, 1)
    answered = counters.shards_moved
    return {
        "cache_share": cached / held if held else None,
        "cache_hit_ratio": (answered - counters.full_scans) / answered if answered else None,
        "keys_changed_per_hour_share": written / model_keys * 3600.0 / scenario.workload.duration,
        "shards_moved_per_pull": counters.shards_moved / counters.shards_asked if counters.shards_asked else None,
        "request_bytes_per_pull": counters.request_bytes / pulls,
        "reply_bytes_per_pull": counters.reply_bytes / pulls,
        "busiest": _busiest(sim, cluster, now),
    }


def _busiest(sim, cluster, now: float) -> dict | None:
    if now <= 0:
        return None
    carried: dict[int, float] = {}
    for _, link, nbytes in sim.meter.rows():
        carried[link] = carried.get(link, 0.0) + nbytes
    best = None
    for link, nbytes in carried.items():
        capacity = sim.nominal_capacity_Bps[link]
        if np.isfinite(capacity) and capacity > 0:
            utilisation = nbytes / (capacity * now)
            if best is None or utilisation > best["utilisation"]:
                best = {"resource": sim.link_names[link], "kind": _kind(sim.link_names[link]), "utilisation": utilisation}
    cores = {dc.name: dc.cores for dc in sim.scenario.topology.datacenters}
    for server, busy in sorted(cluster.busy_s.items(), key=lambda item: str(item[0])):
        utilisation = busy / (cores[server.dc] * now)
        if best is None or utilisation > best["utilisation"]:
            best = {"resource": str(server), "kind": "cpu", "utilisation": utilisation}
    return best


def _kind(link: str) -> str:
    if link.startswith("wan/"):
        return "wan"
    return link.rsplit("/", 1)[1]  # tx, rx (a NIC), uplink, downlink (a DC's)
