"""The SimPy flow-level network: completion times worked out by hand."""

import gc
import math
from unittest import mock

import numpy as np
import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

import ekkosim.net.flows as flows_module
from ekkosim.net.flows import Network, Route
from ekkosim.net.meter import LinkMeter

inf = math.inf


def start_at(env, t, fn):
    """Run ``fn()`` at simulated time t; its result lands in the returned one-item list."""
    out = []

    def proc():
        yield env.timeout(t)
        out.append(fn())

    env.process(proc())
    return out


def test_lone_flow_is_latency_plus_size_over_bottleneck():
    env = simpy.Environment()
    net = Network(env)
    a = net.add_link("a", 1e7, 0.013)
    b = net.add_link("b", 3e6, 0.021)
    c = net.add_link("c", 5e6, 0.0007)
    flow = start_at(env, 0.3, lambda: net.transfer([a, b, c], 1_234_567))
    env.run()
    latency = 0.013 + 0.021 + 0.0007
    assert flow[0].latency_s == latency
    assert flow[0].end_s == 0.3 + latency + 1_234_567 / 3e6
    assert flow[0].start_s == 0.3
    assert net.completed == flow


def test_a_lone_flow_costs_two_events():
    """Its latency and its completion timer: with nothing else due at those instants, the rate
    recomputations and its done event are processed without events of their own."""
    from ekkosim.kernel import Environment

    env = Environment()
    net = Network(env)
    link = net.add_link("l", 100.0, 0.5)
    flow = net.transfer([link], 250.0)
    env.run()
    assert (flow.end_s, env.events_processed) == (0.5 + 2.5, 2)


def test_flows_meeting_at_one_instant_share_one_recomputation():
    env = simpy.Environment()
    net = Network(env)
    link = net.add_link("l", 100.0, 0.5)
    first, second = net.transfer([link], 100.0), net.transfer([link], 300.0)
    env.run()
    # both start moving at 0.5 and share the link (50 each) until the first ends at 2.5
    assert (first.end_s, second.end_s, net.recomputations) == (2.5, 4.5, 2)


def test_done_event_succeeds_without_a_value_so_finished_flows_leave_no_cycle_to_collect():
    """A done event whose value were the flow would make a cycle (flow, event, flow) that only
    the cyclic collector frees: a run finishes millions of flows."""
    env = simpy.Environment()
    net = Network(env)
    link = net.add_link("l", 100.0)
    seen = []

    def proc():
        flow = net.transfer([link], 250.0, tag="msg")
        got = yield flow.done
        seen.append((env.now, flow.end_s, got))

    env.process(proc())
    env.run()
    assert seen == [(2.5, 2.5, None)]
    for collecting in (True, False):  # (the first round loads what sharing a link needs)
        if not collecting:
            gc.disable()
        try:
            for size in (100.0, 200.0, 0.0):
                net.transfer([link], size)
            env.run()
            net.completed.clear()
            assert gc.collect() == 0 or collecting
        finally:
            gc.enable()


def test_two_flows_share_then_survivor_speeds_up():
    env = simpy.Environment()
    net = Network(env)
    link = net.add_link("l", 100.0)
    small = net.transfer([link], 100.0)
    big = net.transfer([link], 300.0)
    env.run()
    # Both at 50 B/s until the small one is done at 2 s; the big one has 200 B left at 100 B/s.
    assert (small.end_s, big.end_s) == (2.0, 4.0)


def test_late_starter_slows_the_first():
    env = simpy.Environment()
    net = Network(env)
    link = net.add_link("l", 100.0)
    first = net.transfer([link], 300.0)
    second = start_at(env, 1.0, lambda: net.transfer([link], 100.0))
    env.run()
    # [0, 1): first alone, 100 B. Then 50 B/s each: second done at 3, first has 100 B left.
    assert second[0].end_s == 3.0
    assert first.end_s == 4.0


def test_textbook_three_flows_two_links():
    env = simpy.Environment()
    net = Network(env)
    a = net.add_link("A", 10.0)
    b = net.add_link("B", 20.0)
    f1 = net.transfer([a], 15.0)
    f2 = net.transfer([a, b], 20.0)
    f3 = net.transfer([b], 30.0)
    env.run()
    # Rates 5, 5, 15. At 2, f3 is done; f1 has 5 B left, f2 10 B, still 5 B/s each.
    # At 3, f1 is done; f2 has 5 B left and alone gets min(10, 20) = 10 B/s.
    assert (f1.end_s, f2.end_s, f3.end_s) == (3.0, 3.5, 2.0)
    assert [f.id for f in net.completed] == [f3.id, f1.id, f2.id]


