"""The parking lot: idle keep-alive connections wait in one selector, not one thread each.

A thread per connection is simple while the connection is busy, but a household's
devices keep hundreds of keep-alive connections open and idle, and each idle thread
costs its touched stack pages and interpreter state (about 27 KiB). So a connection
that has had no request for `LINGER` seconds is parked here: its socket is registered
in one epoll owned by the lot's thread, and its own thread ends. When the socket turns
readable the lot hands the connection to a fresh thread, which resumes its request
loop (Apache's event MPM does the same with a pool of workers; a thread starts in
about 50 us, nothing next to a connection that sat idle for a quarter of a second).

The lot also keeps the idle deadline of what it holds (a sweep once a second), closes
a connection whose client hung up without a thread, and on stop closes everything it
holds at once.

Strategy for cost: a busy connection never comes here (its next request arrives
within the linger, on the same thread, with no extra system call); parking is one
epoll_ctl, resuming one epoll_ctl, a peek and a thread start.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from guardian.proxy.handler import ClientConnection

log = logging.getLogger(__name__)

LINGER = 0.3  # seconds a connection's thread waits for its next request before the connection parks
SWEEP_INTERVAL = 1.0  # seconds between idle-deadline sweeps


class ParkingLot:
    """Holds idle connections until their next request, their client's close or their deadline.

    `resume(conn)` must start serving `conn` on a new thread (raising RuntimeError when it
    cannot); `forget(conn)` is called for every connection the lot closes itself."""

    def __init__(self, resume: Callable[[ClientConnection], None],
                 forget: Callable[[ClientConnection], None]) -> None:
        self._resume = resume
        self._forget = forget
        self._selector = selectors.DefaultSelector()
        self._lock = threading.Lock()  # registration, hand-off and close never interleave
        self._closed = False
        self._waker_r, self._waker_w = socket.socketpair()
        self._waker_r.setblocking(False)
        self._selector.register(self._waker_r, selectors.EVENT_READ, None)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="proxy-parking", daemon=True)
        self._thread.start()

    def __len__(self) -> int:
        return len(self._selector.get_map()) - 1  # the waker is not a connection

    def park(self, conn: ClientConnection) -> bool:
        """Take `conn` (idle, nothing buffered, `conn.idle_deadline` set). False when the lot is
        closed: the caller keeps the connection and closes it. After True the caller must not
        touch `conn` again: another thread may already be serving it."""
        with self._lock:
            if self._closed:
                return False
            self._selector.register(conn.sock, selectors.EVENT_READ, conn)
        return True

    def close(self) -> None:
        """Close every parked connection at once and refuse new ones (the proxy is stopping)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            held = [key for key in self._selector.get_map().values() if key.data is not None]
            for key in held:
                self._selector.unregister(key.fd)
        for key in held:
            self._close(key.data)
        if self._thread is None:  # never started: nothing to wake
            self._release()
            return
        with contextlib.suppress(OSError):
            self._waker_w.send(b"x")

    # ------------------------------------------------------------ the lot's thread

    def _run(self) -> None:
        next_sweep = time.monotonic() + SWEEP_INTERVAL
        try:
            while not self._closed:
                events = self._selector.select(max(0.0, next_sweep - time.monotonic()))
                for key, _ in events:
                    if key.data is not None:
                        self._wake(key)
                now = time.monotonic()
                if now >= next_sweep:
                    self._sweep(now)
                    next_sweep = now + SWEEP_INTERVAL
        except Exception:
            log.exception("the parking lot failed; closing the connections it held")
            self.close()
        finally:
            self._release()

    def _release(self) -> None:
        self._selector.close()
        self._waker_r.close()
        self._waker_w.close()

    def _take(self, key: selectors.SelectorKey) -> ClientConnection | None:
        """Unregister the connection of `key` if it is still parked (not closed meanwhile)."""
        with self._lock:
            if self._selector.get_map().get(key.fd) is not key:
                return None
            self._selector.unregister(key.fd)
        return key.data

    def _wake(self, key: selectors.SelectorKey) -> None:
        conn = self._take(key)
        if conn is None:
            return
        try:
            # A client that hung up (or reset) is closed here, without a thread.
            gone = conn.sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:  # a spurious wake-up: the resumed loop lingers, then parks again
            gone = False
        except OSError:
            gone = True
        if gone:
            self._close(conn)
            return
        try:
            self._resume(conn)
        except RuntimeError:  # cannot start a new thread
            self._close(conn)

    def _sweep(self, now: float) -> None:
        with self._lock:
            expired = [key for key in self._selector.get_map().values()
                       if key.data is not None and key.data.idle_deadline <= now]
            for key in expired:
                self._selector.unregister(key.fd)
        for key in expired:
            self._close(key.data)

    def _close(self, conn: ClientConnection) -> None:
        try:
            conn.close()
        finally:
            self._forget(conn)
