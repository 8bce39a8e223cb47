"""Property test of the sync under random fault schedules on small topologies: links down,
partitions, crashed servers and leaders, at random times, all repaired before the trainers stop.
The invariant checker watches every apply; after the drain, every live replica equals its
origin and no update is lost."""

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.sync.test_convergence_property import converges, scenarios

DURATION_S = 2.0


@st.composite
def faults(draw, data: dict, duration_s: float = DURATION_S) -> list[dict]:
    """1 to 4 faults of `data`'s DCs, servers and shards, each at a tenth of a second and
    repaired by `duration_s`."""
    tenths = round(duration_s * 10)
    dcs = data["topology"]["datacenters"]
    inference = [dc for dc in dcs if dc["role"] == "inference"]
    model = data["models"][0]
    schedule = []
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, tenths - 2)) / 10
        recover = f"{at + draw(st.integers(1, tenths - int(at * 10))) / 10:.1f}s"
        kind = draw(st.sampled_from(["link_down", "partition", "server_crash", "leader_crash"]))
        fault = {"kind": kind, "at": f"{at:.1f}s", "recover": recover}
        if kind == "link_down":
            a, b = draw(st.lists(st.sampled_from([dc["name"] for dc in dcs]), min_size=2, max_size=2, unique=True))
            fault["link"] = draw(st.sampled_from([f"wan:{a}<->{b}", f"wan:{a}->{b}", f"uplink:{a}", f"downlink:{b}"]))
        elif kind == "partition":
            fault["dcs"] = draw(st.lists(st.sampled_from([dc["name"] for dc in dcs]), min_size=1, max_size=len(dcs) - 1,
                                         unique=True))
        else:
            dc = draw(st.sampled_from(inference))
            fault["dc"] = dc["name"]
            if kind == "server_crash":
                fault["server"] = draw(st.integers(0, dc["servers"] - 1))
            else:
                fault["shard"] = draw(st.integers(0, model["shards"] - 1))
        schedule.append(fault)
    return schedule


@st.composite
def faulty_scenarios(draw):
    data = draw(scenarios())
    data["workload"]["duration"] = f"{DURATION_S}s"
    data["sync"] |= {"drain": "4s", "election_timeout": draw(st.sampled_from(["100ms", "500ms"])),
                     "retry": {"timeout": draw(st.sampled_from(["300ms", "2s"])), "backoff": "20ms",
                               "max_backoff": draw(st.sampled_from(["100ms", "1s"]))}}
    data["faults"] = draw(faults(data))
    return data


@given(faulty_scenarios())
@settings(max_examples=12, deadline=None)
def test_every_live_replica_converges_once_faults_heal_and_no_invariant_breaks(tmp_path_factory, data):
    converges(tmp_path_factory.mktemp("run"), data)