def test_sharing_and_window_are_fixed():
    """The remembered allocations depend on them, so they cannot change under a network."""
    net = Network(simpy.Environment(), sharing="rtt_weighted", window_bytes=1e5)
    assert net.sharing.name == "rtt_weighted" and net.window_bytes == 1e5
    with pytest.raises(AttributeError):
        net.sharing = "maxmin"
    with pytest.raises(AttributeError):
        net.window_bytes = 1e6


def test_capacity_drop_mid_flow():
    env = simpy.Environment()
    net = Network(env)
    link = net.add_link("l", 100.0)
    flow = net.transfer([link], 1000.0)
    start_at(env, 4.0, lambda: net.set_capacity(link, 50.0))
    env.run()
    # 400 B by 4 s, the remaining 600 B at 50 B/s take 12 s.
    assert flow.end_s == 16.0
    assert net.capacity(link) == 50.0


def test_capacity_zero_stalls_then_resumes():
    env = simpy.Environment()
    net = Network(env)
    link = net.add_link("l", 100.0)
    flow = net.transfer([link], 1000.0)
    start_at(env, 2.0, lambda: net.set_capacity(link, 0.0))
    start_at(env, 5.0, lambda: net.set_capacity(link, 100.0))
    env.run(until=4.0)
    assert flow.end_s is None
    assert net.link_rate_Bps(link) == 0.0
    env.run()
    # 200 B by 2 s, stalled for 3 s, then 800 B at 100 B/s.
    assert flow.end_s == 13.0


def test_capacity_zero_forever_arms_no_timer():
    env = simpy.Environment()
    net = Network(env)
    link = net.add_link("l", 0.0)
    flow = net.transfer([link], 10.0)
    env.run()  # returns: nothing is scheduled at infinity
    assert flow.end_s is None
    assert env.now == 0.0


def test_unlimited_links():
    env = simpy.Environment()
    net = Network(env)
    fast = net.add_link("fast", inf, 0.25)
    slow = net.add_link("slow", 100.0, 0.5)
    instant = net.transfer([fast], 1e12)
    limited = net.transfer([fast, slow], 50.0)
    env.run()
    assert instant.end_s == 0.25
    assert limited.end_s == 0.75 + 0.5
    assert net.link_rate_Bps(fast) == 0.0


def test_zero_byte_flow_completes_after_latency_even_on_a_dead_link():
    env = simpy.Environment()
    net = Network(env)
    dead = net.add_link("dead", 0.0, 0.125)
    flow = net.transfer([dead], 0)
    env.run()
    assert flow.end_s == 0.125
    assert net.recomputations == 0


def test_empty_route_with_explicit_latency():
    env = simpy.Environment()
    net = Network(env)
    flow = net.transfer([], 1e9, latency_s=0.5)
    env.run()
    assert flow.end_s == 0.5


def test_window_cap_alone():
    env = simpy.Environment()
    net = Network(env, window_bytes=1000.0)
    link = net.add_link("l", 1e6, 0.0625)
    flow = net.transfer([link], 50_000.0)
    env.run()
    # Rate capped at 1000 B / (2 x 0.0625 s) = 8000 B/s, far below the link's 1e6 B/s.
    assert flow.end_s == 0.0625 + 50_000.0 / 8000.0


def test_window_capped_flow_releases_capacity_to_others():
    env = simpy.Environment()
    net = Network(env, window_bytes=20.0)
    link = net.add_link("l", 100.0)
    slow = net.transfer([link], 40.0, latency_s=0.5)  # cap 20 B/s (RTT 1 s)
    fast = net.transfer([link], 303.75, latency_s=0.0625)  # cap 160 B/s: never binds
    env.run()
    # [0.0625, 0.5): fast alone at 100 B/s = 43.75 B. [0.5, 2.5): slow 20, fast 80 = 160 B.
    # Then fast alone: 100 B at 100 B/s.
    assert slow.end_s == 0.5 + 40.0 / 20.0
    assert fast.end_s == 3.5


