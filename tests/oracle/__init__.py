"""Frozen at e7c7ee6: the per-shard implementation of the ekko strategy, used only as the differential test's oracle (tests/sync/test_differential.py); never edit it except to follow an explained protocol change.

A copy of ekkosim's per-key state and sync path as they were before issue 15 (one set of NumPy
arrays per shard replica, a pull walking its shards one by one), flattened into one package:
`shard`, `pull`, `update_cache`, `knowledge` and `version` were `ekkosim.ps.*`; `cluster`,
`puller`, `trainer`, `faults`, `invariants` and `ekko` were `ekkosim.sync.*`; `latency` was
`ekkosim.metrics.latency`. It imports only ekkosim's shared infrastructure (the simulation,
the network, the scenario, placement, workloads, the scheduler's grader, the kernel). The
quality model and the state manager are left out: `ekko.start` refuses a scenario that enables
either. `compare` holds what the differential test compares and how it names a difference.

Changes since e7c7ee6, each following a change of the live implementation's accounting:
- the update cache counts only live entries (a key's latest change) as examined, not the
  stale ones a buffer holds until it compacts (`update_cache.since`, `unknown_to`).
- a pull's CPU is charged per entry its request carries (`sync.costs.cpu_per_vector_entry`: a
  shard version, or `sync.knowledge_entries` per knowledge) and per shard with news
  (`cpu_per_shard`), no longer per shard asked; knowledge on the wire has
  `sync.knowledge_entries` entries (issue 16: knowledge at its real size) (`puller`).
"""
