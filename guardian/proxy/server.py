"""The listener: accept connections and hand them to the parking lot, whose threads serve them.

Threads are the design (the Pi has few cores and the work is I/O): a request in progress
has a small-stack thread that blocks on its sockets, so a slow website never delays
another. Between requests, a new connection's first one included, a connection waits in
the parking lot (`parking`): one epoll, served by a small pool of threads that grows only
for requests that run long. Live connections, parked ones included, are tracked so a stop
can close the idle ones at once and give busy ones a bounded grace period, and counted
per client address so one device cannot take every connection (`max_connections_per_client`).

The client's address is normalised here, once, for every later use (policy, log, seen
devices, the settings page's lockout): on a dual-stack `[::]` listener an IPv4 client
arrives as `::ffff:a.b.c.d` and is known from then on as `a.b.c.d`.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import logging
import socket
import threading
import time

from guardian.config import Address
from guardian.port_holders import in_use_hint
from guardian.proxy.context import ProxyContext
from guardian.proxy.cores import threads_started_on
from guardian.proxy.handler import ClientConnection
from guardian.proxy.parking import ParkingLot
from guardian.proxy.responses import error_response

log = logging.getLogger(__name__)

THREAD_STACK = 512 * 1024  # the handler's call depth is shallow; default 8 MiB stacks waste address space


def client_address(raw: str) -> str:
    """The address a client is known by: IPv4-mapped IPv6 as plain IPv4."""
    if raw.startswith("::ffff:") and "." in raw:
        try:
            mapped = ipaddress.IPv6Address(raw).ipv4_mapped
        except ValueError:
            return raw
        if mapped is not None:
            return str(mapped)
    return raw


def open_listener(address: Address, what: str = "the proxy", backlog: int = 1024) -> socket.socket:
    family = socket.AF_INET6 if ":" in address.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6 and address.host == "::":
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    try:
        sock.bind((address.host, address.port))
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"{what} cannot listen on {address}: {exc.strerror}{_in_use_hint(address, exc)}"
                      ) from None
    sock.listen(backlog)
    return sock


def _in_use_hint(address: Address, exc: OSError) -> str:
    """For "address already in use": the program that holds the port, or how to find it."""
    if exc.errno != errno.EADDRINUSE:
        return ""
    return in_use_hint(address.port)


class ProxyServer:
    def __init__(self, ctx: ProxyContext, listener: socket.socket) -> None:
        self.ctx = ctx
        self.listener = listener
        self.connections: set[ClientConnection] = set()
        self._per_client: dict[str, int] = {}
        self._lock = threading.Lock()
        self._accept_thread: threading.Thread | None = None
        self._reaper: threading.Thread | None = None
        self.lot = ParkingLot(self._serve, self._forget)

    @property
    def address(self) -> tuple[str, int]:
        return self.listener.getsockname()[:2]

    def start(self, core: int | None = None) -> None:
        """Start accepting; the threads that serve requests run on `core` (see cores.py)."""
        threading.stack_size(THREAD_STACK)
        with threads_started_on(core):
            self.lot.start()
            self._accept_thread = threading.Thread(target=self._accept_loop, name="proxy-accept", daemon=True)
            self._accept_thread.start()
        self._reaper = threading.Thread(target=self._reap_loop, name="proxy-pool-reaper", daemon=True)
        self._reaper.start()
        still_allowed = getattr(self.ctx.decider, "still_allowed", None)
        if still_allowed is not None:
            threading.Thread(target=self.ctx.connections.run, args=(still_allowed, self.ctx.stopping),
                             name="proxy-open-connections", daemon=True).start()

    def _accept_loop(self) -> None:
        while not self.ctx.stopping.is_set():
            try:
                sock, addr = self.listener.accept()
            except OSError:
                if self.ctx.stopping.is_set():
                    return
                time.sleep(0.05)  # e.g. EMFILE: back off instead of spinning
                continue
            proxy = self.ctx.settings.proxy
            if len(self.connections) >= proxy.max_connections:
                self._turn_away(sock)
                continue
            conn = ClientConnection(self.ctx, sock, client_address(addr[0]))
            conn.park = self.lot.park
            with self._lock:
                held = self._per_client.get(conn.client_ip, 0)
                if held < proxy.max_connections_per_client:
                    self.connections.add(conn)
                    self._per_client[conn.client_ip] = held + 1
            if held >= proxy.max_connections_per_client:
                self._turn_away(sock, "This device has too many connections open; close some and try again.")
                continue
            if not conn.open():
                self._forget(conn)
            elif not self._park_new(conn):  # an answer, not a connection closed without one
                self._turn_away(sock, "Guardian cannot take this connection just now; try again in a moment.")
                self._forget(conn)

    def _park_new(self, conn: ClientConnection) -> bool:
        """Hand a new connection to the lot until its first request; False when stopping or
        when the epoll refused it (out of memory, `max_user_watches`): the listener goes on."""
        try:
            return self.lot.park(conn)
        except OSError as exc:
            log.warning("could not wait for a new connection's request: %s", exc)
            return False

    @staticmethod
    def _turn_away(sock: socket.socket,
                   message: str = "Guardian is at its connection limit; try again shortly.") -> None:
        with contextlib.suppress(OSError):
            sock.settimeout(1)
            sock.sendall(error_response(503, message))
        with contextlib.suppress(OSError):
            sock.close()

    def _serve(self, conn: ClientConnection) -> None:
        """The lot's call on a serving thread: `conn`'s next request has arrived."""
        if not conn.serve_ready():  # a parked connection stays counted; the lot or a later thread forgets it
            self._forget(conn)

    def _forget(self, conn: ClientConnection) -> None:
        with self._lock:
            self.connections.discard(conn)
            held = self._per_client.pop(conn.client_ip, 1) - 1
            if held > 0:
                self._per_client[conn.client_ip] = held

    def _reap_loop(self) -> None:
        while not self.ctx.stopping.wait(5):
            self.ctx.pool.reap()
            if self.ctx.tls is not None:
                self.ctx.tls.pool.reap()

    def stop(self, grace: float = 10.0) -> None:
        """Stop accepting, close idle connections, let busy ones finish within `grace` seconds."""
        self.ctx.stopping.set()
        self.ctx.connections.wake()
        self.lot.close()  # parked connections are idle: closed now, without a thread each
        with contextlib.suppress(OSError):
            self.listener.close()
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            with self._lock:
                live = list(self.connections)
            if not live:
                break
            for conn in live:
                if conn.idle:
                    with contextlib.suppress(OSError):
                        conn.sock.shutdown(socket.SHUT_RDWR)
            time.sleep(0.05)
        self.ctx.force_close.set()
        with self._lock:
            remaining = list(self.connections)
        for conn in remaining:
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_RDWR)
        self.ctx.pool.close()
        if self.ctx.tls is not None:
            self.ctx.tls.pool.close()
