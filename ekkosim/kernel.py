"""The simulation kernel: a SimPy environment that counts events, and seeded random streams.

Every component draws from its own `numpy.random.Generator`, derived from the scenario seed
and the component's name (not from the order components are created in), so adding a
component never shifts another's numbers, and no string hash ever decides anything.
"""

from __future__ import annotations

import hashlib
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import simpy


class Environment(simpy.Environment):
    """A SimPy environment that counts the events it processes (a cheap determinism guard)."""

    def __init__(self) -> None:
        super().__init__()
        self.events_processed = 0

    def step(self) -> None:
        super().step()
        self.events_processed += 1

    def run_until_done(
        self,
        done: simpy.Event,
        until_s: float | None,
        on_progress: Callable[[float], None] | None = None,
        progress_every: int = 2048,
    ) -> None:
        """Process events until `done` has been processed, nothing is left, or time `until_s`.
        Ctrl-C stops it between two events (`interrupts_deferred`)."""
        finished = []
        done.callbacks.append(finished.append)
        with interrupts_deferred() as interrupted:
            while not finished:
                if interrupted:  # noted during the event before, or before the loop began
                    raise KeyboardInterrupt
                next_time = self.peek()
                if next_time == float("inf"):
                    break
                if until_s is not None and next_time > until_s:
                    if until_s > self.now:
                        self.run(until=until_s)  # advances the clock to the stop time, no further
                    break
                self.step()
                if on_progress is not None and self.events_processed % progress_every == 0:
                    on_progress(self.now)


class _Deferral:
    """The SIGINT handler of `interrupts_deferred`: a first SIGINT is noted, a second raises."""

    def __init__(self) -> None:
        self.noted: list[int] = []

    def __call__(self, signum: int, frame) -> None:
        if self.noted:
            signal.default_int_handler(signum, frame)
        self.noted.append(signum)


@contextmanager
def interrupts_deferred() -> Iterator[list[int]]:
    """Within it, a first SIGINT is noted in the list it gives rather than raised wherever the
    main thread happens to be, and the block ends in KeyboardInterrupt (the run loop raises it
    after the event in hand). Raised while a compiled loop runs (Numba's), it would come out as
    a SystemError, an internal error rather than an interrupted run, or crash the process (as
    Numba's issue 2324 says, and as a run's build did here, now and then); raised in a ctypes
    callback (LLVM calls some while Numba compiles a loop), it would be printed and dropped,
    and Numba would go on or fail with an error of its own. A second SIGINT raises at once, as
    Python would: the way out of an event that does not end. An error that ends the block after
    a SIGINT becomes KeyboardInterrupt, caused by it. Within another such block, it shares that
    block's list: a SIGINT noted before it is its own.

    SIGINT stays as it is where Python does not raise KeyboardInterrupt for it (ignored, as in a
    background job, or handled by someone else) and outside the main thread, which gets no
    signals."""
    current = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() \
            or not (current is signal.default_int_handler or isinstance(current, _Deferral)):
        yield []
        return
    handler = current if isinstance(current, _Deferral) else _Deferral()
    signal.signal(signal.SIGINT, handler)
    try:
        yield handler.noted
    except Exception as err:
        if handler.noted:
            raise KeyboardInterrupt from err
        raise
    finally:
        signal.signal(signal.SIGINT, current)
    if handler.noted:
        raise KeyboardInterrupt


def caused_by_interrupt(err: BaseException) -> bool:
    """Whether a KeyboardInterrupt is among the causes of `err`: Ctrl-C inside compiled code
    (Numba's dispatcher, outside `interrupts_deferred`) comes out as a SystemError caused by it,
    an interrupt rather than a failure."""
    seen = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, KeyboardInterrupt):
            return True
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return False


def due_now(env: simpy.Environment, priority: int) -> bool:
    """Whether an event is due at this instant at `priority` or a more urgent one, so that an
    event scheduled now at `priority` would be processed after it. (SimPy 4 keeps its queue as a
    heap of (time, priority, insertion number, event).)"""
    queue = env._queue
    return bool(queue) and queue[0][0] == env.now and queue[0][1] <= priority


def succeed_at_once(env: simpy.Environment, event: simpy.Event, value: object) -> None:
    """Succeed `event` with `value`. When nothing is due at this instant at SimPy's normal
    priority or a more urgent one, the event would be the next one processed: it is processed
    at once (its callbacks called, as `Environment.step` would), one event fewer in the same
    order. For a caller that is itself an event's callback and has nothing left to do after."""
    if due_now(env, simpy.events.NORMAL):
        event.succeed(value)
        return
    event._ok, event._value = True, value
    callbacks, event.callbacks = event.callbacks, None
    for callback in callbacks:
        callback(event)


class Randomness:
    """Independent random streams, one per named component, all from one scenario seed."""

    def __init__(self, seed: int):
        self.seed = seed

    def stream(self, component: str) -> np.random.Generator:
        """The generator of `component` (e.g. "background[2]"); the same name, the same stream."""
        key = int.from_bytes(hashlib.sha256(component.encode("utf-8")).digest()[:8], "little")
        return np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(key,)))
