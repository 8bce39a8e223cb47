"""Ekko's model states, replicated: a small Raft log agreed by a majority of manager replicas, and
the per-model state machine (healthy, uncertain, damaged) every replica applies from it.

The consensus is Raft's core (Ongaro and Ousterhout, "In Search of an Understandable Consensus
Algorithm", USENIX ATC 2014): terms, randomized election timeouts, RequestVote with the log
up-to-date check, AppendEntries with heartbeats and the consistency check, commit by a majority
in the leader's own term, apply in log order. No snapshots, no membership changes. Timing: every
message takes a fixed one-way delay (control messages are tiny: no bandwidth model); a crashed
replica receives and sends nothing and keeps only its term, vote and log. docs/manager.md ("The replicated model states")
has the protocol, what it leaves out, and the parameters.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import simpy

from ekkosim.manager.health import DAMAGED, HEALTHY, STATES, UNCERTAIN

# ---------------------------------------------------------------------------------------------
# The per-model state machine (no SimPy): what every replica applies, in log order.

ROLLBACK = "rollback"  # the reason that lets a damaged model become healthy again

# The detector's moves: suspect, clear a false alarm, confirm. A damaged model leaves that state
# only by a rollback (docs/design.md, "The model state manager"), so damaged -> healthy also needs reason ROLLBACK.
_MOVES = frozenset({(HEALTHY, UNCERTAIN), (UNCERTAIN, HEALTHY), (UNCERTAIN, DAMAGED), (DAMAGED, HEALTHY)})


class Transition(NamedTuple):
    """A command of the log: move `model` to `state`, for `reason`, decided at `time_s`."""

    model: str
    state: str
    reason: str
    time_s: float

    @classmethod
    def of(cls, command: Sequence) -> Transition:
        """A transition from a `(model, state, reason, time_s)` tuple; TypeError or ValueError if
        malformed."""
        try:
            model, state, reason, time_s = command
        except (TypeError, ValueError):
            raise ValueError(f"a command is (model, state, reason, time_s), got {command!r}") from None
        if not isinstance(model, str) or not isinstance(reason, str):
            raise TypeError(f"model and reason must be strings, got {model!r} and {reason!r}")
        if not model:
            raise ValueError("model must be a non-empty string")
        if state not in STATES:
            raise ValueError(f"state must be one of {', '.join(STATES)}, got {state!r}")
        return cls(model, state, reason, float(time_s))


def is_legal(current: str, transition: Transition) -> bool:
    """Whether a model in state `current` may take `transition`."""
    if (current, transition.state) not in _MOVES:
        return False
    return current != DAMAGED or transition.reason == ROLLBACK


class ModelStates:
    """The state of every model; a model never named yet is healthy. Deterministic: the same
    transitions in the same order give the same states and the same refusals."""

    def __init__(self) -> None:
        self._state: dict[str, str] = {}

    def state(self, model: str) -> str:
        return self._state.get(model, HEALTHY)

    def apply(self, transition: Transition) -> bool:
        """Take `transition` if it is legal (True); refuse it and change nothing otherwise."""
        if not is_legal(self.state(transition.model), transition):
            return False
        self._state[transition.model] = transition.state
        return True

    def as_dict(self) -> dict[str, str]:
        """Every model named so far and its state, by model name."""
        return {model: self._state[model] for model in sorted(self._state)}


# ---------------------------------------------------------------------------------------------
# The replicated log.


@dataclass(frozen=True)
class ManagerParams:
    """The manager group; docs/manager.md ("The replicated model states") gives the source of every default."""

    replicas: int = 3
    one_way_delay_s: float = 0.001  # managers in one region (our assumption)
    heartbeat_interval_s: float = 0.050  # our assumption, well under the election timeout
    election_timeout_min_s: float = 0.150  # Raft paper, section 9.3
    election_timeout_max_s: float = 0.300

    def __post_init__(self) -> None:
        if self.replicas < 1:
            raise ValueError(f"replicas must be >= 1, got {self.replicas}")
        if not self.one_way_delay_s >= 0:
            raise ValueError(f"one_way_delay_s must be >= 0, got {self.one_way_delay_s}")
        # Equal timeouts would time every replica out together, and split the votes forever.
        if not 0 < self.election_timeout_min_s < self.election_timeout_max_s < math.inf:
            raise ValueError("election timeouts must satisfy 0 < min < max < inf, got "
                             f"{self.election_timeout_min_s} and {self.election_timeout_max_s}")
        # A leader's heartbeats must reach its followers before they time out, or a live leader
        # is deposed again and again (Raft's broadcastTime << electionTimeout).
        if not 0 < self.heartbeat_interval_s < self.election_timeout_min_s - self.one_way_delay_s:
            raise ValueError("heartbeat_interval_s must be > 0 and below election_timeout_min_s - one_way_delay_s, "
                             f"got {self.heartbeat_interval_s}")

    @property
    def majority(self) -> int:
        return self.replicas // 2 + 1


FOLLOWER, CANDIDATE, LEADER = "follower", "candidate", "leader"


class Entry(NamedTuple):
    """One log entry. A new leader's no-op has no proposal and no command."""

    term: int
    proposal: int | None
    command: Transition | None


