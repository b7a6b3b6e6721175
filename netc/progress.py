"""Progress of long work (`netc check`, `weights match`, int8 calibration, the benchmarks) for the person at
the terminal: one status line on stderr, rewritten in place, saying what is being built or run, N of M where
there is a count, and the time since the command started; erased when the work ends.

Only where stderr is a terminal and ``--quiet`` is not given (:func:`shown`); piped, quiet, or called from
Python, :func:`step` does nothing. stdout is never written, so `--json` output stays clean.
"""
from __future__ import annotations

import contextlib
import contextvars
import sys
import threading
import time
from typing import IO, Iterable, Iterator, TypeVar

T = TypeVar("T")
CLEAR = "\r\x1b[K"   # back to the line's start, erase it


class Reporter:
    """The status line of one command on a terminal stream; a daemon thread keeps its elapsed time current
    while one step runs long (building a Keras model, a session of SpineNet-190)."""

    TICK_S = 1.0

    def __init__(self, stream: IO[str], width: int = 100):
        self.stream, self.width = stream, width
        self.started = time.monotonic()
        self.lock = threading.Lock()
        self.current: str | None = None   # the step shown, without its time
        self.stopped = threading.Event()
        self.ticker = threading.Thread(target=self._tick, name="netc-progress", daemon=True)
        self.ticker.start()

    def _draw(self) -> None:
        line = f"netc: {self.current}, {time.monotonic() - self.started:.0f} s"
        if len(line) > self.width:
            line = line[: self.width - 3] + "..."
        self.stream.write(CLEAR + line)
        self.stream.flush()

    def _tick(self) -> None:
        while not self.stopped.wait(self.TICK_S):
            with self.lock:
                if self.current is not None:
                    self._draw()

    def step(self, what: str, i: int | None = None, n: int | None = None) -> None:
        with self.lock:
            self.current = what + (f" ({i} of {n})" if i is not None and n is not None else "")
            self._draw()

    def clear(self) -> None:
        with self.lock:
            if self.current is not None:
                self.stream.write(CLEAR)
                self.stream.flush()
                self.current = None

    def close(self) -> None:
        self.stopped.set()
        self.ticker.join()
        self.clear()


_CURRENT: contextvars.ContextVar[Reporter | None] = contextvars.ContextVar("netc_progress", default=None)


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):   # a closed or unusual stream
        return False


@contextlib.contextmanager
def shown(quiet: bool = False, stream: IO[str] | None = None) -> Iterator[Reporter | None]:
    """Report the steps of the work inside on ``stream`` (stderr) if it is a terminal and not ``quiet``."""
    stream = sys.stderr if stream is None else stream
    if quiet or not _is_terminal(stream):
        yield None
        return
    reporter = Reporter(stream)
    token = _CURRENT.set(reporter)
    try:
        yield reporter
    finally:
        _CURRENT.reset(token)
        reporter.close()


def step(what: str, i: int | None = None, n: int | None = None) -> None:
    """Say what the work is doing now (``i`` of ``n``); nothing unless :func:`shown` is active."""
    reporter = _CURRENT.get()
    if reporter is not None:
        reporter.step(what, i, n)


def clear() -> None:
    """Erase the status line before other output to stderr (a warning), so the two do not share a line."""
    reporter = _CURRENT.get()
    if reporter is not None:
        reporter.clear()


def steps(items: Iterable[T], what: str) -> Iterator[T]:
    """``items``, reporting "``what`` (i of n)" before each."""
    items = list(items)
    for i, item in enumerate(items, 1):
        step(what, i, len(items))
        yield item
