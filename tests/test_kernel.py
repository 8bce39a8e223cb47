"""The kernel's shortcuts: an event processed at once only where it would have been the next one."""

import ctypes
import os
import signal

import pytest
import simpy

from ekkosim.kernel import Environment, due_now, interrupts_deferred, succeed_at_once


def _order(at_once: bool) -> tuple[list[str], int]:
    """A waiter woken by an event that a timer's callback succeeds, beside other processes due
    at the same instant or not: who ran when, and the events processed."""
    env = Environment()
    log = []

    def waiter(name, event):
        yield event
        log.append(f"{name} woke at {env.now:g}")

    def other(name, delay):
        yield env.timeout(delay)
        log.append(f"{name} ran at {env.now:g}")

    for t, name in ((1.0, "alone"), (2.0, "crowded")):
        event = env.event()
        env.process(waiter(name, event))
        succeed = succeed_at_once if at_once else lambda env_, e, v: e.succeed(v)
        env.timeout(t).callbacks.append(lambda _timeout, e=event: succeed(env, e, None))
    env.process(other("other", 2.0))  # due at 2 as well: the waiter there must wait for it
    env.run()
    return log, env.events_processed


def test_an_event_succeeded_at_once_keeps_the_order_and_saves_an_event_where_nothing_else_is_due():
    at_once, at_once_events = _order(at_once=True)
    scheduled, scheduled_events = _order(at_once=False)
    assert at_once == scheduled == ["alone woke at 1", "other ran at 2", "crowded woke at 2"]
    assert at_once_events == scheduled_events - 1  # the lone instant's event, not the crowded one's


def test_due_now_sees_events_at_this_instant_up_to_a_priority():
    env = simpy.Environment()
    seen = []

    def probe():
        yield env.timeout(1)
        seen.append(due_now(env, simpy.events.NORMAL))
        env.timeout(0)  # due now, normal priority
        seen.append(due_now(env, simpy.events.NORMAL))
        env.timeout(1)
        seen.append(due_now(env, simpy.events.URGENT))

    env.process(probe())
    env.run()
    assert seen == [False, True, False]


@pytest.fixture
def pythons_sigint():
    """SIGINT handled by Python's own handler during the test, as in a terminal. No test leaves
    another: pytest started as a background job by a shell without job control (a script, CI)
    starts with SIGINT ignored, and Python and pytest's workers keep it ignored, so the kernel
    rightly leaves it alone."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_stops_a_run_between_two_events_not_inside_one(pythons_sigint):
    """SIGINT in the middle of an event: the event runs to its end, the next one does not run,
    and KeyboardInterrupt comes out of the run loop; SIGINT is Python's own again after."""
    env = Environment()
    log = []

    def interrupted():
        yield env.timeout(1)
        os.kill(os.getpid(), signal.SIGINT)
        log.append("the rest of the event ran")
        yield env.timeout(1)
        log.append("the next event ran")

    env.process(interrupted())
    with pytest.raises(KeyboardInterrupt):
        env.run_until_done(env.event(), until_s=None)
    assert log == ["the rest of the event ran"] and env.now == 1
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_second_ctrl_c_stops_an_event_that_does_not_end(pythons_sigint):
    env = Environment()
    log = []

    def stuck():
        yield env.timeout(1)
        os.kill(os.getpid(), signal.SIGINT)  # noted
        os.kill(os.getpid(), signal.SIGINT)  # raised here
        log.append("the rest of the event ran")

    env.process(stuck())
    with pytest.raises(KeyboardInterrupt):
        env.run_until_done(env.event(), until_s=None)
    assert log == [] and signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_as_the_run_ends_still_stops_it(pythons_sigint):
    """SIGINT noted in the progress call after the run's last event: the run is interrupted all
    the same, not finished as if nothing had happened."""
    env = Environment()

    def short():
        yield env.timeout(1)

    done = env.process(short())
    with pytest.raises(KeyboardInterrupt):
        env.run_until_done(done, until_s=None, progress_every=1,
                           on_progress=lambda now: now == 1 and done.processed and os.kill(os.getpid(), signal.SIGINT))
    assert done.processed


def test_ctrl_c_in_a_ctypes_callback_waits_for_the_block(pythons_sigint, capfd):
    """Python would print and drop a KeyboardInterrupt raised in a ctypes callback (as LLVM's,
    while Numba compiles a loop), and the code around would go on as if nothing had happened:
    deferred, the callback and the block run to their end, which raises it, without a word."""
    log = []

    def callback():
        os.kill(os.getpid(), signal.SIGINT)
        log.append("the rest of the callback ran")

    with pytest.raises(KeyboardInterrupt):
        with interrupts_deferred():
            ctypes.CFUNCTYPE(None)(callback)()
            log.append("the rest of the block ran")
    assert log == ["the rest of the callback ran", "the rest of the block ran"] and capfd.readouterr().err == ""
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_an_error_after_ctrl_c_is_an_interrupt(pythons_sigint):
    """Numba, its compilation broken off by a second Ctrl-C in a callback, fails with an error
    of its own: the block ends in KeyboardInterrupt caused by it."""
    with pytest.raises(KeyboardInterrupt) as interrupted:
        with interrupts_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            raise RuntimeError("no compiled object yet")
    assert isinstance(interrupted.value.__cause__, RuntimeError)


def test_an_error_without_ctrl_c_stays_itself(pythons_sigint):
    with pytest.raises(RuntimeError):
        with interrupts_deferred():
            raise RuntimeError("a bug")


def test_ctrl_c_before_a_nested_run_loop_stops_it_before_its_first_event(pythons_sigint):
    """A run loop inside another deferring block (a run's build and results around it) shares
    its note: Ctrl-C pressed before the loop began stops it before its first event, not at
    the run's end."""
    env = Environment()
    log = []

    def ticking():
        while True:
            yield env.timeout(1)
            log.append(env.now)

    env.process(ticking())
    with pytest.raises(KeyboardInterrupt):
        with interrupts_deferred():
            os.kill(os.getpid(), signal.SIGINT)  # noted
            log.append("the rest of the block ran")
            env.run_until_done(env.event(), until_s=None)
    assert log == ["the rest of the block ran"] and env.events_processed == 0
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_an_ignored_sigint_stays_ignored():
    """A run in a background job (SIGINT ignored) is not stopped by SIGINT, and leaves SIGINT
    ignored."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    env = Environment()

    def signalled():
        yield env.timeout(1)
        os.kill(os.getpid(), signal.SIGINT)
        yield env.timeout(1)

    done = env.process(signalled())
    try:
        env.run_until_done(done, until_s=None)
    except KeyboardInterrupt:  # failed here, not as pytest's own Ctrl-C
        pytest.fail("an ignored SIGINT stopped the run")
    finally:
        still_ignored = signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        signal.signal(signal.SIGINT, previous)
    assert done.processed and still_ignored