class Applied(NamedTuple):
    """A committed command as a replica applied it: refused commands are applied too (as no
    change), so every replica records the same sequence."""

    index: int
    proposal: int
    command: Transition
    accepted: bool


class Election(NamedTuple):
    time_s: float
    term: int
    replica: int


@dataclass(frozen=True)
class RequestVote:
    term: int
    candidate: int
    last_index: int
    last_term: int


@dataclass(frozen=True)
class Vote:
    term: int
    voter: int
    granted: bool


@dataclass(frozen=True)
class AppendEntries:
    term: int
    leader: int
    prev_index: int
    prev_term: int
    entries: tuple[Entry, ...]
    commit_index: int


@dataclass(frozen=True)
class AppendReply:
    term: int
    follower: int
    success: bool
    match_index: int  # on success: the follower's log equals the leader's up to here
    last_index: int  # the follower's last log index, a hint to back up faster on failure


class ManagerReplica:
    """One manager replica: a Raft server whose state machine is `ModelStates`.

    Persistent across a crash (Raft's stable storage): `term`, `voted_for`, `log`. Volatile,
    rebuilt after recovery by replaying the log as commits become known: `commit_index`,
    `last_applied`, `machine`, `applied`.
    """

    def __init__(self, group: ManagerGroup, index: int):
        self.group, self.id, self.env = group, index, group.env
        self.term = 0
        self.voted_for: int | None = None
        self.log: list[Entry] = [Entry(0, None, None)]  # index 0 is a sentinel: indices start at 1
        self.up = True
        self.incarnation = 0  # grows at every crash; processes of an older incarnation stop
        self.role = FOLLOWER
        self.commit_index = 0
        self.last_applied = 0
        self.machine = ModelStates()
        self.applied: list[Applied] = []
        self.election_deadline_s = 0.0
        self._votes: set[int] = set()
        self._next_index: list[int] = []
        self._match_index: list[int] = []
        self._leadership_over = self.env.event()

    @property
    def last_index(self) -> int:
        return len(self.log) - 1

    def start(self) -> None:
        self._reset_election_deadline()
        self.env.process(self._election_timer(self.incarnation))

    def crash(self) -> None:
        self.up = False
        self.incarnation += 1
        if self.role == LEADER:
            self._leadership_over.succeed()
        self.role = FOLLOWER

    def recover(self) -> None:
        self.up = True
        self.commit_index = self.last_applied = 0
        self.machine = ModelStates()
        self.applied = []
        self.start()

    # -- processes --------------------------------------------------------------------------

    def _alive(self, incarnation: int) -> bool:
        return self.up and self.incarnation == incarnation

    def _election_timer(self, incarnation: int) -> Iterator[simpy.Event]:
        """A follower or candidate that hears from no leader by its deadline starts an election."""
        while self._alive(incarnation):
            if self.role == LEADER:
                yield self._leadership_over
            elif self.env.now < self.election_deadline_s:
                yield self.env.timeout(self.election_deadline_s - self.env.now)
            else:
                self._start_election()

    def _heartbeats(self, incarnation: int, term: int) -> Iterator[simpy.Event]:
        """A leader sends AppendEntries (empty when followers are up to date) every interval."""
        while self._alive(incarnation) and self.role == LEADER and self.term == term:
            self._replicate()
            yield self.env.timeout(self.group.params.heartbeat_interval_s)

    # -- elections --------------------------------------------------------------------------

    def _reset_election_deadline(self) -> None:
        self.election_deadline_s = self.env.now + self.group._election_timeout_s()

    def _start_election(self) -> None:
        self.term += 1
        self.role = CANDIDATE
        self.voted_for = self.id
        self._votes = {self.id}
        self._reset_election_deadline()
        if len(self._votes) >= self.group.params.majority:
            self._become_leader()
            return
        for peer in self._peers():
            self.group._send(peer, RequestVote(self.term, self.id, self.last_index, self.log[-1].term))

    def _on_request_vote(self, m: RequestVote) -> None:
        up_to_date = (m.last_term, m.last_index) >= (self.log[-1].term, self.last_index)
        granted = m.term == self.term and self.voted_for in (None, m.candidate) and up_to_date
        if granted:
            self.voted_for = m.candidate
            self._reset_election_deadline()
        self.group._send(m.candidate, Vote(self.term, self.id, granted))

    def _on_vote(self, m: Vote) -> None:
        if self.role != CANDIDATE or m.term != self.term or not m.granted:
            return
        self._votes.add(m.voter)
        if len(self._votes) >= self.group.params.majority:
            self._become_leader()

    def _become_leader(self) -> None:
        self.role = LEADER
        self._leadership_over = self.env.event()
        n = self.group.params.replicas
        self._next_index = [self.last_index + 1] * n
        self._match_index = [0] * n
        # A no-op of its own term lets the leader commit what earlier terms left uncommitted
        # (Raft section 8): only entries of the current term are committed by counting copies.
        self.log.append(Entry(self.term, None, None))
        # Proposals not yet committed go into the log, unless already there from an earlier term.
        in_log = {entry.proposal for entry in self.log[self.last_applied + 1:]}
        for proposal, command in self.group._uncommitted():
            if proposal not in in_log:
                self.log.append(Entry(self.term, proposal, command))
        self.group._leader_elected(self)
        self.env.process(self._heartbeats(self.incarnation, self.term))
        self._advance_commit()  # a group of one commits alone

    def _become_follower(self) -> None:
        if self.role == LEADER:
            self._leadership_over.succeed()
            self._reset_election_deadline()  # a deposed leader's deadline has long passed
        self.role = FOLLOWER

    # -- replication ------------------------------------------------------------------------

    def accept(self, proposal: int, command: Transition) -> None:
        """As leader: append a proposal to the log and send it at once (not at the next heartbeat)."""
        self.log.append(Entry(self.term, proposal, command))
        self._replicate()
        self._advance_commit()

    def _peers(self) -> list[int]:
        return [j for j in range(self.group.params.replicas) if j != self.id]

    def _replicate(self) -> None:
        for follower in self._peers():
            self._send_entries(follower)

    def _send_entries(self, follower: int) -> None:
        """Everything from the follower's next index on (nothing if it is up to date)."""
        prev = self._next_index[follower] - 1
        self.group._send(follower, AppendEntries(
            self.term, self.id, prev, self.log[prev].term, tuple(self.log[prev + 1:]), self.commit_index))

    def _on_append_entries(self, m: AppendEntries) -> None:
        if m.term < self.term:
            self._reply(m.leader, False, 0)
            return
        self._become_follower()  # a candidate that hears from this term's leader gives up
        self._reset_election_deadline()
        if m.prev_index > self.last_index or self.log[m.prev_index].term != m.prev_term:
            self._reply(m.leader, False, 0)
            return
        for offset, entry in enumerate(m.entries):
            index = m.prev_index + 1 + offset
            if index <= self.last_index:
                if self.log[index].term == entry.term:
                    continue  # same index and term: the same entry (Raft's log matching)
                assert index > self.commit_index, "a committed entry would be overwritten"
                del self.log[index:]
            self.log.append(entry)
        match_index = m.prev_index + len(m.entries)
        # max: a late heartbeat with a short prefix must not move the commit index back
        self.commit_index = max(self.commit_index, min(m.commit_index, match_index))
        self._apply_committed()
        self._reply(m.leader, True, match_index)

    def _reply(self, leader: int, success: bool, match_index: int) -> None:
        self.group._send(leader, AppendReply(self.term, self.id, success, match_index, self.last_index))

    def _on_append_reply(self, m: AppendReply) -> None:
        if self.role != LEADER or m.term != self.term:
            return
        f = m.follower
        if m.success:
            self._match_index[f] = max(self._match_index[f], m.match_index)
            self._next_index[f] = max(self._next_index[f], self._match_index[f] + 1)
            self._advance_commit()
        else:
            backed = min(self._next_index[f] - 1, m.last_index + 1)
            self._next_index[f] = max(self._match_index[f] + 1, backed, 1)
            self._send_entries(f)

    def _advance_commit(self) -> None:
        """Commit the newest entry of this term held by a majority, and everything before it."""
        for index in range(self.last_index, self.commit_index, -1):
            if self.log[index].term != self.term:
                return  # older terms' entries commit only under one of this term (Raft section 5.4.2)
            copies = 1 + sum(1 for f in self._peers() if self._match_index[f] >= index)
            if copies >= self.group.params.majority:
                self.commit_index = index
                self._apply_committed()
                self._replicate()  # followers learn the commit now, not at the next heartbeat
                return

    def _apply_committed(self) -> None:
        while self.last_applied < self.commit_index:
            self.last_applied += 1
            entry = self.log[self.last_applied]
            if entry.command is None:
                continue
            accepted = self.machine.apply(entry.command)
            self.applied.append(Applied(self.last_applied, entry.proposal, entry.command, accepted))
            self.group._committed(entry.proposal, self.last_applied)

    # -- messages ---------------------------------------------------------------------------

    def receive(self, message: RequestVote | Vote | AppendEntries | AppendReply) -> None:
        if message.term > self.term:  # a newer term: adopt it, as a follower with no vote yet
            self.term = message.term
            self.voted_for = None
            self._become_follower()
        match message:
            case RequestVote():
                self._on_request_vote(message)
            case Vote():
                self._on_vote(message)
            case AppendEntries():
                self._on_append_entries(message)
            case AppendReply():
                self._on_append_reply(message)


