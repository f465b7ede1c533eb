"""Open tunnels and keep-alive client connections, re-decided when a decision may change.

A CONNECT tunnel is decided once, when it opens, and a browser keeps HTTP/2 connections
to a site for hours; a keep-alive connection may be streaming a long response. So a new
block, bedtime starting, the end of a pause or a daily limit running out would not
reach what is already open. The registry remembers each open connection with the
request that opened it (the last request, for keep-alive) and, every `interval`
seconds or at once when woken (a policy rebuild, a limit running out), asks the
decider again. A connection whose request is now blocked is closed: both sockets are
shut down, so the handler's relay or read ends within moments.

A keep-alive connection is never closed while a request on it waits for its answer
(`OpenConnection.busy`): closing it then would leave that request without any answer
(the client sees the connection end, not an error page). That request was decided
before the change and gets its answer; the watcher looks again every `RETRY` seconds,
and closes the connection once the answer is streaming (a long download stops) or done.

It also samples the bytes each open tunnel moved (relay.TunnelStats, read without a
lock) and reports them per minute to the connection's `Verdict.activity`, so a limited
service's time counts while a video plays in a tunnel opened earlier. The proxy core
does not know what counts: the decider's callback does.

Strategy for cost: registering is a dict insert per connection, updating a keep-alive
entry is two attribute stores per request, and the watcher thread re-decides each open
connection once per interval (a decision costs microseconds; a household has at most a
few hundred connections open).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable

from guardian.proxy.hooks import RequestInfo
from guardian.proxy.relay import TunnelStats

log = logging.getLogger(__name__)

Activity = Callable[[float, "int | None"], None]
CHECK_INTERVAL = 2.0  # seconds between re-decisions: "closed within a few seconds"
RETRY = 0.1  # seconds until a connection left open because its request waited for an answer is looked at again


class OpenConnection:
    __slots__ = ("activity", "busy", "closed", "last_moved", "minute", "minute_bytes", "request", "sockets",
                 "stats")

    def __init__(self, request: RequestInfo, sockets: tuple[socket.socket, ...], activity: Activity | None,
                 stats: TunnelStats | None, busy: bool = False) -> None:
        self.request = request
        self.sockets = sockets
        self.activity = activity
        self.stats = stats
        # A request on it waits for its answer: not closed now (see the module's docstring). The
        # handler sets it twice a request, so it is a plain attribute: a lock would order it
        # against the watcher's look, but the sockets are shut after that look either way, and a
        # request arriving in that instant meets the close as any keep-alive request can.
        self.busy = busy
        self.closed = False  # closed by the registry because the decision changed
        self.last_moved = 0
        self.minute = -1
        self.minute_bytes = 0

    def close_unless_busy(self, decided: RequestInfo) -> bool:
        """Close, unless a request waits for its answer or a newer one replaced `decided`
        (the request the watcher re-decided) meanwhile: False, to be looked at again."""
        if self.busy or self.request is not decided:
            return False
        self.closed = True
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        return True


class ConnectionRegistry:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._open: dict[int, OpenConnection] = {}
        self._lock = threading.Lock()
        self._sample_lock = threading.Lock()  # the watcher and a direct caller must not both count a delta
        self.interval = CHECK_INTERVAL
        self._wake = threading.Event()

    def add(self, request: RequestInfo, sockets: tuple[socket.socket, ...], activity: Activity | None = None,
            stats: TunnelStats | None = None, busy: bool = False) -> OpenConnection:
        entry = OpenConnection(request, sockets, activity, stats, busy)
        with self._lock:
            self._open[id(entry)] = entry
        return entry

    def remove(self, entry: OpenConnection) -> None:
        with self._lock:
            self._open.pop(id(entry), None)

    def snapshot(self) -> list[OpenConnection]:
        with self._lock:
            return list(self._open.values())

    def wake(self) -> None:
        """Re-decide now rather than at the next interval (a rebuild, a limit used up)."""
        self._wake.set()

    # ------------------------------------------------------------ the watcher

    def sample(self, now: float | None = None) -> None:
        """Report each tunnel's bytes of the current minute to its activity callback."""
        with self._sample_lock:
            self._sample(self.clock() if now is None else now)

    def _sample(self, now: float) -> None:
        minute = int(now // 60)
        for entry in self.snapshot():
            stats, activity = entry.stats, entry.activity
            if stats is None or entry.closed:
                continue
            moved = stats.moved()
            delta, entry.last_moved = moved - entry.last_moved, moved
            if entry.minute != minute:
                entry.minute, entry.minute_bytes = minute, 0
            if delta <= 0:
                continue
            entry.minute_bytes += delta
            if activity is not None:
                try:
                    activity(now, entry.minute_bytes)
                except Exception:
                    log.exception("counting a tunnel's use failed")

    def recheck(self, still_allowed: Callable[[RequestInfo], bool]) -> tuple[int, int]:
        """Close the connections whose request would now be blocked. Returns how many were
        closed, and how many of those to close were left open for now (`close_unless_busy`)."""
        closed = waiting = 0
        for entry in self.snapshot():
            if entry.closed:
                continue
            request = entry.request
            try:
                allowed = still_allowed(request)
            except Exception:
                log.exception("re-deciding an open connection failed; leaving it open")
                continue
            if allowed:
                continue
            if entry.close_unless_busy(request):
                closed += 1
            else:
                waiting += 1
        if closed:
            log.info("closed %d open connection(s) that the rules now block", closed)
        return closed, waiting

    def run(self, still_allowed: Callable[[RequestInfo], bool], stopping: threading.Event) -> None:
        """The watcher loop, every `interval` seconds or when woken: re-decide, then count
        the tunnels' bytes. In that order, so a minute past a used-up limit is refused
        before a still-running stream could count it."""
        wait = self.interval
        while not stopping.is_set():
            self._wake.wait(wait)
            self._wake.clear()
            if stopping.is_set():
                return
            wait = self.interval
            try:
                if self.recheck(still_allowed)[1]:
                    wait = min(RETRY, self.interval)
                self.sample()
            except Exception:
                log.exception("the open-connection watcher failed; trying again")
