"""Per-link, per-window byte accounting, alone and fed by the network."""

import math

import numpy as np
import pytest
import simpy

from ekkosim.net.flows import Network
from ekkosim.net.meter import LinkMeter


def test_interval_split_at_window_boundary():
    meter = LinkMeter(1.0)
    meter.record(0.5, 1.5, np.array([0, 2]), np.array([10.0, 4.0]))
    assert meter.rows() == [(0.0, 0, 5.0), (0.0, 2, 2.0), (1.0, 0, 5.0), (1.0, 2, 2.0)]


def test_interval_ending_on_a_boundary_leaves_no_empty_window():
    meter = LinkMeter(0.25)
    meter.record(0.0, 0.75, np.array([0]), np.array([8.0]))
    assert meter.rows() == [(0.0, 0, 2.0), (0.25, 0, 2.0), (0.5, 0, 2.0)]


def test_intervals_accumulate_and_links_may_grow():
    meter = LinkMeter(1.0)
    meter.record(0.0, 0.5, np.array([0]), np.array([2.0]))
    meter.record(0.5, 1.0, np.array([0, 1]), np.array([2.0, 6.0]))
    meter.record_impulse(0.75, np.array([2, 2]), 1.5)
    assert meter.rows() == [(0.0, 0, 2.0), (0.0, 1, 3.0), (0.0, 2, 3.0)]


def test_window_boundaries_with_inexact_width():
    meter = LinkMeter(0.1)
    meter.record(0.0, 0.3, np.array([0]), np.array([1.0]))
    rows = meter.rows()
    assert [start for start, _, _ in rows] == [0.0, 0.1, 0.2]
    assert sum(b for _, _, b in rows) == pytest.approx(0.3, rel=1e-15)


def test_rejects_bad_window():
    for bad in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError):
            LinkMeter(bad)


def test_rejects_an_interval_without_finite_ends():
    meter = LinkMeter(1.0)
    for t0, t1 in ((0.0, math.inf), (-math.inf, 1.0), (0.0, math.nan)):
        with pytest.raises(ValueError, match="finite"):
            meter.record(t0, t1, [0], [1.0])
    assert meter.rows() == []


def test_network_flow_crossing_windows_is_split_exactly():
    env = simpy.Environment()
    meter = LinkMeter(1.0)
    net = Network(env, meter=meter)
    a = net.add_link("a", 100.0, 0.5)
    b = net.add_link("b", 400.0)
    net.transfer([a, b], 250.0)
    env.run()
    # Moves at 100 B/s over [0.5, 3.0).
    assert meter.rows() == [
        (0.0, a, 50.0), (0.0, b, 50.0),
        (1.0, a, 100.0), (1.0, b, 100.0),
        (2.0, a, 100.0), (2.0, b, 100.0),
    ]


def test_network_bytes_per_link_sum_to_flow_sizes():
    env = simpy.Environment()
    meter = LinkMeter(0.3)
    net = Network(env, meter=meter)
    a = net.add_link("a", 1000.0, 0.01)
    b = net.add_link("b", 300.0, 0.02)
    unlimited = net.add_link("u", math.inf, 0.05)
    sizes = {(a,): 1234.5, (a, b): 777.0, (b,): 99.0, (unlimited,): 5e9, (unlimited, b): 42.0}
    for route, size in sizes.items():
        net.transfer(route, size)
    env.run()
    carried = np.zeros(3)
    for _, link, nbytes in meter.rows():
        carried[link] += nbytes
    expected = np.zeros(3)
    for route, size in sizes.items():
        expected[list(route)] += size
    np.testing.assert_allclose(carried, expected, rtol=1e-12)


def test_bytes_moved_in_no_time_land_in_the_window_of_that_instant():
    env = simpy.Environment()
    meter = LinkMeter(0.5)
    net = Network(env, meter=meter)
    unlimited = net.add_link("u", math.inf, 0.75)
    flow = net.transfer([unlimited], 5e9)
    env.run()
    assert flow.end_s == 0.75
    assert meter.rows() == [(0.5, unlimited, 5e9)]


def test_sync_accounts_bytes_mid_flow_and_none_that_did_not_move():
    env = simpy.Environment()
    meter = LinkMeter(10.0)
    net = Network(env, meter=meter)
    link, stalled = net.add_link("l", 100.0), net.add_link("s", 0.0)
    net.transfer([link], 1000.0)
    net.transfer([stalled], 8.0)  # over a link of capacity 0: it moves nothing, so carries nothing
    env.run(until=2.5)
    net.sync()
    assert meter.rows() == [(0.0, link, 250.0)]
    env.run(until=40.0)  # the first flow ended at 10 s, and nothing moved since
    net.sync()
    assert meter.rows() == [(0.0, link, 1000.0)]
    net.set_capacity(stalled, 4.0)
    env.run()
    assert meter.rows() == [(0.0, link, 1000.0), (40.0, stalled, 8.0)]
