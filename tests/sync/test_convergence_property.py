"""Property test of the whole simulated sync: random topologies, workloads, pull timings and
switches; once the trainers stop and pulls drain, every replica equals its origin."""

from hypothesis import given, settings
from hypothesis import strategies as st

from ekkosim.runner import run
from ekkosim.scenario import validate


@st.composite
def scenarios(draw):
    n_dcs = draw(st.integers(2, 4))
    servers = [draw(st.integers(1, 3)) for _ in range(n_dcs)]
    dcs = [{"name": f"dc{i}", "role": "training" if i == 0 else "inference", "servers": n, "cores": draw(st.integers(1, 4))}
           for i, n in enumerate(servers)]
    return {
        "name": "prop", "seed": draw(st.integers(0, 2**31)), "strategy": "ekko",
        "models": [{
            "name": "m", "keys": draw(st.integers(1, 3000)), "value_bytes": "32B",
            "shards": draw(st.integers(1, 6)), "replicas": draw(st.integers(1, min(servers))),
            "workload": {"rate": draw(st.sampled_from([50, 500, 3000])), "zipf": draw(st.sampled_from([0.0, 1.0, 1.5])),
                         "new_keys": draw(st.sampled_from([0.0, 0.2])), "hot_drift": draw(st.sampled_from([0, 200]))},
        }],
        "workload": {"duration": "1s", "batch_interval": draw(st.sampled_from(["20ms", "100ms", "300ms"]))},
        "sync": {
            "shard_version": draw(st.booleans()), "update_cache": draw(st.booleans()),
            "local_leader": draw(st.booleans()), "warm_start": draw(st.booleans()),
            "cache_size": draw(st.integers(1, 64)), "pull_interval": draw(st.sampled_from(["10ms", "50ms", "200ms"])),
            "drain": "3s",
        },
        "topology": {"wan": {"bandwidth": draw(st.sampled_from(["50Mbps", "1Gbps"])), "latency": "20ms"}, "datacenters": dcs},
        "output": {"latency_sample": draw(st.sampled_from([1, 3]))},
    }


def converges(folder, data: dict) -> None:
    """Run `data` with the invariant checker (a violation raises): every live replica ends equal
    to its origin, nothing lost, every sampled update delivered."""
    summary = run(validate(data), folder, check=True, plots=False)  # the property is the sync's, not the figures'
    assert summary["converged"] is True
    assert summary["lost_updates"] == 0
    assert summary["undelivered"] == 0


@given(scenarios())
@settings(max_examples=25, deadline=None)
def test_every_replica_converges_after_the_drain(tmp_path_factory, data):
    converges(tmp_path_factory.mktemp("run"), data)