def test_rtt_weighted_rates_inverse_to_latency():
    env = simpy.Environment()
    net = Network(env, sharing="rtt_weighted")
    shared = net.add_link("shared", 100.0)
    near = net.add_link("near", inf, 0.25)
    far = net.add_link("far", inf, 0.75)
    f_near = net.transfer([near, shared], 200.0)
    f_far = net.transfer([far, shared], 150.0)
    rates = start_at(env, 1.0, lambda: (net.link_rate_Bps(near), net.link_rate_Bps(far)))
    env.run()
    # [0.25, 0.75): near alone at 100 B/s, 50 B. Then 1/0.25 : 1/0.75 = 3 : 1, so 75 and 25:
    # near's last 150 B take 2 s; far has 50 B by 2.75 and its last 100 B take 1 s.
    assert rates[0] == pytest.approx((75.0, 25.0), rel=1e-12)
    assert f_near.end_s == pytest.approx(2.75, rel=1e-12)
    assert f_far.end_s == pytest.approx(3.75, rel=1e-12)


def test_rtt_weighted_rejects_zero_latency():
    env = simpy.Environment()
    net = Network(env, sharing="rtt_weighted")
    link = net.add_link("l", 100.0)
    with pytest.raises(ValueError, match="latency"):
        net.transfer([link], 10.0)


def _other_network_route() -> Route:
    other = Network(simpy.Environment())
    return other.route([other.add_link(name, 1.0) for name in ("x", "y")])


@pytest.mark.parametrize(
    "call",
    [
        lambda net, link: net.transfer([link + 1], 1.0),
        lambda net, link: net.transfer([link], -1.0),
        lambda net, link: net.transfer([link], inf),
        lambda net, link: net.transfer([link], 1.0, latency_s=-0.1),
        lambda net, link: net.route([link + 1]),
        lambda net, link: net.route([link], latency_s=math.nan),
        lambda net, link: net.transfer(net.route([link]), -1.0),
        lambda net, link: net.transfer(net.route([link]), 1.0, latency_s=0.5),
        lambda net, link: net.transfer(Route((link + 1,), 0.0), 1.0),  # a Route by hand is checked
        lambda net, link: net.transfer(Route((link,), math.nan), 1.0),
        lambda net, link: net.transfer(_other_network_route(), 1.0),  # so is another network's
        lambda net, link: net.add_link("l", 1.0),
        lambda net, link: net.add_link("m", -1.0),
        lambda net, link: net.add_link("m", 1.0, inf),
        lambda net, link: net.set_capacity(link, math.nan),
        lambda net, link: net.set_capacity(-1, 1.0),
    ],
)
def test_rejects_bad_arguments(call):
    net = Network(simpy.Environment())
    link = net.add_link("l", 1.0)
    with pytest.raises(ValueError):
        call(net, link)


def test_a_route_carries_its_latency():
    env = simpy.Environment()
    net = Network(env)
    links = [net.add_link("a", 10.0, 0.25), net.add_link("b", 20.0, 0.5)]
    assert net.route(links) == Route((0, 1), 0.75)
    flows = [net.transfer(net.route(links, 0.125), 10.0), net.transfer(links, 10.0, latency_s=0.125)]
    env.run()
    assert [(flow.route, flow.latency_s, flow.end_s) for flow in flows] == [((0, 1), 0.125, 2.125)] * 2


def test_flows_finishing_together_complete_in_the_order_of_their_ids():
    """Flow 1 starts moving first (its latency is shorter); both end at t = 1.5 (sizes and times
    powers of two: exact), at one timer; they complete, and their processes wake, by id."""
    env = simpy.Environment()
    net = Network(env)
    link = net.add_link("l", 1.0)
    flows = [net.transfer([link], 0.5, latency_s=0.5), net.transfer([link], 0.75, latency_s=0.25)]
    env.run()
    assert [flow.id for flow in net.completed] == [0, 1] and {flow.end_s for flow in flows} == {1.5}


def test_rejects_bad_configuration():
    with pytest.raises(ValueError):
        Network(simpy.Environment(), sharing="fair")
    with pytest.raises(ValueError):
        Network(simpy.Environment(), window_bytes=0.0)


