"""A server's CPU cores: held one at a time by whoever works on the server, granted first come,
first served.

The same grants, in the same order, as a `simpy.Resource` of that many slots, for fewer events.
SimPy grants a free core by an event due at once, and its holder goes on when that event is
processed; when nothing else is due at that instant, the grant would be the next event
processed, so the holder goes on at once instead. SimPy releases a core by an event due at once,
which wakes the first waiter if a core is free; when no one waits and nothing else is due at that
instant, that event would be the next one and would find no one to wake, so there is none. (An
idle pull takes two cores: four of its 17 SimPy events were these grants and releases.)

Use, in a SimPy process that alone waits on the event that resumed it:

    with server_cores.request() as core:
        yield from core  # waits only if it must
        ...
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from types import TracebackType

import simpy

from ekkosim.kernel import due_now


class Cores:
    """`count` cores of one server."""

    def __init__(self, env: simpy.Environment, count: int):
        self.env, self.count = env, count
        self.busy = 0
        self.waiting: deque[Core] = deque()

    def request(self) -> Core:
        """Ask for a core now (`yield from` the request to wait for it)."""
        core = Core(self)
        if not self.waiting and self.busy < self.count:
            self.busy += 1
            core.granted = True
            if due_now(self.env, simpy.events.NORMAL):  # others are due first: wait for them, as in SimPy
                core.event = self.env.event().succeed()
        else:
            core.event = self.env.event()
            self.waiting.append(core)
            self._grant_first()
        return core

    def _grant_first(self) -> None:
        """Grant the first waiter a core, if one is free (SimPy looks at the first only)."""
        if self.waiting and self.busy < self.count:
            core = self.waiting.popleft()
            self.busy += 1
            core.granted = True
            core.event.succeed()

    def _leave(self, core: Core) -> None:
        """Release `core`, or stop waiting for it; wake the first waiter as SimPy's release
        event would."""
        if core.granted:
            self.busy -= 1
        else:
            self.waiting.remove(core)
        if self.waiting or due_now(self.env, simpy.events.NORMAL):
            wake = self.env.event()
            wake.callbacks.append(lambda _event: self._grant_first())
            wake.succeed()


class Core:
    """A request for one of a server's cores, held until the `with` block it opens ends."""

    def __init__(self, cores: Cores):
        self.cores = cores
        self.granted = False
        self.event: simpy.Event | None = None  # what to wait for, if anything

    def __iter__(self) -> Iterator[simpy.Event]:
        if self.event is not None:
            yield self.event

    def __enter__(self) -> Core:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if exc_type is not GeneratorExit:  # as SimPy: a generator closed unfinished releases nothing
            self.cores._leave(self)
