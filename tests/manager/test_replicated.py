"""The replicated model-state manager: the per-model state machine's rules, Raft's timing on a
stable leader (exact), and, under crashes of any one replica at any time, no stop and no fork."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ekkosim.kernel import Environment
from ekkosim.manager.health import DAMAGED, HEALTHY, STATES, UNCERTAIN
from ekkosim.manager.replicated import (
    LEADER,
    ROLLBACK,
    Applied,
    ManagerGroup,
    ManagerParams,
    ModelStates,
    Transition,
    is_legal,
)

P = ManagerParams()
D = P.one_way_delay_s
HI = P.election_timeout_max_s
MODELS = ("ranking", "ctr", "recall")


def make_group(seed: int = 0, **params) -> tuple[Environment, ManagerGroup]:
    env = Environment()
    return env, ManagerGroup(env, np.random.default_rng(seed), ManagerParams(**params))


def stable_leader(env: Environment, group: ManagerGroup, at_s: float = 1.0) -> int:
    env.run(until=at_s)
    assert group.leader is not None
    return group.leader


def advance(env: Environment, until_s: float) -> None:
    if until_s > env.now:  # SimPy refuses to run until now
        env.run(until=until_s)


def proposal_order(replica) -> list[int]:
    return [a.proposal for a in replica.applied]


# -- the per-model state machine ------------------------------------------------------------

# The detector's moves, for any reason; out of damaged only by a rollback. Nothing else.
DETECTOR_MOVES = {(HEALTHY, UNCERTAIN), (UNCERTAIN, HEALTHY), (UNCERTAIN, DAMAGED)}


@pytest.mark.parametrize("current", STATES)
@pytest.mark.parametrize("target", STATES)
@pytest.mark.parametrize("reason", ["anomaly", "confirmed", ROLLBACK])
def test_only_the_detectors_moves_and_the_rollback_are_legal(current, target, reason):
    expected = (current, target) in DETECTOR_MOVES or (current, target, reason) == (DAMAGED, HEALTHY, ROLLBACK)
    assert is_legal(current, Transition("m", target, reason, 0.0)) == expected


def test_an_incident_goes_healthy_uncertain_damaged_and_back_by_rollback_only():
    states = ModelStates()
    assert states.state("ranking") == HEALTHY  # never named: healthy
    assert states.apply(Transition("ranking", UNCERTAIN, "anomaly", 1.0))
    assert states.apply(Transition("ranking", DAMAGED, "confirmed", 2.0))
    assert not states.apply(Transition("ranking", HEALTHY, "looks fine now", 3.0))
    assert not states.apply(Transition("ranking", UNCERTAIN, "anomaly", 3.0))
    assert states.state("ranking") == DAMAGED  # a refusal changes nothing
    assert states.apply(Transition("ranking", HEALTHY, ROLLBACK, 4.0))
    assert not states.apply(Transition("ctr", DAMAGED, "confirmed", 4.0))  # not without uncertain first
    assert states.as_dict() == {"ranking": HEALTHY}


@pytest.mark.parametrize("command", [
    ("m", "broken", "x", 0.0), ("", HEALTHY, "x", 0.0), ("m", HEALTHY, 3, 0.0), ("m", HEALTHY), "m",
])
def test_a_malformed_command_is_refused_when_proposed(command):
    _, group = make_group()
    with pytest.raises((TypeError, ValueError)):
        group.propose(command)


@pytest.mark.parametrize("params", [
    {"replicas": 0}, {"one_way_delay_s": -1e-3}, {"election_timeout_min_s": 0.3, "election_timeout_max_s": 0.2},
    {"election_timeout_min_s": 0.2, "election_timeout_max_s": 0.2}, {"heartbeat_interval_s": 0.0},
    {"heartbeat_interval_s": 0.15},
])
def test_parameters_that_would_break_raft_are_refused(params):
    with pytest.raises(ValueError):
        ManagerParams(**params)


# -- elections and commits on a stable leader (exact) ---------------------------------------

def test_the_first_leader_is_elected_one_round_trip_after_the_earliest_timeout():
    for seed in range(50):
        env, group = make_group(seed)
        deadlines = [r.election_deadline_s for r in group.replicas]
        first = int(np.argmin(deadlines))
        stable_leader(env, group)
        # RequestVote out, a vote back: the earliest replica wins term 1 at deadline + 2 delays,
        # so within the largest timeout plus one round trip.
        assert group.elections == [(deadlines[first] + D + D, 1, first)]
        assert group.elections[0].time_s <= HI + 2 * D
        assert group.leader == first


def test_a_proposal_commits_one_round_trip_after_it_reaches_a_stable_leader():
    env, group = make_group(seed=4)
    leader = stable_leader(env, group, at_s=1.0)
    committed = group.propose(("ranking", UNCERTAIN, "anomaly", 1.0))
    env.run(until=committed)
    # Leader to followers and back: 2 delays. Index 1 is the leader's no-op of term 1.
    assert env.now == 1.0 + D + D
    assert committed.value == 2
    assert [len(r.applied) for r in group.replicas] == [1 if r.id == leader else 0 for r in group.replicas]
    # The followers learn the commit from the message the leader sends as it commits.
    env.run(until=1.0 + D + D + D + 1e-9)
    expected = [Applied(2, 0, Transition("ranking", UNCERTAIN, "anomaly", 1.0), True)]
    assert all(r.applied == expected for r in group.replicas)
    assert group.state("ranking") == UNCERTAIN


def test_proposals_made_before_any_leader_commit_with_its_first_round():
    env, group = make_group(seed=1)
    events = [group.propose((MODELS[i], UNCERTAIN, "anomaly", 0.0)) for i in range(3)]
    env.run(until=1.0)
    first = group.elections[0]
    # The leader appends them after its no-op as it is elected; one round trip commits them all.
    assert [e.value for e in events] == [2, 3, 4]
    assert all(r.applied == group.replicas[first.replica].applied for r in group.replicas)
    assert group.states() == {m: UNCERTAIN for m in sorted(MODELS)}


def test_a_group_of_one_commits_alone_and_a_group_of_five_survives_two_crashes():
    env, group = make_group(seed=2, replicas=1)
    stable_leader(env, group)
    committed = group.propose(("m", UNCERTAIN, "anomaly", 1.0))
    env.run(until=committed)
    assert env.now == 1.0

    env, group = make_group(seed=2, replicas=5)
    leader = stable_leader(env, group)
    group.crash(leader)
    group.crash((leader + 1) % 5)
    committed = group.propose(("m", UNCERTAIN, "anomaly", 1.0))
    env.run(until=3.0)
    assert committed.processed
    live = [r for r in group.replicas if r.up]
    assert len(live) == 3 and all(r.applied == live[0].applied for r in live)


# -- crashes: no stop, no fork --------------------------------------------------------------

def next_move(state: str, rng: np.random.Generator) -> tuple[str, str]:
    """What a detector would propose next for a model in `state`: always a legal move."""
    if state == HEALTHY:
        return UNCERTAIN, "anomaly"
    if state == UNCERTAIN:
        return (DAMAGED, "confirmed") if rng.random() < 0.5 else (HEALTHY, "false alarm")
    return HEALTHY, ROLLBACK


@dataclass
class StreamRun:
    group: ManagerGroup
    env: Environment
    proposed_s: list[float] = field(default_factory=list)
    events: list = field(default_factory=list)
    committed_s: dict[int, float] = field(default_factory=dict)
    intended: dict[str, str] = field(default_factory=dict)
    crash_s: float = 0.0
    victim: int = -1
    victim_applied: list[Applied] = field(default_factory=list)

    def history(self) -> tuple:
        return (self.group.elections, [r.applied for r in self.group.replicas], self.committed_s,
                self.group.messages_sent, self.env.events_processed)


def incident_stream(seed: int, victim: str, recover: bool, n: int = 40, until_s: float = 6.0) -> StreamRun:
    """A detector proposes `n` legal transitions of three models, one every 30 ms on average and
    without waiting for commits, from time 0 (before any leader). One replica (the leader at
    that moment, or any) crashes at a random time in the first 1.5 s; it may recover later."""
    schedule, group_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    env = Environment()
    run = StreamRun(ManagerGroup(env, group_rng), env)
    run.crash_s = float(schedule.uniform(0, 1.5))
    recover_s = run.crash_s + float(schedule.uniform(0.1, 1.0)) if recover else None
    any_replica = int(schedule.integers(3))

    def detector():
        state = dict.fromkeys(MODELS, HEALTHY)
        for k in range(n):
            yield env.timeout(schedule.exponential(0.030))
            model = MODELS[schedule.integers(len(MODELS))]
            state[model], reason = next_move(state[model], schedule)
            done = run.group.propose((model, state[model], reason, env.now))
            done.callbacks.append(lambda _, k=k: run.committed_s.__setitem__(k, env.now))
            run.proposed_s.append(env.now)
            run.events.append(done)
        run.intended = dict(sorted(state.items()))

    def crasher():
        yield env.timeout(run.crash_s)
        leader = run.group.leader
        run.victim = leader if victim == "leader" and leader is not None else any_replica
        run.group.crash(run.victim)
        run.victim_applied = list(run.group.replicas[run.victim].applied)
        if recover_s is not None:
            yield env.timeout(recover_s - run.crash_s)
            run.group.recover(run.victim)

    env.process(detector())
    env.process(crasher())
    env.run(until=until_s)
    return run


@pytest.mark.parametrize("recover", [False, True], ids=["stays-down", "recovers"])
@pytest.mark.parametrize("victim", ["leader", "any"])
def test_a_crash_of_any_one_replica_stops_nothing_and_forks_nothing(victim, recover):
    for seed in range(60):
        run = incident_stream(seed, victim, recover)
        n = len(run.events)
        live = [r for r in run.group.replicas if r.up]
        assert len(live) == (3 if recover else 2)
        # No fork: every live replica applied the same commands at the same indices, each
        # proposal exactly once and in the order proposed, so every legal move was accepted.
        for replica in live:
            assert replica.applied == live[0].applied, seed
        assert proposal_order(live[0]) == list(range(n)), seed
        assert all(a.accepted for a in live[0].applied), seed
        assert [e.value for e in run.events] == [a.index for a in live[0].applied]
        assert all(r.machine.as_dict() == run.intended for r in live)
        # What the victim had applied when it crashed is a prefix of the survivors' history.
        assert run.victim_applied == live[0].applied[:len(run.victim_applied)], seed
        # No stop: every proposal commits within two election rounds of the crash (a timeout,
        # one split vote at most in these seeds, a vote round trip, a commit round trip).
        for k in range(n):
            waited = run.committed_s[k] - max(run.proposed_s[k], run.crash_s)
            assert waited <= 2 * HI + 5 * D, (seed, k, waited)
        # Election safety: at most one leader per term.
        terms = [e.term for e in run.group.elections]
        assert len(terms) == len(set(terms))


@pytest.mark.parametrize("victim", ["leader", "follower"])
def test_a_manager_replica_crash_during_an_incident_does_not_stop_or_fork_the_state_machine(victim):
    env, group = make_group(seed=7)
    leader = stable_leader(env, group, at_s=1.0)
    crashed = leader if victim == "leader" else (leader + 1) % 3
    incident = [("ranking", UNCERTAIN, "anomaly", 1.0)]
    events = [group.propose(incident[0])]
    env.run(until=1.0 + D / 2)  # the AppendEntries is on the wire
    group.crash(crashed)
    for t, state, reason in [(1.05, DAMAGED, "confirmed"), (1.10, HEALTHY, ROLLBACK)]:
        env.run(until=t)
        incident.append(("ranking", state, reason, t))
        events.append(group.propose(incident[-1]))
    env.run(until=2.0)
    live = [r for r in group.replicas if r.up]
    for replica in live:
        assert [(a.command, a.accepted) for a in replica.applied] == [(Transition(*c), True) for c in incident]
        assert replica.machine.state("ranking") == HEALTHY
    assert all(e.processed for e in events)
    if victim == "follower":  # the survivors are a majority: commits do not even pause
        assert [e.value for e in events] == [2, 3, 4]
        assert group.leader == leader
    else:  # a new leader of term 2 takes over within one election timeout
        assert group.elections[-1].term == 2 and group.elections[-1].time_s <= 1.0 + D + HI + 2 * D


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), offset_delays=st.floats(0, 3), recover=st.booleans())
def test_a_proposal_in_flight_when_the_leader_crashes_is_committed_exactly_once(seed, offset_delays, recover):
    env, group = make_group(seed)
    leader = stable_leader(env, group, at_s=1.0)
    committed = group.propose(("ranking", UNCERTAIN, "anomaly", 1.0))
    advance(env, 1.0 + offset_delays * D)
    group.crash(leader)
    if recover:
        env.run(until=2.0)
        group.recover(leader)
    env.run(until=3.0)
    assert committed.processed
    for replica in group.replicas:
        if replica.up:
            assert proposal_order(replica) == [0]
            assert replica.applied[0].index == committed.value


def test_with_two_of_three_down_nothing_commits_until_one_recovers():
    # The two followers crash: the leader stays leader but cannot commit.
    env, group = make_group(seed=3)
    leader = stable_leader(env, group, at_s=1.0)
    followers = [i for i in range(3) if i != leader]
    for i in followers:
        group.crash(i)
    committed = group.propose(("ranking", UNCERTAIN, "anomaly", 1.0))
    env.run(until=4.0)
    assert not committed.triggered and group.replicas[leader].commit_index == 1
    group.recover(followers[0])
    env.run(until=committed)
    # The recovered follower's log matches up to the leader's no-op, so the next heartbeat's
    # entries are accepted at once: at most a heartbeat and a round trip.
    assert env.now <= 4.0 + P.heartbeat_interval_s + 2 * D
    env.run(until=5.0)
    assert group.replicas[followers[0]].applied == group.replicas[leader].applied


def test_an_entry_only_the_crashed_leader_holds_is_replaced_and_committed_once_elsewhere():
    env, group = make_group(seed=3)
    leader = stable_leader(env, group, at_s=1.0)
    followers = [i for i in range(3) if i != leader]
    for i in followers:
        group.crash(i)
    committed = group.propose(("ranking", UNCERTAIN, "anomaly", 1.0))  # reaches no follower
    env.run(until=1.1)
    group.crash(leader)
    env.run(until=1.5)
    for i in followers:  # a majority again, without the only copy of the proposal
        group.recover(i)
    env.run(until=committed)
    assert env.now <= 1.5 + 2 * HI + 4 * D
    new_leader = group.leader
    assert new_leader in followers and group.replicas[new_leader].term > group.replicas[leader].term
    env.run(until=2.5)
    group.recover(leader)  # its stale copy of term 1 is overwritten, not applied
    env.run(until=3.5)
    assert [proposal_order(r) for r in group.replicas] == [[0], [0], [0]]
    assert all(r.applied == group.replicas[new_leader].applied for r in group.replicas)
    assert group.replicas[leader].applied[0].index == committed.value


def test_illegal_transitions_are_refused_identically_on_every_replica():
    env, group = make_group(seed=5)
    commands = [
        ("ranking", DAMAGED, "confirmed", 1.0),     # refused: not without uncertain first
        ("ranking", UNCERTAIN, "anomaly", 1.0),
        ("ranking", UNCERTAIN, "anomaly", 1.0),     # refused: already uncertain
        ("ranking", DAMAGED, "confirmed", 1.0),
        ("ranking", HEALTHY, "false alarm", 1.0),   # refused: damaged needs a rollback
        ("ctr", HEALTHY, ROLLBACK, 1.0),            # refused: already healthy
        ("ranking", HEALTHY, ROLLBACK, 1.0),
    ]
    stable_leader(env, group, at_s=1.0)
    for command in commands[:4]:
        group.propose(command)
    env.run(until=1.0 + D / 2)
    group.crash(group.leader)  # the refusals survive a change of leader too
    for command in commands[4:]:
        group.propose(command)
    env.run(until=1.5)
    group.recover(next(i for i in range(3) if not group.replicas[i].up))
    env.run(until=2.0)
    expected = [False, True, False, True, False, False, True]
    for replica in group.replicas:
        assert [(a.command, a.accepted) for a in replica.applied] == [
            (Transition(*c), ok) for c, ok in zip(commands, expected)]
        assert replica.machine.as_dict() == {"ranking": HEALTHY}  # a refusal names no model


def test_a_recovered_replica_replays_its_log_to_the_same_states():
    run = incident_stream(seed=11, victim="any", recover=True)
    victim = run.group.replicas[run.victim]
    others = [r for r in run.group.replicas if r is not victim]
    assert victim.applied == others[0].applied == others[1].applied
    assert victim.machine.as_dict() == run.intended


def test_the_same_seed_gives_the_same_history():
    for seed in (0, 1, 2):
        first = incident_stream(seed, "leader", recover=True)
        again = incident_stream(seed, "leader", recover=True)
        assert first.history() == again.history()
    assert incident_stream(0, "leader", True).group.elections != incident_stream(1, "leader", True).group.elections


def test_the_leader_is_the_live_leader_of_the_newest_term():
    env, group = make_group(seed=9)
    leader = stable_leader(env, group)
    assert [r.role == LEADER for r in group.replicas].count(True) == 1
    group.crash(leader)
    assert group.leader is None  # until a new election ends
    env.run(until=2.0)
    assert group.leader not in (None, leader)
