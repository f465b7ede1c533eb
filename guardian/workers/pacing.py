"""Even shares of the connections among workers that accept from one socket.

With one shared accept queue, the kernel hands a waiting connection to whichever worker
calls accept() first, and a worker that is already running drains a burst (a browser
opening twenty connections, a benchmark's fifty) before the others wake: one worker ends
up holding most keep-alive connections, and the others idle. So each worker writes how
many connections it holds into a shared page (one 64-bit slot per worker, in a memfd
the supervisor made and every worker inherits), and before accepting, a worker holding
more than `SLACK` above the least busy one waits a moment (at most `MAX_WAIT` in all, so
a stuck or dead worker's stale count cannot stop the others) and lets another take it.
"""

from __future__ import annotations

import mmap
import os
import socket
import time
from collections.abc import Callable
from typing import Any

SLACK = 2  # connections a worker may hold above the least busy one before it gives way
STEP = 0.002  # seconds between looks while giving way
MAX_WAIT = 0.05  # a worker never waits longer than this for the others to accept


class ConnectionShares:
    """Open connections per worker, in memory shared by the supervisor and the workers."""

    def __init__(self, fd: int, count: int) -> None:
        self.fd = fd
        self.count = count
        self._map = mmap.mmap(fd, 8 * count)
        self._slots = memoryview(self._map).cast("q")

    @classmethod
    def create(cls, count: int) -> ConnectionShares:
        fd = os.memfd_create("guardian-workers", 0)  # not inherited by exec unless passed on
        os.ftruncate(fd, 8 * count)
        return cls(fd, count)

    def set(self, index: int, held: int) -> None:
        self._slots[index] = held

    def ahead(self, index: int, held: int) -> bool:
        """Does worker `index`, holding `held`, hold more than SLACK above the least busy other?"""
        others = [self._slots[i] for i in range(self.count) if i != index]
        return bool(others) and held > min(others) + SLACK

    def snapshot(self) -> list[int]:
        return list(self._slots)


class PacedListener:
    """The listening socket as a worker's ProxyServer sees it: accept() gives way to a
    less busy worker first. Everything else is the socket's own."""

    def __init__(self, sock: socket.socket, shares: ConnectionShares, index: int) -> None:
        self._sock = sock
        self._shares = shares
        self._index = index
        self.held: Callable[[], int] = lambda: 0  # set once the server holding the connections exists

    def accept(self) -> tuple[socket.socket, Any]:
        waited = 0.0
        held = self.held()
        self._shares.set(self._index, held)
        while waited < MAX_WAIT and self._shares.ahead(self._index, held):
            time.sleep(STEP)
            waited += STEP
            held = self.held()
            self._shares.set(self._index, held)
        accepted = self._sock.accept()
        self._shares.set(self._index, self.held() + 1)
        return accepted

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)
