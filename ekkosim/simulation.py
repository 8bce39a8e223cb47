"""One simulation run: a scenario wired to the kernel, the network, its topology and a strategy.

A strategy is a function `start(sim) -> Outcome`; it starts SimPy processes that move model
state and returns its outcome, whose event fires when it is done. The run stops at that event,
or at the scenario's `until`, whichever comes first. Whoever builds the simulation hands it the
strategy (the runner takes the scenario's from `ekkosim.strategies`): the world below knows no
strategy.
"""

from __future__ import annotations

import gc
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import simpy

from ekkosim import net, ps
from ekkosim.kernel import Environment, Randomness, interrupts_deferred
from ekkosim.net.background import start_background
from ekkosim.net.congestion import CongestionSchedule
from ekkosim.net.flows import Flow, Network, Route
from ekkosim.net.meter import LinkMeter
from ekkosim.net.topology import Server, Topology
from ekkosim.schema import Scenario

YOUNG_COLLECTION_THRESHOLD = 100_000  # allocations between young collections during a run (Python's default: 700)


class Outcome:
    """What a strategy reports: the event of its end, its summary numbers and its tables."""

    def __init__(self, done: simpy.Event, end_s: float | None = None):
        self.done = done
        self.end_s = end_s  # when `done` will fire, if the strategy knows in advance

    def expected_end_s(self, until_s: float | None) -> float | None:
        """When the run will stop, if known: the strategy's end or the scenario's `until`."""
        known = [t for t in (self.end_s, until_s) if t is not None]
        return min(known) if known else None

    def summary(self) -> dict:
        """Numbers for summary.json, computed when the run has stopped."""
        return {}

    def tables(self) -> dict[str, dict]:
        """Extra result tables, file name to columns."""
        return {}


Start = Callable[["Simulation"], Outcome]  # a strategy: start its processes, return its outcome
Repair = Callable[[], None]  # how to undo a fault


def on_schedule(env: simpy.Environment, index: int, fault, inject: Callable[[dict], Repair | None],
                log: list[dict]) -> Iterator[simpy.Event]:
    """A SimPy process: break scenario fault `index` at its `at` (`inject(entry)` breaks it, notes
    its target in `entry`, its line in `log`, and returns how to repair it, None if nothing
    broke), and repair it at its `recover`, if set."""
    yield env.timeout(fault.at)
    entry = {"fault": index, "kind": fault.kind, "at_s": env.now, "recovered_s": None}
    repair = inject(entry)
    log.append(entry)
    if repair is None or fault.recover is None:
        return
    yield env.timeout(fault.recover - env.now)
    repair()
    entry["recovered_s"] = env.now


@dataclass(frozen=True)
class Endpoints:
    """Who sent a flow to whom, for the results tables."""

    src: str
    dst: str
    src_dc: str
    dst_dc: str


class FlowLog:
    """The completed flows, in completion order, as columns: what the flows table needs, about
    50 bytes a flow (a finished Flow with its event, route and numbers kept about 400). A run
    moves millions of flows; this is what it keeps of them."""

    def __init__(self) -> None:
        self.id, self.size_bytes, self.start_s, self.end_s = array("q"), array("d"), array("d"), array("d")
        self.tag: list[str] = []
        self.endpoints: list[Endpoints] = []

    def __len__(self) -> int:
        return len(self.id)

    def take(self, flows: list[Flow], endpoints: dict[int, Endpoints]) -> None:
        """Log `flows` and forget them, and their entries in `endpoints`."""
        for flow in flows:
            self.id.append(flow.id)
            self.tag.append(flow.tag)
            self.endpoints.append(endpoints.pop(flow.id))
            self.size_bytes.append(flow.size_bytes)
            self.start_s.append(flow.start_s)
            self.end_s.append(flow.end_s)
        flows.clear()


def load_compiled_loops() -> None:
    """Load every compiled loop of a run (`ekkosim.compiled`), compiled or from Numba's cache,
    as a simulation is built rather than in one of its events: a tenth of a second, or on a cold
    cache (a fresh checkout, a compiled module or Numba changed) seconds of compilation."""
    net.kernels()
    ps.kernels()
    ps.probes()