def test_link_lookup():
    net = Network(simpy.Environment())
    assert [net.add_link(n, 1.0) for n in ("x", "y")] == [0, 1]
    assert net.link_id("y") == 1
    assert net.link_name(0) == "x"
    assert net.n_links == 2


def test_same_instant_starts_cost_one_recomputation():
    env = simpy.Environment()
    net = Network(env)
    link = net.add_link("l", 100.0, 0.5)
    direct = [net.transfer([link], 10.0) for _ in range(30)]
    # Starts made by separate processes at one instant merge too.
    via_processes = [start_at(env, 0.0, lambda: net.transfer([link], 10.0)) for _ in range(20)]
    env.run()
    assert net.recomputations == 1  # all finish together; nothing is left to reallocate
    flows = direct + [out[0] for out in via_processes]
    assert {f.end_s for f in flows} == {0.5 + 500.0 / 100.0}
    assert [f.id for f in net.completed] == sorted(f.id for f in flows)


def test_completion_and_restart_at_one_instant_merge():
    env = simpy.Environment()
    net = Network(env)
    link = net.add_link("l", 100.0)
    other = net.transfer([link], 1000.0)
    ends = []

    def chain():
        for _ in range(3):
            flow = net.transfer([link], 100.0)
            yield flow.done
            ends.append(env.now)

    env.process(chain())
    env.run()
    # One allocation at 0, then at 2, 4 and 6 a completion and (except at 6) a restart share one.
    assert ends == [2.0, 4.0, 6.0]
    assert other.end_s == 6.0 + 700.0 / 100.0
    assert net.recomputations == 4


def test_awkward_sizes_finish_without_timer_trains():
    """Many flows with non-representable sizes, rates and start times: each flow costs at
    most one recomputation to start and one to finish, so no flow re-arms on a residue."""
    env = simpy.Environment()
    net = Network(env, window_bytes=3e5)
    rng = np.random.default_rng(7)
    links = [net.add_link(f"l{i}", float(c), float(lat)) for i, (c, lat) in
             enumerate(zip(rng.uniform(1e5, 1e7, 4), rng.uniform(1e-4, 0.05, 4)))]
    n = 300
    for _ in range(n):
        route = rng.choice(links, size=int(rng.integers(1, 4)), replace=False).tolist()
        size = float(rng.uniform(1, 1e6)) / 3
        start_at(env, float(rng.uniform(0, 10)) / 7, lambda r=route, s=size: net.transfer(r, s))
    env.run()
    assert len(net.completed) == n
    assert net.recomputations <= 2 * n


class Forgetful(Network):
    """A network that remembers no allocation: each is computed afresh."""

    def _allocation(self):
        self._memo.clear()
        self._lone_memo.clear()
        return super()._allocation()


def run_random_scenario(spec, check_allocation=False, network=Network):
    """Run one scenario from ``flow_scenarios``; return end times, meter rows and totals."""
    sharing, window, links, flows, changes = spec
    env = simpy.Environment()
    meter = LinkMeter(0.5)
    net = network(env, sharing=sharing, window_bytes=window, meter=meter)
    for i, (cap, lat) in enumerate(links):
        net.add_link(f"l{i}", cap, lat)
    started = [start_at(env, t, lambda r=route, s=size: net.transfer(r, s))
               for t, route, size in flows]
    for t, link, cap in changes:
        start_at(env, t, lambda link=link, cap=cap: net.set_capacity(link, cap))
    if check_allocation:
        real_allocate, real_allocate_routes = flows_module.allocate, flows_module.allocate_routes

        def within_capacity(capacity, indptr, indices, rates):
            load = np.bincount(indices, weights=np.repeat(rates, np.diff(indptr)), minlength=capacity.size)
            assert np.all(load <= capacity * (1 + 1e-12))
            return rates

        def checked(capacity, indptr, indices, weights, bounds):  # where a weight overflowed
            return within_capacity(capacity, indptr, indices, real_allocate(capacity, indptr, indices, weights, bounds))

        def checked_routes(capacity, routes, weights, bounds):  # every other allocation
            indptr = np.concatenate([[0], np.cumsum([len(route) for route in routes])]).astype(np.intp)
            indices = np.array([link for route in routes for link in route], dtype=np.intp)
            return within_capacity(capacity, indptr, indices, real_allocate_routes(capacity, routes, weights, bounds))

        with mock.patch.object(flows_module, "allocate", checked), \
                mock.patch.object(flows_module, "allocate_routes", checked_routes):
            env.run()
    else:
        env.run()
    return [s[0].end_s for s in started], meter.rows(), net