class ManagerGroup:
    """The manager replicas of one state manager, on one SimPy environment.

    `propose(command)` hands a transition to the current leader and returns an event that
    succeeds with the command's log index once it is committed. The proposer (the detector's
    logic) reaches the leader at no cost; a proposal made while there is no leader, or lost with
    a leader that crashed, is handed to the next leader, so it commits exactly once as long as a
    majority is eventually up. Election timeouts come from `rng`, in the order the simulation asks
    for them: the same seed, the same history.
    """

    def __init__(self, env: simpy.Environment, rng: np.random.Generator, params: ManagerParams | None = None):
        self.env, self.rng = env, rng
        self.params = params if params is not None else ManagerParams()
        self.replicas = [ManagerReplica(self, i) for i in range(self.params.replicas)]
        self.elections: list[Election] = []
        self.messages_sent = 0
        self._pending: dict[int, tuple[Transition, simpy.Event]] = {}  # by proposal id, in proposal order
        self._proposals = 0
        for replica in self.replicas:
            replica.start()

    @property
    def leader(self) -> int | None:
        """The live leader of the newest term, or None (during an election, or without a majority
        no leader may exist)."""
        leaders = [r for r in self.replicas if r.up and r.role == LEADER]
        return max(leaders, key=lambda r: r.term).id if leaders else None

    def propose(self, command: Sequence) -> simpy.Event:
        """Propose a transition `(model, state, reason, time_s)`; the event's value is its log index."""
        transition = Transition.of(command)
        proposal = self._proposals
        self._proposals += 1
        done = self.env.event()
        self._pending[proposal] = (transition, done)
        leader = self.leader
        if leader is not None:
            self.replicas[leader].accept(proposal, transition)
        return done

    def crash(self, i: int) -> None:
        """Replica `i` stops; it keeps its term, vote and log. Crashing a crashed replica does nothing."""
        if self.replicas[i].up:
            self.replicas[i].crash()

    def recover(self, i: int) -> None:
        """Replica `i` restarts as a follower and replays its log as it learns what is committed."""
        if not self.replicas[i].up:
            self.replicas[i].recover()

    def state(self, model: str) -> str:
        """`model`'s state as the live replica that has applied the most sees it."""
        return self._most_applied().machine.state(model)

    def states(self) -> dict[str, str]:
        """Every model's state, as `state` sees it."""
        return self._most_applied().machine.as_dict()

    def _most_applied(self) -> ManagerReplica:
        live = [r for r in self.replicas if r.up]
        if not live:
            raise RuntimeError("no manager replica is up")
        return max(live, key=lambda r: r.last_applied)

    # -- for the replicas -------------------------------------------------------------------

    def _election_timeout_s(self) -> float:
        return float(self.rng.uniform(self.params.election_timeout_min_s, self.params.election_timeout_max_s))

    def _send(self, dst: int, message) -> None:
        """Deliver `message` to replica `dst` one delay later, unless `dst` is down by then."""
        self.messages_sent += 1
        arrival = self.env.timeout(self.params.one_way_delay_s)
        arrival.callbacks.append(lambda _: self._deliver(dst, message))

    def _deliver(self, dst: int, message) -> None:
        if self.replicas[dst].up:
            self.replicas[dst].receive(message)

    def _uncommitted(self) -> list[tuple[int, Transition]]:
        return [(proposal, command) for proposal, (command, _) in self._pending.items()]

    def _leader_elected(self, replica: ManagerReplica) -> None:
        self.elections.append(Election(self.env.now, replica.term, replica.id))

    def _committed(self, proposal: int, index: int) -> None:
        pending = self._pending.pop(proposal, None)
        if pending is not None:
            pending[1].succeed(index)
