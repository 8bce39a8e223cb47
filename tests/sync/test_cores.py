"""A server's cores: the same grants, in the same order, as a SimPy Resource, with fewer events."""

import numpy as np
import pytest
import simpy

from ekkosim.kernel import Environment
from ekkosim.sync.cores import Cores


def _simpy_hold(resource: simpy.Resource):
    """What a process does to hold a core of a SimPy Resource, in the Cores form."""
    class Hold:
        def __enter__(self):
            self.request = resource.request()
            return self

        def __iter__(self):
            yield self.request

        def __exit__(self, *exc):
            self.request.__exit__(*exc)

    return Hold()


def _run(seed: int, with_cores: bool) -> tuple[list, int]:
    """Workers on one 2-core server, with integer think and work times (ties everywhere, work
    of no time included), and a process that interrupts them now and then: the log of who got,
    left and lost a core when, and the events processed."""
    env = Environment()
    rng = np.random.default_rng(seed)
    if with_cores:
        cores = Cores(env, 2)
        hold = cores.request
    else:
        resource = simpy.Resource(env, capacity=2)
        hold = lambda: _simpy_hold(resource)  # noqa: E731
    log = []

    def worker(name: int, draws: np.ndarray):
        for think, work in draws:
            try:
                yield env.timeout(int(think))
                with hold() as core:
                    yield from core
                    log.append((env.now, name, "got"))
                    yield env.timeout(int(work))
                log.append((env.now, name, "left"))
            except simpy.Interrupt:
                log.append((env.now, name, "interrupted"))

    workers = [env.process(worker(i, rng.integers(0, 3, size=(12, 2)))) for i in range(5)]

    def interrupter(times: np.ndarray, who: np.ndarray):
        for t, w in zip(times, who):
            yield env.timeout(int(t))
            if workers[w].is_alive:
                workers[w].interrupt()

    env.process(interrupter(rng.integers(0, 4, size=8), rng.integers(0, 5, size=8)))
    while env.peek() < float("inf"):
        env.step()
    return log, env.events_processed


@pytest.mark.parametrize("seed", range(40))
def test_cores_grant_as_a_simpy_resource_does(seed):
    cores_log, cores_events = _run(seed, with_cores=True)
    simpy_log, simpy_events = _run(seed, with_cores=False)
    assert cores_log == simpy_log
    assert cores_events <= simpy_events


def test_a_free_core_when_nothing_else_is_due_costs_no_event():
    env = Environment()
    cores = Cores(env, 1)

    def holder():
        yield env.timeout(1)
        with cores.request() as core:
            yield from core
            yield env.timeout(2)

    env.process(holder())
    env.run()
    # the process's start, its two timeouts and its end: no grant, no release
    assert (env.now, env.events_processed) == (3, 4)


def test_a_waiter_gets_the_core_when_it_is_released():
    env = Environment()
    cores = Cores(env, 1)
    got = []

    def holder(name, start, work):
        yield env.timeout(start)
        with cores.request() as core:
            yield from core
            got.append((name, env.now))
            yield env.timeout(work)

    env.process(holder("first", 0.0, 5.0))
    env.process(holder("second", 1.0, 1.0))
    env.run()
    assert got == [("first", 0.0), ("second", 5.0)]
