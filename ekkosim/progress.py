"""Progress for logs and pipes: where no terminal shows a progress bar, one line on stderr every
`INTERVAL_S` seconds of wall time saying how far the work is and how long it may still take.
A run shorter than that prints none."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

INTERVAL_S = 10.0


def duration_text(seconds: float) -> str:
    """A wall-clock span as a person reads it: 42 s, 3 min 05 s, 1 h 02 min."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def eta_text(elapsed_s: float, done: float, total: float | None) -> str:
    """How long the rest may take at the pace so far, or what is unknown."""
    if total is None:
        return "end unknown"
    if done <= 0:
        return "ETA unknown"
    return f"ETA {duration_text(elapsed_s * max(total - done, 0) / done)}"


class ProgressLines:
    """Calls `describe(elapsed_s)` and prints its line whenever `tick()` finds that `interval_s`
    has passed since the last line (or the start)."""

    def __init__(self, describe: Callable[[float], str], stream: TextIO | None = None,
                 interval_s: float = INTERVAL_S, clock: Callable[[], float] = time.monotonic):
        self.describe, self.stream, self.interval_s, self.clock = describe, stream, interval_s, clock
        self.started = self.last = clock()

    def tick(self) -> None:
        now = self.clock()
        if now - self.last >= self.interval_s:
            self.last = now
            print(self.describe(now - self.started), file=self.stream or sys.stderr, flush=True)


@contextmanager
def ticking(lines: ProgressLines, every_s: float = 1.0) -> Iterator[None]:
    """Tick `lines` from a background thread while the body runs: for work that reports rarely
    (a pool's runs end minutes apart)."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every_s):
            lines.tick()

    thread = threading.Thread(target=loop, name="progress lines", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
