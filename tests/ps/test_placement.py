"""Who holds which shard copy, and whom it pulls from."""

import pytest

from ekkosim.net.topology import Server
from ekkosim.ps.placement import ReplicaId, pull_groups, pull_pairs, upstream
from ekkosim.scenario import ScenarioError, validate


@pytest.fixture
def ekko(small):
    small["strategy"] = "ekko"
    for dc in small["topology"]["datacenters"]:
        dc["servers"] = 2
    small["models"][0].update(shards=2, replicas=2)
    return small


def test_without_local_leaders_every_copy_pulls_from_the_origin(ekko):
    ekko["sync"] = {"local_leader": False}
    scenario = validate(ekko)
    assert upstream(scenario, ReplicaId(0, 1, "train", 0)) is None
    assert upstream(scenario, ReplicaId(0, 1, "train", 1)) == ReplicaId(0, 1, "train", 0)
    assert upstream(scenario, ReplicaId(0, 1, "a", 1)) == ReplicaId(0, 1, "train", 0)


def test_with_local_leaders_followers_pull_from_their_leader(ekko):
    scenario = validate(ekko)
    assert upstream(scenario, ReplicaId(0, 1, "a", 0)) == ReplicaId(0, 1, "train", 0)
    assert upstream(scenario, ReplicaId(0, 1, "a", 1)) == ReplicaId(0, 1, "a", 0)


def test_pull_groups_batch_shards_per_server_pair(ekko):
    groups = pull_groups(validate(ekko))
    # copy j of shard s is on server (s + j) mod 2; a's leaders: shard 0 on ps0, shard 1 on ps1
    assert groups[(Server("a", 0), Server("train", 0))] == [(ReplicaId(0, 0, "a", 0), ReplicaId(0, 0, "train", 0))]
    assert groups[(Server("a", 1), Server("a", 0))] == [(ReplicaId(0, 0, "a", 1), ReplicaId(0, 0, "a", 0))]
    # 2 shards x (1 follower in train + 2 copies in a + 2 in b) = 10 pulled replicas
    assert sum(len(pairs) for pairs in groups.values()) == 10


def test_custom_pull_graph(ekko):
    ekko["sync"] = {"pull_graph": [{"dc": "b", "source": "a"}]}
    assert upstream(validate(ekko), ReplicaId(0, 0, "b", 0)) == ReplicaId(0, 0, "a", 0)


@pytest.mark.parametrize(
    ("graph", "message"),
    [
        ([{"dc": "b", "source": "a"}, {"dc": "a", "source": "b"}], r"sync.pull_graph\[0\]: b pulls in a cycle: b -> a -> b"),
        ([{"dc": "train", "source": "a"}], r"sync.pull_graph\[0\].dc: train is the training DC"),
        ([{"dc": "b", "source": "mars"}], r"sync.pull_graph\[0\].source: unknown DC 'mars'"),
    ],
)
def test_bad_pull_graphs(ekko, graph, message):
    ekko["sync"] = {"pull_graph": graph}
    with pytest.raises(ScenarioError, match=message):
        validate(ekko)


def test_more_copies_than_servers(ekko):
    ekko["models"][0]["replicas"] = 3
    with pytest.raises(ScenarioError, match=r"models\[0\].replicas: 3 copies of a shard need 3 servers; train has 2"):
        validate(ekko)


@pytest.mark.parametrize("leaders", [None, {(0, 1, "a"): 1, (0, 3, "b"): 1, (0, 4, "train"): 0}])
@pytest.mark.parametrize("sync", [{}, {"local_leader": False}, {"pull_graph": [{"dc": "b", "source": "a"}]}])
def test_pull_pairs_are_the_pull_groups_as_arrays(ekko, sync, leaders):
    ekko["sync"] = sync
    ekko["models"][0].update(shards=5, replicas=2)
    scenario = validate(ekko)
    groups, pairs = pull_groups(scenario, leaders), pull_pairs(scenario, leaders)
    assert list(pairs) == list(groups)
    for (puller, peer), models in pairs.items():
        as_ids = set()
        for m, shards, copies, peer_copies in models:
            assert shards.tolist() == sorted(shards.tolist())
            as_ids |= {(ReplicaId(m, s, puller.dc, c), ReplicaId(m, s, peer.dc, p))
                       for s, c, p in zip(shards.tolist(), copies.tolist(), peer_copies.tolist())}
        assert as_ids == set(groups[(puller, peer)])
