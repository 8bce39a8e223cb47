"""Flow-level network on SimPy: the model of SimGrid's flow-level (CM02) networks.

A message is a flow of bytes over a route of links. It first waits its latency, then moves its
bytes at a rate set by weighted max-min fair sharing (``maxmin.allocate``) among all moving
flows, recomputed once per simulated instant at which a flow starts moving, a flow finishes or
a link's capacity changes. A link can fail: every flow crossing it then fails at once (its
`done` fails with `FlowFailed`), and a flow started over a failed link fails as it starts, as
SimGrid's do; routes do not change. A sender may also abort a flow. Not modelled: packets,
queues, losses, TCP slow start and any dynamics below one rate recomputation. See
docs/network-model.md for the full contract.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import simpy

from ekkosim.kernel import due_now, succeed_at_once
from ekkosim.net.maxmin import allocate, allocate_routes, route_arrays
from ekkosim.net.meter import LinkMeter
from ekkosim.net.sharing import SHARING, Sharing

__all__ = ["Flow", "FlowFailed", "Network", "Route"]

# A moving flow whose remaining bytes are at most this fraction of its size when a completion
# timer fires is done: the residue is float rounding from many partial updates, and finishing
# it with the flow the timer was set for avoids a train of near-zero timers.
COMPLETION_REL_TOL = 1e-12

# SimPy runs events of equal time by (priority, insertion). Rate recomputation runs at a
# priority after NORMAL (1), so it sees every mutation of the current instant, including ones
# made by processes woken at that instant, and the instant costs a single recomputation. Where
# no other event is due at the instant, the recomputation runs at once instead of as an event
# of its own: it would have been the next event, so the order of everything else is the same.
_SETTLE_PRIORITY = 2

# Rate allocations remembered per Network (then forgotten all at once): periodic traffic brings
# the same moving flows back again and again (about half the testbed's recomputations repeat one).
# A lone flow's are remembered apart, up to 16 times as many: one per route and latency in use
# (production's servers use more than 4,096, and most of its idle recomputations move one flow).
_MEMO_SIZE = 4096
_LONE_MEMO_SIZE = 16 * _MEMO_SIZE
# Up to this many moving flows, the network looks for a link they share before allocating: if
# none, each takes its lone allocation (bitwise the joint one). Larger sets seldom are disjoint.
_DISJOINT_MAX = 4


class _LateEvent(simpy.Event):
    """An already-succeeded event scheduled now, after all NORMAL events of this instant."""

    def __init__(self, env: simpy.Environment, callback):
        super().__init__(env)
        self._ok = True
        self._value = None
        self.callbacks.append(callback)
        env.schedule(self, _SETTLE_PRIORITY)


class FlowFailed(Exception):
    """A flow stopped before its last byte: a link of its route failed, or its sender aborted it.
    (SimPy re-creates an exception from its args when it throws it into a process: one message.)"""


@dataclass(frozen=True, slots=True)
class Route:
    """The links a flow crosses and the one-way latency it waits before its bytes move. A route
    that `Network.route` made (and checked) names its network: the flows sent over it there need
    no checks of it; any other is checked as link ids are."""

    links: tuple[int, ...]
    latency_s: float
    network: object = field(default=None, compare=False, repr=False)


@dataclass(eq=False, slots=True)
class Flow:
    """One transfer. ``done`` succeeds when its last byte has moved, with no value: an event
    whose value were the flow would make a cycle of the two, which reference counting cannot
    free, and a run finishes millions of flows (the cyclic collector's collections of them took a
    few percent of a busy production run: docs/performance.md, the twelfth session)."""

    id: int
    tag: str
    route: tuple[int, ...]
    size_bytes: float
    start_s: float
    latency_s: float
    done: simpy.Event = field(repr=False)
    end_s: float | None = None
    failed: bool = False


class Network:
    """Links with capacities (bytes/s) and latencies (s), and the flows crossing them.

    ``sharing`` names the sharing model (`ekkosim.net.sharing`), which sets every flow's weight
    and rate bound: ``"maxmin"`` gives every flow weight 1, ``"rtt_weighted"`` the weight
    1 / latency (SimGrid CM02 with correction factors 1: on a shared bottleneck rates are
    inversely proportional to latency). ``window_bytes`` caps each flow's rate at
    window_bytes / (2 x latency), a TCP window over the round trip (no cap at latency 0).
    A flow's latency (the sum of its route's link latencies unless given) is used for all
    three: the initial wait, the RTT weight and the window cap.
    """

    def __init__(
        self,
        env: simpy.Environment,
        sharing: str = "maxmin",
        window_bytes: float | None = None,
        meter: LinkMeter | None = None,
    ):
        if sharing not in SHARING:
            raise ValueError(f"sharing must be one of {tuple(SHARING)}, got {sharing!r}")
        if window_bytes is not None and not (window_bytes > 0):
            raise ValueError(f"window_bytes must be > 0 or None, got {window_bytes!r}")
        self.env = env
        self._sharing = SHARING[sharing]
        self._window_bytes = window_bytes
        self.meter = meter
        self.completed: list[Flow] = []
        self.failed = 0  # flows that failed or were aborted
        self.recomputations = 0  # number of rate allocations computed so far

        self._names: list[str] = []
        self._ids: dict[str, int] = {}
        self._capacity = np.zeros(0)
        self._link_latency: list[float] = []
        # Links carrying traffic and their aggregate rates, in force since the last settle.
        self._carrying: list[int] = []
        self._carrying_rate: list[float] = []
        self._down: set[int] = set()  # failed links
        self._waiting: dict[int, Flow] = {}  # flows in their latency, by id

        self._next_id = itertools.count()
        self._pending: list[Flow] = []  # latency elapsed, rate not yet allocated
        # Moving flows and lists parallel to them; the rates hold from time self._t on. (Lists,
        # not arrays: a recomputation moves a few flows, most often one, and the float
        # operations are the same.)
        self._moving: list[Flow] = []
        self._remaining: list[float] = []
        self._negligible: list[float] = []  # bytes left at which a flow counts as done
        self._flow_latency: list[float] = []
        self._rate: list[float] = []
        self._finish: list[float] = []  # projected completion time at the current rates
        self._t = env.now
        self._generation = 0  # bumped per settle; a timer from an older one is stale
        self._settle_scheduled = False
        # (routes, latencies) -> what _allocation returns, and (route, latency) -> a flow's
        # allocation alone (a lone flow's, or one of a few that share no link); cleared when a
        # capacity changes.
        self._memo: dict[tuple, tuple[list[float], list[int], list[float]]] = {}
        self._lone_memo: dict[tuple, tuple[list[float], list[int], list[float]]] = {}

    @property
    def sharing(self) -> Sharing:
        """The sharing model; fixed, as the window is: the remembered allocations depend on them."""
        return self._sharing

    @property
    def window_bytes(self) -> float | None:
        return self._window_bytes

    # ---------------------------------------------------------------- links

    def add_link(self, name: str, capacity_Bps: float, latency_s: float = 0.0) -> int:
        """Add a link and return its id (0, 1, 2, ... in order of addition)."""
        if name in self._ids:
            raise ValueError(f"duplicate link name {name!r}")
        _check_capacity(capacity_Bps)
        if not (math.isfinite(latency_s) and latency_s >= 0):
            raise ValueError(f"link latency must be finite and >= 0, got {latency_s!r}")
        link = len(self._names)
        self._ids[name] = link
        self._names.append(name)
        self._capacity = np.append(self._capacity, float(capacity_Bps))
        self._link_latency.append(float(latency_s))
        return link

    def link_id(self, name: str) -> int:
        return self._ids[name]

    def link_name(self, link: int) -> str:
        return self._names[link]

    @property
    def n_links(self) -> int:
        return len(self._names)

    def capacity(self, link: int) -> float:
        return float(self._capacity[link])

    def set_capacity(self, link: int, capacity_Bps: float) -> None:
        """Change a link's capacity from now on (``inf`` unlimited, 0 stalls its flows)."""
        if not 0 <= link < len(self._names):
            raise ValueError(f"unknown link id {link}")
        _check_capacity(capacity_Bps)
        self._capacity[link] = float(capacity_Bps)
        self._memo.clear()
        self._lone_memo.clear()
        self._schedule_settle()

    def fail_link(self, link: int) -> None:
        """The link fails now: every flow crossing it fails, and so will every flow started over
        it until it is repaired."""
        self._down.add(link)
        self._drop(lambda flow: link in flow.route, f"link {self._names[link]} is down")

    def repair_link(self, link: int) -> None:
        """The link works again, at the capacity it had."""
        self._down.discard(link)

    def is_up(self, link: int) -> bool:
        return link not in self._down

    def abort(self, flow: Flow) -> None:
        """The sender gives a flow up (a timeout): it stops moving and its `done` fails."""
        self._drop(lambda candidate: candidate is flow, "aborted by its sender")

    def link_rate_Bps(self, link: int) -> float:
        """Aggregate rate of the flows on ``link`` as allocated at the last recomputation.

        Mutations made at the current instant take effect at its end, in one recomputation.
        """
        return self._carrying_rate[self._carrying.index(link)] if link in self._carrying else 0.0

    # ---------------------------------------------------------------- flows

    def route(self, links: Sequence[int], latency_s: float | None = None) -> Route:
        """The route over ``links`` (ids, in order) with latency ``latency_s``, by default the sum
        of its links' latencies; checked here once for all the flows sent over it.

        Raises ValueError for unknown links, a negative or non-finite latency, and, under a
        sharing model that weighs flows by latency (``rtt_weighted``), a latency of 0.
        """
        links = tuple(map(int, links))
        if links and not (0 <= min(links) and max(links) < len(self._names)):
            unknown = next(link for link in links if not 0 <= link < len(self._names))
            raise ValueError(f"unknown link id {unknown} in route {links}")
        if latency_s is None:
            latency_s = sum(self._link_latency[link] for link in links)
        elif not (math.isfinite(latency_s) and latency_s >= 0):
            raise ValueError(f"latency_s must be finite and >= 0, got {latency_s!r}")
        if self.sharing.needs_latency and latency_s == 0:
            raise ValueError(f"{self.sharing.name} sharing needs a flow latency > 0 (it weighs flows by latency)")
        return Route(links, latency_s, self)

    def transfer(
        self,
        route: Route | Sequence[int],
        size_bytes: float,
        *,
        latency_s: float | None = None,
        tag: str = "",
    ) -> Flow:
        """Start a flow now over ``route``, a `Route` of this network's (``route`` makes them) or
        link ids with ``latency_s`` (as ``route`` takes them); it moves after its latency. Returns
        the flow (see ``Flow.done``).

        Raises ValueError for a negative or non-finite size, a latency given with a Route (it
        has its own), and whatever ``route`` raises for link ids.
        """
        if not isinstance(route, Route):
            route = self.route(route, latency_s)
        elif latency_s is not None:
            raise ValueError("a Route has its latency: give latency_s to Network.route")
        elif route.network is not self:  # built by hand, or by another network
            route = self.route(route.links, route.latency_s)
        if not (math.isfinite(size_bytes) and size_bytes >= 0):
            raise ValueError(f"size_bytes must be finite and >= 0, got {size_bytes!r}")
        # (positional: a call by keywords costs a flow a third of a microsecond more)
        flow = Flow(next(self._next_id), tag, route.links, float(size_bytes), self.env.now,
                    float(route.latency_s), self.env.event())
        self._waiting[flow.id] = flow
        self.env.timeout(route.latency_s).callbacks.append(lambda _event: self._start_moving(flow))
        return flow

    def sync(self) -> None:
        """Account bytes moved up to ``env.now`` (call before reading the meter mid-flow)."""
        self._advance()

    # ---------------------------------------------------------------- internals

    def _start_moving(self, flow: Flow) -> None:
        if self._waiting.pop(flow.id, None) is None:
            return  # it failed during its latency
        if not self._down.isdisjoint(flow.route):
            self._fail(flow, "a link of its route is down")
            return
        if flow.size_bytes == 0:
            self._complete(flow, 0.0)
            return
        self._pending.append(flow)
        if self._settle_scheduled or due_now(self.env, _SETTLE_PRIORITY):
            self._schedule_settle()
        else:  # nothing else is due at this instant: the settle would be the next event, so run it now
            self._settle(None)

    def _schedule_settle(self) -> None:
        if not self._settle_scheduled:
            self._settle_scheduled = True
            _LateEvent(self.env, self._settle)

    def _advance(self) -> None:
        """Move every moving flow's remaining bytes (and the meter) from self._t to now."""
        now = self.env.now
        dt = now - self._t
        # Most often nothing moves (the settle of a lone flow that starts): nothing to account.
        if dt > 0 and self._moving:
            # Infinite rates never last for dt > 0: such flows finish at the instant they start.
            remaining = self._remaining  # in place: a new list (a comprehension) costs a lone flow more
            for i, rate in enumerate(self._rate):
                remaining[i] -= rate * dt
            if self.meter is not None and self._carrying:  # (stalled flows carry nothing)
                self.meter.record(self._t, now, self._carrying, self._carrying_rate)
        self._t = now

    def _settle(self, _event: simpy.Event | None) -> None:
        """Recompute all rates and arm one timer for the next completion."""
        self._settle_scheduled = False
        self._advance()
        if self._pending:
            self._add_moving(self._pending)
            self._pending = []
        self._generation += 1
        if not self._moving:
            self._still()
            return

        self._rate, self._carrying, self._carrying_rate = self._allocation()
        self.recomputations += 1

        time_left = [
            0.0 if left <= negligible else left / rate if rate > 0 else math.inf
            for left, rate, negligible in zip(self._remaining, self._rate, self._negligible)
        ]
        # The timer fires at now + min(time_left), bitwise equal to min(self._finish), so
        # the flow it was armed for always counts as finished (no residue can re-arm it).
        t = self._t
        self._finish = [t + left for left in time_left]
        delay = min(time_left)
        if delay < math.inf:
            generation = self._generation
            self.env.timeout(delay).callbacks.append(
                lambda _event: self._on_timer(generation)
            )

    def _allocation(self) -> tuple[list[float], list[int], list[float]]:
        """The moving flows' rates, the links carrying traffic and their aggregate rates,
        remembered: the same routes and latencies (which set the weights and bounds: a sharing
        model's contract) at the same capacities give the same rates. A few flows that share no
        link each move as if alone (max-min fills each link from its own flows only), so they
        take their lone allocations, remembered apart: of production's recomputations that move
        more than one flow, most move two or three, most often on links of their own, a set that
        seldom repeats."""
        if len(self._moving) == 1:
            return self._lone(self._moving[0].route, self._flow_latency[0])
        routes = tuple(flow.route for flow in self._moving)
        if len(routes) <= _DISJOINT_MAX and _disjoint(routes):
            parts = [self._lone(route, latency) for route, latency in zip(routes, self._flow_latency)]
            return ([rates[0] for rates, _, _ in parts],
                    [link for _, carrying, _ in parts for link in carrying],
                    [rate for _, _, link_rates in parts for rate in link_rates])
        key = (routes, tuple(self._flow_latency))
        allocation = self._memo.get(key)
        if allocation is None:
            if len(self._memo) == _MEMO_SIZE:
                self._memo.clear()
            allocation = self._memo[key] = self._computed(routes, self._flow_latency)
        return allocation

    def _lone(self, route: tuple[int, ...], latency: float) -> tuple[list[float], list[int], list[float]]:
        """The allocation of one flow alone, remembered by its route and latency."""
        key = (route, latency)
        allocation = self._lone_memo.get(key)
        if allocation is None:
            if len(self._lone_memo) == _LONE_MEMO_SIZE:
                self._lone_memo.clear()
            allocation = self._lone_memo[key] = self._computed((route,), [latency])
        return allocation

    def _computed(self, routes: tuple[tuple[int, ...], ...], latencies: list[float]
                  ) -> tuple[list[float], list[int], list[float]]:
        """(rates, carrying, carrying rates) of flows over `routes` with `latencies`, computed."""
        latency = np.array(latencies)
        weights = self.sharing.weights(latency)
        bounds = self.sharing.bounds(latency, self.window_bytes)
        if weights is None or np.isfinite(weights).all():
            rates = allocate_routes(self._capacity, routes, weights, bounds)
        else:  # a weight overflowed (1 / a tiny latency): let allocate reject it
            lengths, links = route_arrays(routes)
            rates = allocate(self._capacity, np.concatenate([[0], np.cumsum(lengths)]), links, weights, bounds)
        rates = rates.tolist()
        # Per link, its flows' rates summed in entry order from 0.0 (as np.bincount sums them).
        link_rates: dict[int, float] = {}
        for route, rate in zip(routes, rates):
            for link in route:
                link_rates[link] = link_rates.get(link, 0.0) + rate
        carrying = [link for link, rate in link_rates.items() if rate > 0]
        return rates, carrying, [link_rates[link] for link in carrying]

    def _on_timer(self, generation: int) -> None:
        if generation != self._generation:
            return  # rates changed since this timer was armed
        self._advance()
        now = self.env.now
        keep = [finish > now and left > negligible
                for finish, left, negligible in zip(self._finish, self._remaining, self._negligible)]
        finished = self._keep_moving(keep)
        if self._moving or self._settle_scheduled:
            self._schedule_settle()
        else:  # nothing moves: what a settle would do (no mutation of this instant can be left for it)
            self._generation += 1
            self._still()
        for flow, residue in finished:  # (their done events come before the settle: it is later)
            self._complete(flow, residue, at_once=len(finished) == 1)

    def _still(self) -> None:
        """No flow moves: no rates, and no link carries traffic."""
        self._rate, self._finish = [], []
        self._carrying, self._carrying_rate = [], []

    def _add_moving(self, flows: list[Flow]) -> None:
        self._moving.extend(flows)
        for flow in flows:
            self._remaining.append(flow.size_bytes)
            self._negligible.append(COMPLETION_REL_TOL * flow.size_bytes)
            self._flow_latency.append(flow.latency_s)

    def _keep_moving(self, keep: list[bool]) -> list[tuple[Flow, float]]:
        """Drop the moving flows where ``keep`` is False, from every list; return them with their
        remaining bytes, in the order of their ids."""
        if not any(keep):  # most often the one moving flow finished
            dropped = list(zip(self._moving, self._remaining))
            self._moving, self._remaining, self._negligible, self._flow_latency = [], [], [], []
            self._rate, self._finish = [], []
        else:
            dropped = [(flow, left) for flow, left, k in zip(self._moving, self._remaining, keep) if not k]

            def kept(values: list) -> list:
                return [value for value, k in zip(values, keep) if k]

            self._moving = kept(self._moving)
            self._remaining = kept(self._remaining)
            self._negligible = kept(self._negligible)
            self._flow_latency = kept(self._flow_latency)
            self._rate = kept(self._rate)
            self._finish = kept(self._finish)
        if len(dropped) > 1:  # (flows move in the order their latencies end, not of their ids)
            dropped.sort(key=lambda pair: pair[0].id)
        return dropped

    def _complete(self, flow: Flow, residue_bytes: float, at_once: bool = False) -> None:
        """Finish a flow now; bytes left (moved in no time, or rounding) go to the meter.
        `at_once`: the caller, an event's callback, is done, and no other flow finishes now:
        its done event may be processed at once (`kernel.succeed_at_once`)."""
        if self.meter is not None and residue_bytes > 0:
            self.meter.record_impulse(self.env.now, flow.route, residue_bytes)
        flow.end_s = self.env.now
        self.completed.append(flow)
        if at_once:
            succeed_at_once(self.env, flow.done, None)
        else:
            flow.done.succeed()

    def _drop(self, hit, reason: str) -> None:
        """Fail every flow, in its latency, pending or moving, for which `hit(flow)` holds."""
        self._advance()
        failing = [flow for flow in self._waiting.values() if hit(flow)]
        for flow in failing:
            del self._waiting[flow.id]
        failing += [flow for flow in self._pending if hit(flow)]
        self._pending = [flow for flow in self._pending if not hit(flow)]
        keep = [not hit(flow) for flow in self._moving]
        if not all(keep):
            failing += [flow for flow, _left in self._keep_moving(keep)]
            self._schedule_settle()
        for flow in sorted(failing, key=lambda flow: flow.id):
            self._fail(flow, reason)

    def _fail(self, flow: Flow, reason: str) -> None:
        flow.end_s, flow.failed = self.env.now, True
        self.failed += 1
        flow.done.fail(FlowFailed(f"flow {flow.id} ({flow.tag}) failed: {reason}"))
        flow.done.defused = True  # a failure nobody waits for (background traffic) is no error


def _disjoint(routes: tuple[tuple[int, ...], ...]) -> bool:
    """Whether no link is in two of `routes`."""
    seen: set[int] = set()
    for route in routes:
        if not seen.isdisjoint(route):
            return False
        seen.update(route)
    return True


def _check_capacity(capacity_Bps: float) -> None:
    if not capacity_Bps >= 0:  # also rejects NaN; inf is allowed (unlimited)
        raise ValueError(f"capacity must be >= 0 (inf for unlimited), got {capacity_Bps!r}")