class Simulation:
    """The simulated world of one scenario. Build it, then `run()`."""

    def __init__(self, scenario: Scenario, strategy: Start, check: bool = False):
        """`strategy`: the strategy to run (`ekkosim.strategies` has the one a scenario names);
        `check`: check the strategy's invariants as the run goes (the ekko strategy's)."""
        # Ctrl-C waits for the build's end (`interrupts_deferred`): the build calls compiled loops,
        # which Ctrl-C would break (into a SystemError, or worse).
        with interrupts_deferred():
            load_compiled_loops()
            self.scenario = scenario
            self.check = check
            self.env = Environment()
            self.randomness = Randomness(scenario.seed)
            self.meter = LinkMeter(scenario.output.window)
            self.network = Network(
                self.env, sharing=scenario.network.sharing, window_bytes=scenario.network.window, meter=self.meter
            )
            self.topology = Topology(scenario, self.network)
            self.nominal_capacity_Bps = [self.network.capacity(i) for i in range(self.network.n_links)]
            self.link_names = [self.network.link_name(i) for i in range(self.network.n_links)]
            self.endpoints: dict[int, Endpoints] = {}  # per flow id until it is logged; one object per pair
            self.flow_log = FlowLog()
            # one Endpoints per pair: a run sends millions of flows between few pairs
            self._pairs: dict[tuple, Endpoints] = {}
            self.congestion = CongestionSchedule(self.env, self.network, self.topology, scenario.network.congestion)
            start_background(self.env, self.send_between_dcs, scenario.network.background, self.randomness)
            self.outcome = strategy(self)

    def send(self, src: Server, dst: Server, size_bytes: float, tag: str) -> Flow:
        """Start a flow of `size_bytes` from one server to another."""
        return self._transfer(self.topology.route(src, dst), src, dst, size_bytes, tag)

    def send_between_dcs(self, src_dc: str, dst_dc: str, size_bytes: float, tag: str) -> Flow:
        """Start a flow from one DC's WAN egress to another's ingress (traffic not from a server)."""
        return self._transfer(self.topology.dc_route(src_dc, dst_dc), src_dc, dst_dc, size_bytes, tag)

    def _transfer(self, route: Route, src: Server | str, dst: Server | str, size_bytes: float, tag: str) -> Flow:
        """Start a flow over `route` from `src` to `dst` (servers, or DCs) and note who sent it to
        whom, in the one Endpoints object of the pair."""
        flow = self.network.transfer(route, size_bytes, tag=tag)
        endpoints = self._pairs.get((src, dst))
        if endpoints is None:
            dcs = (src.dc, dst.dc) if isinstance(src, Server) else (src, dst)
            endpoints = self._pairs[(src, dst)] = Endpoints(str(src), str(dst), *dcs)
        self.endpoints[flow.id] = endpoints
        return flow

    def run(self, on_progress: Callable[[float], None] | None = None) -> None:
        """Simulate until the strategy is done or the scenario's `until`. Every few thousand
        events the completed flows move into the flow log (no event of the simulation's)."""

        def progress(now_s: float) -> None:
            self.flow_log.take(self.network.completed, self.endpoints)
            if on_progress is not None:
                on_progress(now_s)

        # The world just built (millions of objects at production scale) lives as long as the
        # run, so the cyclic collector's full passes need not walk it; and a run makes and drops
        # objects by the million, nearly all freed by reference counting, so young collections
        # can be rarer.
        threshold = gc.get_threshold()
        gc.freeze()
        gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, *threshold[1:])
        try:
            self.env.run_until_done(self.outcome.done, self.scenario.until, progress)
        finally:
            gc.set_threshold(*threshold)
            gc.unfreeze()
        self.network.sync()  # account the bytes of flows still moving when the run stops
        self.flow_log.take(self.network.completed, self.endpoints)
