"""The parameter servers of every DC: their state (one store per server and model), their CPU
cores, which of them are up, and which copy of each shard leads in each DC.

Replicas are numbered in a fixed order (model, shard, DC, copy) by arithmetic, not by a list: a
production model has millions of shard copies. A server that crashes loses its memory: its
stores go back to the state of time 0 (the base state every replica loaded at deployment), and
pull the rest from their peers once it restarts. Every crash, restart and election moves
`epoch`, which tells pullers to look again at whom they pull from and whether the stores they
knew are still the same incarnations.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import simpy

from ekkosim.arrays import distinct, present, ranges
from ekkosim.kernel import due_now
from ekkosim.net.topology import Server
from ekkosim.ps.placement import Leaders, ReplicaId, leader, pull_pairs
from ekkosim.ps.store import Store
from ekkosim.ps.version import newer
from ekkosim.schema import Scenario
from ekkosim.sync.cores import Cores

N_ORIGINS = 1  # the training DC's copy 0 of each shard; rollback (issue 6) adds the witness
ORIGIN = 0  # the origin id of trainer writes


class Cluster:
    """Every server's stores and CPU, and the numbering of replicas."""

    def __init__(self, env: simpy.Environment, scenario: Scenario):
        self.scenario = scenario
        self.env = env
        self.dcs = {dc.name: dc for dc in scenario.topology.datacenters}
        self.dc_names = [dc.name for dc in scenario.topology.datacenters]
        self.dc_index = {name: d for d, name in enumerate(self.dc_names)}
        self._model_base = np.cumsum([0] + [m.shards * len(self.dc_names) * m.replicas for m in scenario.models])
        self.n_replicas = int(self._model_base[-1])
        self.base_values: list[Callable[[np.ndarray], np.ndarray] | None] = [None] * len(scenario.models)
        self.stores: dict[tuple[Server, int], Store] = {}
        for dc in scenario.topology.datacenters:
            for i in range(dc.servers):
                for m in range(len(scenario.models)):
                    self.stores[(Server(dc.name, i), m)] = self._new_store(Server(dc.name, i), m)
        # called as hook(server, model, store, change, now) after a puller applies an answer
        # (the manager's rollback watch, the invariant checker); none by default
        self.apply_hooks: list = []
        self.cpu = {
            Server(dc.name, i): Cores(env, dc.cores)
            for dc in scenario.topology.datacenters
            for i in range(dc.servers)
        }
        self.busy_s: dict[Server, float] = {}  # core-seconds of work per server
        self.slowdown: dict[Server, list[float]] = {}  # per slow server, the factors of its slowdowns (the largest holds)
        self.leaders: Leaders = {}  # (model, shard, DC) to its leading copy, where not copy 0
        self.down: dict[Server, simpy.Event] = {}  # crashed servers, each with the event of its restart
        # restarted training-DC servers recovering their origins, each with the event of its end
        # (`ekkosim.sync.recovery`); restarted servers not yet caught up, out of service
        self.recovering: dict[Server, simpy.Event] = {}
        self.catching_up: set[Server] = set()
        self.lost_in_crashes = 0  # keys whose newest version no surviving copy held when their origin crashed
        self.epoch = 0

    # -- numbering -------------------------------------------------------------------------------

    def _new_store(self, server: Server, m: int) -> Store:
        """`server`'s copies of model `m` as deployed: copy j of shard s lives on server (s + j) mod n."""
        model, n = self.scenario.models[m], self.dcs[server.dc].servers
        shards = np.sort(np.concatenate([np.arange((server.index - j) % n, model.shards, n) for j in range(model.replicas)]))
        copies = (server.index - shards) % n
        sync = self.scenario.sync
        return Store(model.keys, model.shards, shards, self.number(m, shards, self.dc_index[server.dc], copies),
                     N_ORIGINS, sync.cache_size if sync.update_cache else None,
                     sync.cache_size if sync.warm_start else 0, self.base_values[m])

    def number(self, model: int, shard, dc: int, copy):
        """The number of replica (model, shard, DC index, copy); arrays welcome."""
        spec = self.scenario.models[model]
        return self._model_base[model] + (shard * len(self.dc_names) + dc) * spec.replicas + copy

    def rid(self, number: int) -> ReplicaId:
        m = int(np.searchsorted(self._model_base, number, side="right")) - 1
        spec = self.scenario.models[m]
        rest, copy = divmod(int(number - self._model_base[m]), spec.replicas)
        shard, dc = divmod(rest, len(self.dc_names))
        return ReplicaId(m, shard, self.dc_names[dc], copy)

    def names(self, numbers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(DC, replica name "server/shardS/copyC") of each replica number."""
        seen, inverse = np.unique(numbers, return_inverse=True)
        rids = [self.rid(int(n)) for n in seen]
        dcs = np.array([rid.dc for rid in rids], dtype=object)
        names = np.array([f"{self.server(rid)}/shard{rid.shard}/copy{rid.copy}" for rid in rids], dtype=object)
        return dcs[inverse.reshape(-1)], names[inverse.reshape(-1)]

    def holders(self, model: int) -> int:
        """Replicas of each shard of `model` that receive its updates (all but the origin)."""
        return len(self.dc_names) * self.scenario.models[model].replicas - 1

    def server(self, rid: ReplicaId) -> Server:
        n = self.dcs[rid.dc].servers
        return Server(rid.dc, (rid.shard + rid.copy) % n)

    def replica(self, rid: ReplicaId) -> tuple[Store, int]:
        """The store holding `rid`, and its holding there."""
        store = self.stores[(self.server(rid), rid.model)]
        return store, int(store.shards.searchsorted(rid.shard))

    def origin(self, model: int, shard: int) -> ReplicaId:
        return ReplicaId(model, shard, self.scenario.training_dc.name, 0)

    def origin_store(self, model: int, shard: int) -> Store:
        return self.replica(self.origin(model, shard))[0]

    def set_base_value(self, model: int, base_value: Callable[[np.ndarray], np.ndarray]) -> None:
        """Every replica of `model` holds `base_value(keys)` for keys no one has written (the
        quality model's trained start)."""
        self.base_values[model] = base_value
        for (server, m), store in self.stores.items():
            if m == model:
                store.set_base_value(base_value)

    def work(self, server: Server, seconds: float) -> Iterator[simpy.Event]:
        """`seconds` of work on a core of `server` that the caller holds (times its slowdown, if
        it is slow), to `yield from`. Work of no time ends at once when its end would be the next
        event (`ekkosim.sync.cores` explains why that changes no order)."""
        if server in self.slowdown:
            seconds *= max(self.slowdown[server])
        self.busy_s[server] = self.busy_s.get(server, 0.0) + seconds
        if seconds > 0 or due_now(self.env, simpy.events.NORMAL):
            yield self.env.timeout(seconds)

    def slow_down(self, server: Server, factor: float) -> Callable[[], None]:
        """`server`'s work takes `factor` times as long from now; return how to end that."""
        self.slowdown.setdefault(server, []).append(factor)

        def restore() -> None:
            self.slowdown[server].remove(factor)
            if not self.slowdown[server]:
                del self.slowdown[server]

        return restore

    # -- servers and leaders -------------------------------------------------------------------

    def crash(self, server: Server) -> list[Store]:
        """`server` goes down and its stores lose their memory; return the lost stores."""
        self.lost_in_crashes += self._held_nowhere_else(server)
        self.down[server] = self.env.event()
        lost = []
        for m in range(len(self.scenario.models)):
            lost.append(self.stores[(server, m)])
            self.stores[(server, m)] = self._new_store(server, m)
        self.epoch += 1
        return lost

    def restart(self, server: Server) -> None:
        self.down.pop(server).succeed()
        self.epoch += 1

    def is_up(self, server: Server) -> bool:
        return server not in self.down

    def unavailable(self, server: Server) -> simpy.Event | None:
        """The event of `server` taking writes again: its restart, or its origins' recovery;
        None if it takes them now."""
        return self.down.get(server) or self.recovering.get(server)

    def _held_nowhere_else(self, server: Server) -> int:
        """Keys of the origin shards on `server` whose version there no live copy elsewhere holds,
        nor a newer one."""
        if server.dc != self.scenario.training_dc.name:
            return 0
        n, lost = self.dcs[server.dc].servers, 0
        for m in range(len(self.scenario.models)):
            store = self.stores[(server, m)]
            rows = store.rows_of(store.shards[(server.index - store.shards) % n == 0])
            keys = store.keys[rows]
            mine = (store.rows.time[rows], store.rows.origin[rows], store.rows.counter[rows])
            unheld = np.ones(keys.size, dtype=bool)
            for other, model, copy in self.live_stores():
                if model != m or other == server:
                    continue
                there, _ = copy.where_held(keys)
                _, *theirs = copy.versions(keys[there])
                unheld[there] &= newer(*(column[there] for column in mine), *theirs)
            lost += int(unheld.sum())
        return lost

    def serving_values(self, model: int, dc: str, keys: np.ndarray, copies: np.ndarray) -> np.ndarray:
        """The values requests for `keys` read in `dc`, each from copy `copies[i]` of its shard, or
        while that copy's server is down or catching up after a restart the next copy whose
        server serves (none: its own, which holds the state of time 0 or what it has caught up)."""
        spec, n = self.scenario.models[model], self.dcs[dc].servers
        shard = keys % spec.shards
        copies = copies.copy()
        if self.down or self.catching_up:
            for _ in range(spec.replicas):
                down = np.array([not self.is_up(Server(dc, int(i))) or Server(dc, int(i)) in self.catching_up
                                 for i in (shard + copies) % n], dtype=bool)
                copies[down] = (copies[down] + 1) % spec.replicas
        server = (shard + copies) % n
        values = np.empty(keys.size)
        for i in present(server, n):
            at = server == i
            values[at] = self.stores[(Server(dc, int(i)), model)].values(keys[at])
        return values

    def leader(self, model: int, shard: int, dc: str) -> ReplicaId:
        return ReplicaId(model, shard, dc, leader(self.leaders, model, shard, dc))

    def elect(self) -> int:
        """Wherever a shard's leader is down, the lowest live copy in its DC takes over (none: it
        waits); return how many leaders changed."""
        origin = self.scenario.training_dc.name
        changed = 0
        for dc in self.dc_names:
            if dc == origin or all(server.dc != dc for server in self.down):
                continue
            n = self.dcs[dc].servers
            for m, spec in enumerate(self.scenario.models):
                for shard in range(spec.shards):
                    lead = self.leader(m, shard, dc)
                    if self.is_up(self.server(lead)):
                        continue
                    live = [c for c in range(spec.replicas) if self.is_up(Server(dc, (shard + c) % n))]
                    if live:
                        self.leaders[(m, shard, dc)] = live[0]
                        changed += 1
        if changed:
            self.epoch += 1
        return changed

    def pull_groups(self) -> dict[tuple[Server, Server], list[tuple[int, np.ndarray, np.ndarray]]]:
        """Who pulls what from whom, under the current leaders: per (pulling server, peer
        server), per model (ascending) the shards pulled and the copies on either side."""
        return pull_pairs(self.scenario, self.leaders)

    # -- comparing with the origin -------------------------------------------------------------

    def live_stores(self) -> Iterator[tuple[Server, int, Store]]:
        for (server, m), store in self.stores.items():
            if self.is_up(server):
                yield server, m, store

    def _by_origin(self, m: int, keys: np.ndarray):
        """Per origin server of model `m`, its store and the positions of `keys` it holds."""
        origin_dc = self.scenario.training_dc.name
        servers = keys % self.scenario.models[m].shards % self.dcs[origin_dc].servers
        for i in present(servers, self.dcs[origin_dc].servers):
            yield self.stores[(Server(origin_dc, int(i)), m)], servers == i

    def origin_versions(self, m: int, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(time, origin, counter) of `keys` at their origins."""
        versions = (np.empty(keys.size), np.empty(keys.size, dtype=np.int16), np.empty(keys.size, dtype=np.int64))
        for store, at in self._by_origin(m, keys):
            for column, part in zip(versions, store.versions(keys[at])[1:]):
                column[at] = part
        return versions

    def origin_values(self, m: int, keys: np.ndarray) -> np.ndarray:
        values = np.empty(keys.size)
        for store, at in self._by_origin(m, keys):
            values[at] = store.values(keys[at])
        return values

    def _against_origin(self, m: int, store: Store, keys: np.ndarray):
        """Versions of `keys` in `store` and at their origins (values too)."""
        _, *mine = store.versions(keys)
        return mine, self.origin_versions(m, keys), store.values(keys), self.origin_values(m, keys)

    def _written_by_shard(self, m: int) -> tuple[np.ndarray, np.ndarray]:
        """Every key written at an origin of model `m`, sorted by shard, and its shard."""
        origin_dc = self.scenario.training_dc.name
        keys = np.concatenate([self.stores[(Server(origin_dc, i), m)].keys
                               for i in range(self.dcs[origin_dc].servers)])
        shard = keys % self.scenario.models[m].shards
        order = np.argsort(shard, kind="stable")
        return keys[order], shard[order]

    def _keys_to_compare(self, store: Store, written: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """Keys where `store` or the origins of its shards may differ from the base state: every
        key either has a row for, in the store's shards (a dense store has a row for every key)."""
        if store.dense:
            return store.keys
        keys, shard = written
        starts, ends = shard.searchsorted(store.shards), shard.searchsorted(store.shards, side="right")
        lengths = ends - starts
        return distinct(np.concatenate([store.keys, keys[ranges(starts, lengths)]]))

    def origin_knowledge(self, m: int, shards: np.ndarray) -> np.ndarray:
        """The knowledge of the origin of each of `shards` (rows)."""
        origin_dc = self.scenario.training_dc.name
        knowledge = np.zeros((shards.size, N_ORIGINS), dtype=np.int64)
        servers = shards % self.dcs[origin_dc].servers
        for i in present(servers, self.dcs[origin_dc].servers):
            at = servers == i
            origin = self.stores[(Server(origin_dc, int(i)), m)]
            knowledge[at] = origin.knowledge[origin.shards.searchsorted(shards[at])]
        return knowledge

    def end_state(self) -> tuple[tuple[ReplicaId, int | None] | None, int]:
        """Every live replica compared with its origin, once: (the first difference, None if every
        live replica equals its origin; the lost updates).

        The first difference is the first live replica that differs from its origin in a key's
        version or value, or in its knowledge, with the first key that differs (None: only the
        knowledge does). The lost updates are the keys whose newest version at the origin, the
        effect of the last update a trainer (or a rollback) wrote there, some live replica does not
        hold, nor a newer one; and the keys whose newest version no surviving copy held when their
        origin's server crashed."""
        found: list[tuple[int, int | None]] = []
        behind: dict[int, list[np.ndarray]] = {}
        written = {m: self._written_by_shard(m) for m in range(len(self.scenario.models))}
        for server, m, store in self.live_stores():
            keys = self._keys_to_compare(store, written[m])
            (t, o, c), (ot, oo, oc), value, origin_value = self._against_origin(m, store, keys)
            behind.setdefault(m, []).append(keys[newer(ot, oo, oc, t, o, c)])
            differs = (t != ot) | (o != oo) | (c != oc) | (value != origin_value)
            if differs.any():
                key = keys[differs]
                shard = key % store.model_shards
                h = store.shards.searchsorted(shard)
                first = int(np.lexsort((key, store.replica[h]))[0])
                found.append((int(store.replica[h][first]), int(key[first])))
            differs = (store.knowledge != self.origin_knowledge(m, store.shards)).any(axis=1)
            if differs.any():
                found.append((int(store.replica[differs].min()), None))
        lost = sum(distinct(np.concatenate(keys)).size for keys in behind.values()) + self.lost_in_crashes
        if not found:
            return None, lost
        number, key = min(found, key=lambda f: (f[0], f[1] is None, f[1] or 0))
        rid = self.rid(number)
        return (rid, None if key is None else key // self.scenario.models[rid.model].shards), lost
