"""The parking lot: connections wait for their next request in one epoll, and a few threads serve them.

A thread per connection is simple, but it costs twice. Idle: a household's devices keep
hundreds of keep-alive connections open, and each waiting thread holds its stack pages and
interpreter state (about 27 KiB). Busy: fifty connections each blocking on its own socket
are fifty threads contending for one GIL, and every hand-off between them is a context
switch (eight per request were measured), which made the tail latency ten times squid's.

So a connection with no request in progress is parked here: its socket is armed in one
epoll (EPOLLONESHOT, so exactly one thread is woken for it), and a small pool of serving
threads waits on that epoll. The thread woken for a socket serves every request that has
arrived on it, arms it again and takes the next ready one; a busy proxy's threads find the
next socket ready at once, without sleeping, in the order the requests came. Nothing
stands between the epoll and the thread that serves (no dispatcher thread, no queue).

Every request holds its thread while the website answers, some for long: a tunnel, a
download, a website far away. While anything is being served, the lot's own thread looks
every TICK seconds: a thread that has served one connection for LONG seconds no longer
counts, and another is started so that THREADS are always ready for the rest. When the
long one finishes it goes back to waiting, or ends if enough others are. The same thread
closes connections whose idle deadline passed and, on stop, everything the lot holds. A
client that hangs up wakes its socket like a request does, and the serving thread finds
the end of the stream and closes it.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from guardian.proxy.handler import ClientConnection

log = logging.getLogger(__name__)

THREADS = 8  # serving threads kept ready (more fought over one GIL for nothing; fewer left the core idle)
# A website on the internet answers in tens of milliseconds, a tunnel lasts minutes: a thread
# waiting that long is replaced at once, so a page's requests queued behind the ready threads
# wait little (30 requests to a 100 ms website took 0.125 s, as with a thread each; with
# LONG = 20 ms, 0.175 s). A request on a busy proxy holds its thread about a millisecond.
LONG = 0.005  # seconds on one connection after which a serving thread is replaced
TICK = 0.0025  # seconds between the lot thread's checks while any thread is serving
SWEEP_INTERVAL = 1.0  # seconds between idle-deadline sweeps
_ARMED = select.EPOLLIN | select.EPOLLONESHOT


class _Server:
    """What the lot knows of one serving thread."""

    __slots__ = ("long", "since")

    def __init__(self) -> None:
        self.since = 0.0  # time.monotonic() when it took its current connection; 0 while waiting
        self.long = False  # replaced: it has served one connection for LONG seconds


class ParkingLot:
    """Holds connections between requests and serves each on a pool thread when its next one arrives.

    `serve(conn)` runs on a serving thread for a connection whose socket turned readable,
    and returns once `conn` is parked again (`park`) or closed. `forget(conn)` is called
    for every connection the lot closes itself."""

    def __init__(self, serve: Callable[[ClientConnection], None], forget: Callable[[ClientConnection], None],
                 threads: int = THREADS) -> None:
        self._serve = serve
        self._forget = forget
        self._threads = threads
        self._epoll = select.epoll()
        self._lock = threading.Lock()  # for the servers' bookkeeping and close()
        self._parked: dict[int, ClientConnection] = {}  # by file descriptor
        self._servers: list[_Server] = []
        self._closed = threading.Event()
        self._dozing = False  # the lot thread waits for the next sweep: nothing is being served
        self._wake = threading.Event()  # wakes it from that
        self._waker_r, self._waker_w = socket.socketpair()
        self._epoll.register(self._waker_r.fileno(), select.EPOLLIN)  # level-triggered: wakes every server

    def start(self) -> None:
        with self._lock:
            for _ in range(self._threads):
                self._add_server()
        threading.Thread(target=self._watch, name="proxy-lot", daemon=True).start()

    def __len__(self) -> int:
        return len(self._parked)

    @property
    def serving(self) -> int:
        """How many threads are serving a connection now."""
        with self._lock:
            return sum(1 for server in self._servers if server.since)

    @property
    def threads(self) -> int:
        with self._lock:
            return len(self._servers)

    def park(self, conn: ClientConnection) -> bool:
        """Take `conn` (no request in progress, nothing buffered, `conn.idle_deadline` set).
        False when the lot is closed: the caller keeps the connection and closes it. After
        True the caller must not touch `conn` again: another thread may already serve it."""
        # No lock: epoll_ctl lets the GIL go, and a lock held across it made the other serving
        # threads queue behind this one. A close() in between is caught by the second look.
        fd = conn.sock.fileno()
        if self._closed.is_set() or fd < 0:
            return False
        self._parked[fd] = conn
        # Registered once and re-armed after each wake; closing the socket unregisters it.
        if conn.in_epoll:
            self._epoll.modify(fd, _ARMED)
        else:
            # said before registering: the moment it is registered another thread may take it,
            # serve it and park it again
            conn.in_epoll = True
            self._epoll.register(fd, _ARMED)
        # False: close() ran meanwhile and did not see it, so the caller closes it
        return not (self._closed.is_set() and self._parked.pop(fd, None) is conn)

    def close(self) -> None:
        """Close every parked connection at once, refuse new ones and end the serving threads."""
        with self._lock:
            if self._closed.is_set():
                return
            self._closed.set()
        for conn in self._take_parked(lambda conn: True):
            self._end(conn, conn.close)
        self._wake.set()
        with contextlib.suppress(OSError):
            self._waker_w.send(b"x")

    # ------------------------------------------------------------ serving threads

    def _add_server(self) -> None:
        """Start one more serving thread (the lock held)."""
        server = _Server()
        try:
            threading.Thread(target=self._run, args=(server,), name="proxy-serve", daemon=True).start()
        except RuntimeError:  # cannot start a thread: the others go on
            log.warning("could not start another thread to serve connections")
            return
        self._servers.append(server)

    def _ready(self) -> int:
        """Servers not replaced for a long connection (the lock held)."""
        return sum(1 for server in self._servers if not server.long)

    def _run(self, server: _Server) -> None:
        poll = self._epoll.poll
        try:
            while not self._closed.is_set():
                events = poll(-1, 1)
                if not events:
                    continue
                # pop() is atomic: of this thread and the sweep, one takes the connection
                conn = self._parked.pop(events[0][0], None)
                if conn is None:  # the waker, or a connection the sweep closed meanwhile
                    continue
                server.since = time.monotonic()
                if self._dozing:
                    self._wake.set()
                try:
                    self._serve(conn)
                except Exception:
                    log.exception("serving a connection failed")
                server.since = 0.0
                if server.long and self._back(server):
                    return
        except Exception:
            log.exception("a serving thread failed")
        with self._lock:
            if server in self._servers:
                self._servers.remove(server)

    def _back(self, server: _Server) -> bool:
        """A replaced server has finished its long connection: True when it should end."""
        with self._lock:
            server.long = False
            if self._ready() > self._threads:  # enough are ready without it
                self._servers.remove(server)
                return True
            return False

    # ------------------------------------------------------------ the lot's thread

    def _watch(self) -> None:
        next_sweep = time.monotonic() + SWEEP_INTERVAL
        try:
            while not self._closed.is_set():
                # While nothing is being served, doze until the next sweep or a server's first
                # connection (so an idle Pi is not woken every TICK). Dozing is said before the
                # look, so a server that starts after the look sees it and wakes this thread.
                self._dozing = True
                if any(server.since for server in list(self._servers)):
                    self._dozing = False
                    time.sleep(TICK)
                else:
                    self._wake.wait(max(0.0, next_sweep - time.monotonic()))
                    self._wake.clear()
                    self._dozing = False
                now = time.monotonic()
                self._replace_long(now)
                if now >= next_sweep:
                    self._sweep(now)
                    next_sweep = now + SWEEP_INTERVAL
        except Exception:
            log.exception("the parking lot failed; closing the connections it held")
            self.close()
        finally:
            self._release()

    def _replace_long(self, now: float) -> None:
        with self._lock:
            for server in self._servers:
                if server.since and not server.long and now - server.since >= LONG:
                    server.long = True
            while self._ready() < self._threads and not self._closed.is_set():
                before = len(self._servers)
                self._add_server()
                if len(self._servers) == before:
                    break

    def _sweep(self, now: float) -> None:
        for conn in self._take_parked(lambda conn: conn.idle_deadline <= now):
            self._end(conn, conn.expire)

    def _take_parked(self, which: Callable[[ClientConnection], bool]) -> list[ClientConnection]:
        """Take the parked connections `which` picks. A serving thread (or park()'s second
        look) may take one meanwhile: pop() decides who has it."""
        picked = [conn for conn in list(self._parked.values()) if which(conn)]
        return [conn for conn in picked if self._parked.pop(conn.sock.fileno(), None) is conn]

    def _release(self) -> None:
        # The serving threads may still be between poll() and their check of _closed: give them
        # the waker until they are gone, then close the epoll.
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            with self._lock:
                gone = not self._servers
            if gone:  # not a break inside the with: compiled code cannot leave a with that way
                break
            time.sleep(0.01)
        self._epoll.close()
        self._waker_r.close()
        self._waker_w.close()

    def _end(self, conn: ClientConnection, how: Callable[[], None]) -> None:
        """Close a connection the lot took (`conn.close`, or `conn.expire` past its deadline)."""
        try:
            how()
        except Exception:
            log.exception("closing a parked connection failed")
        finally:
            self._forget(conn)