@st.composite
def flow_scenarios(draw, with_changes):
    sharing = draw(st.sampled_from(["maxmin", "rtt_weighted"]))
    window = draw(st.one_of(st.none(), st.floats(10, 1e4)))
    n_links = draw(st.integers(1, 4))
    links = draw(st.lists(
        st.tuples(st.one_of(st.just(inf), st.floats(10, 1e4)), st.floats(1e-3, 0.1)),
        min_size=n_links, max_size=n_links))
    flows = draw(st.lists(
        st.tuples(
            st.floats(0, 5),
            st.lists(st.integers(0, n_links - 1), min_size=1, max_size=3, unique=True),
            st.one_of(st.just(0.0), st.floats(1, 1e5)),
        ),
        min_size=1, max_size=8))
    changes = []
    if with_changes:
        # Capacity changes, always ending on a positive capacity so every flow can finish.
        changes = draw(st.lists(
            st.tuples(st.floats(0, 10), st.integers(0, n_links - 1),
                      st.one_of(st.just(0.0), st.just(inf), st.floats(10, 1e4))),
            max_size=4))
        changes += [(20.0, link, 100.0) for link in range(n_links)]
    return sharing, window, links, flows, changes


def check_conservation(rows, net, spec):
    _, _, _, flows, _ = spec
    carried = np.zeros(net.n_links)
    for _, link, nbytes in rows:
        carried[link] += nbytes
    expected = np.zeros(net.n_links)
    for _, route, size in flows:
        expected[route] += size
    np.testing.assert_allclose(carried, expected, rtol=1e-9)


@settings(max_examples=150, deadline=None)
@given(flow_scenarios(with_changes=False))
def test_random_flows_conserve_bytes_respect_capacity_and_repeat(spec):
    ends, rows, net = run_random_scenario(spec, check_allocation=True)
    assert all(end is not None for end in ends)
    assert len(net.completed) == len(ends)
    check_conservation(rows, net, spec)
    again, rows_again, _ = run_random_scenario(spec)
    assert again == ends and rows_again == rows


@settings(max_examples=100, deadline=None)
@given(flow_scenarios(with_changes=True))
def test_random_flows_with_capacity_changes(spec):
    """... and the allocations it remembers are the ones it would compute (both memos forgotten
    whenever a capacity changes), as are those of a few flows that share no link, taken one by
    one (`_DISJOINT_MAX`): the same runs, bit for bit, as with every set computed whole."""
    ends, rows, net = run_random_scenario(spec)
    assert all(end is not None for end in ends)
    check_conservation(rows, net, spec)
    again, rows_again, _ = run_random_scenario(spec)
    assert again == ends and rows_again == rows
    with mock.patch.object(flows_module, "_DISJOINT_MAX", 1):
        fresh, rows_fresh, _ = run_random_scenario(spec, network=Forgetful)
    assert fresh == ends and rows_fresh == rows


def test_flows_that_share_no_link_move_as_if_alone():
    """Three flows on links of their own (RTT weights, a window, a capacity change midway) take
    their lone allocations, and the run is bit for bit the one with every set computed whole."""
    spec = ("rtt_weighted", 2e3, [(1e3, 0.01), (3e3, 0.02), (inf, 0.005), (7e2, 0.03)],
            [(0.0, [0], 5e3), (0.1, [1, 3], 7e3), (0.2, [2], 4e3), (1.0, [0], 2e3)], [(2.0, 1, 5e2)])
    moving, alone = [], Network._lone

    def lone(net, route, latency):
        moving.append(len(net._moving))
        return alone(net, route, latency)

    with mock.patch.object(Network, "_lone", lone):
        ends, rows, _ = run_random_scenario(spec)
    assert moving.count(3) == 3  # the three at once, each alone
    with mock.patch.object(flows_module, "_DISJOINT_MAX", 1):
        whole, rows_whole, _ = run_random_scenario(spec, network=Forgetful)
    assert whole == ends and rows_whole == rows
