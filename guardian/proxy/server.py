"""The listener: accept connections and give each its own thread.

Threads are the design (the Pi has few cores and the work is I/O): each connection
gets a small-stack thread that blocks on its own socket, so a slow or idle client
never delays another. Live connections are tracked so a stop can close the idle ones
at once and give busy ones a bounded grace period.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import socket
import threading
import time

from guardian.config import Address
from guardian.proxy.context import ProxyContext
from guardian.proxy.handler import ClientConnection
from guardian.proxy.responses import error_response

log = logging.getLogger(__name__)

THREAD_STACK = 512 * 1024  # the handler's call depth is shallow; default 8 MiB stacks waste address space


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
    """For "address already in use": how to find the program that holds the port."""
    if exc.errno != errno.EADDRINUSE:
        return ""
    return f" (another program uses port {address.port}; `sudo ss -ltnp 'sport = :{address.port}'` names it)"


class ProxyServer:
    def __init__(self, ctx: ProxyContext, listener: socket.socket) -> None:
        self.ctx = ctx
        self.listener = listener
        self.connections: set[ClientConnection] = set()
        self._lock = threading.Lock()
        self._accept_thread: threading.Thread | None = None
        self._reaper: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        return self.listener.getsockname()[:2]

    def start(self) -> None:
        threading.stack_size(THREAD_STACK)
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
            if len(self.connections) >= self.ctx.settings.proxy.max_connections:
                self._turn_away(sock)
                continue
            conn = ClientConnection(self.ctx, sock, addr[0])
            with self._lock:
                self.connections.add(conn)
            try:
                threading.Thread(target=self._run, args=(conn,), name="proxy-conn", daemon=True).start()
            except RuntimeError:  # cannot start a new thread
                with self._lock:
                    self.connections.discard(conn)
                self._turn_away(sock)

    @staticmethod
    def _turn_away(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            sock.settimeout(1)
            sock.sendall(error_response(503, "Guardian is at its connection limit; try again shortly."))
        with contextlib.suppress(OSError):
            sock.close()

    def _run(self, conn: ClientConnection) -> None:
        try:
            conn.run()
        finally:
            with self._lock:
                self.connections.discard(conn)

    def _reap_loop(self) -> None:
        while not self.ctx.stopping.wait(5):
            self.ctx.pool.reap()
            if self.ctx.tls is not None:
                self.ctx.tls.pool.reap()

    def stop(self, grace: float = 10.0) -> None:
        """Stop accepting, close idle connections, let busy ones finish within `grace` seconds."""
        self.ctx.stopping.set()
        self.ctx.connections.wake()
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
