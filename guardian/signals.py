"""Signals as messages to the main thread, never acted on inside a handler.

A Python signal handler runs on the main thread between two bytecodes, and that thread may
hold a lock at that moment: inside `Event.wait()` it holds the Event's own lock for a while.
A handler that takes a lock (`Event.set()`, logging, starting a thread) then waits for
itself for ever. CI saw exactly that when `make run` was stopped: make passes its SIGTERM
on, the service got two, and the second handler waited for the lock the first one held.

So the handlers here do nothing at all. Python's own C-level handler writes each signal's
number to a pipe (`signal.set_wakeup_fd`); the main thread reads the numbers from it and
acts with nothing held.
"""

from __future__ import annotations

import os
import select
import signal
from collections.abc import Iterable
from types import FrameType


def _noted(signum: int, frame: FrameType | None) -> None:
    """The number is already in the pipe; nothing else may happen here (see above)."""


class SignalInbox:
    """The signals this process was sent, read by its main thread. One per process."""

    def __init__(self, signals: Iterable[int]) -> None:
        self._read, self._write = os.pipe()  # not inherited by exec'd helpers
        os.set_blocking(self._write, False)  # a full pipe must drop a byte, not stop the handler
        signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        for signum in signals:
            signal.signal(signum, _noted)

    def wait(self, timeout: float) -> list[int]:
        """The signals that arrived, in order; waits up to `timeout` seconds for the first."""
        ready, _, _ = select.select([self._read], [], [], timeout)
        return list(os.read(self._read, 256)) if ready else []

    def close(self) -> None:
        """For a forked child, which must have its own inbox (or none): the pipe is the parent's."""
        signal.set_wakeup_fd(-1)
        os.close(self._read)
        os.close(self._write)
