"""Failed links and aborted flows: which flows fail, when, and what the others do then."""

import math

import pytest
import simpy

from ekkosim.net.flows import FlowFailed, Network
from ekkosim.net.meter import LinkMeter


def watch(env, flow):
    """Wait for `flow`; the returned list gets ("done" | "failed", time, message)."""
    seen = []

    def proc():
        try:
            yield flow.done
            seen.append(("done", env.now, ""))
        except FlowFailed as failure:
            seen.append(("failed", env.now, str(failure)))

    env.process(proc())
    return seen


def at(env, t, fn):
    def proc():
        yield env.timeout(t)
        fn()

    env.process(proc())


def test_a_failing_link_fails_its_flows_at_once_and_frees_the_bottleneck_for_the_rest():
    # two flows share link c (100 B/s); one also crosses a, which fails at t = 2
    env = simpy.Environment()
    net = Network(env, meter=LinkMeter(1.0))
    a, c = net.add_link("a", 1000.0), net.add_link("c", 100.0)
    doomed, survivor = watch(env, net.transfer([a, c], 1000.0)), net.transfer([c], 300.0)
    rest = watch(env, survivor)
    at(env, 2.0, lambda: net.fail_link(a))
    env.run()
    assert doomed == [("failed", 2.0, "flow 0 () failed: link a is down")]
    # 50 B/s for 2 s (100 B), then the whole 100 B/s for the other 200 B
    assert rest == [("done", 4.0, "")]
    assert net.failed == 1 and net.completed == [survivor]
    assert net.is_up(c) and not net.is_up(a)


def test_a_flow_started_over_a_failed_link_fails_as_it_starts_and_one_after_the_repair_moves():
    env = simpy.Environment()
    net = Network(env)
    link = net.add_link("l", 100.0, latency_s=0.25)
    net.fail_link(link)
    early = watch(env, net.transfer([link], 100.0))
    at(env, 1.0, lambda: net.repair_link(link))
    late = []
    at(env, 2.0, lambda: late.append(watch(env, net.transfer([link], 100.0))))
    env.run()
    assert early == [("failed", 0.25, "flow 0 () failed: a link of its route is down")]
    assert late[0] == [("done", 2.0 + 0.25 + 1.0, "")]  # latency + size / bandwidth


def test_a_flow_in_its_latency_fails_when_its_link_fails():
    env = simpy.Environment()
    net = Network(env)
    link = net.add_link("l", 100.0, latency_s=1.0)
    flow = watch(env, net.transfer([link], 100.0))
    at(env, 0.5, lambda: net.fail_link(link))
    at(env, 0.75, lambda: net.repair_link(link))  # repaired before the flow would have moved
    env.run()
    assert flow == [("failed", 0.5, "flow 0 () failed: link l is down")]


def test_an_aborted_flow_fails_and_stops_taking_bandwidth():
    env = simpy.Environment()
    net = Network(env)
    link = net.add_link("l", 100.0)
    first, second = net.transfer([link], 1000.0, tag="slow"), net.transfer([link], 200.0)
    aborted, other = watch(env, first), watch(env, second)
    at(env, 1.0, lambda: net.abort(first))
    env.run()
    assert aborted == [("failed", 1.0, "flow 0 (slow) failed: aborted by its sender")]
    assert other == [("done", 2.5, "")]  # 50 B/s for 1 s, then 150 B at 100 B/s
    assert first.failed and first.end_s == 1.0


def test_a_failure_nobody_waits_for_is_no_error():
    env = simpy.Environment()
    net = Network(env)
    link = net.add_link("l", 100.0)
    flow = net.transfer([link], 1000.0)  # background traffic: nobody yields its `done`
    at(env, 1.0, lambda: net.fail_link(link))
    env.run()
    assert flow.failed and flow.end_s == 1.0  # and env.run() raised nothing


@pytest.mark.parametrize("latency", [0.0, 0.1])
def test_bytes_moved_before_a_failure_are_metered(latency):
    env = simpy.Environment()
    meter = LinkMeter(10.0)
    net = Network(env, meter=meter)
    link = net.add_link("l", 100.0, latency_s=latency)
    net.transfer([link], 1000.0)
    at(env, 3.0, lambda: net.fail_link(link))
    env.run()
    net.sync()
    moved = sum(nbytes for _, on, nbytes in meter.rows() if on == link)
    assert math.isclose(moved, 100.0 * (3.0 - latency))
