"""The settings page's listener, which loads the page on its first connection.

Flask, Jinja, waitress and the blueprints cost a long-running service about 14 MiB, and
most days nobody opens the page. So `guardian serve` binds the page's port at start (a
port in use still stops the start, and the set-up code is still logged then), and one
thread waits for the first connection to arrive in the listening socket's queue without
accepting it. Only then are the app and its server built, on the same socket; the
waiting connection is the server's first and is answered like any other.

If the page cannot be loaded (a package damaged by a failed upgrade), every connection
is answered at once with a short page saying so, and the proxy keeps filtering: a parent
sees why, instead of a browser that waits.
"""

from __future__ import annotations

import contextlib
import html
import logging
import socket
import threading
import time
from typing import Any

from guardian.proxy.stream import readable

from .credentials import Credentials

log = logging.getLogger("guardian")

WAKE_SECONDS = 0.5  # how often the waiting thread checks whether the service is stopping
READ_SECONDS = 2.0  # how long the failure page waits for a request, in all, before answering anyway
# Visitors answered at once: a device that opens connections and sends nothing (or a byte
# at a time) holds one each for READ_SECONDS, not the page for everyone.
FAILURE_ANSWERS = 16
FAILURE_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Settings page unavailable</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><h1>The settings page could not start</h1>
<p>Guardian is still filtering, but its settings page did not load: {reason}</p>
<p>Restarting Guardian (or the Raspberry Pi) usually fixes this. If it does not, reinstalling
Guardian will; your settings and history are kept.</p></body></html>
"""


class LazySettingsPage:
    def __init__(self, services: Any, listener: socket.socket) -> None:
        """`services`: what the page manages (guardian.service.Guardian); `listener`: the
        page's socket, bound and listening."""
        self.services = services
        self.listener = listener
        self.failure: str | None = None  # why the page could not load, once it failed
        self._server: Any = None
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        credentials = Credentials(services.data_dir)
        # Logged now, so it is there when someone first opens the page.
        self._setup_code = None if credentials.has_password() else credentials.announce_setup_code(
            services.web_address())

    @property
    def loaded(self) -> bool:
        return self._server is not None

    def run(self) -> None:
        """Wait for the first connection, load the page, then serve it until close()."""
        while not self._stopped.is_set():
            try:
                ready = readable([self.listener], WAKE_SECONDS)
            except (OSError, ValueError):  # closed by close()
                return
            if ready:
                break
        else:
            return
        server = self._load()
        if server is not None:
            server.run()
        elif self.failure is not None:
            self._answer_with_failure()

    def _load(self) -> Any:
        started = time.monotonic()
        try:
            from .app import create_app
            from .serving import create_server

            server = create_server(create_app(self.services, self._setup_code), self.listener)
        except Exception as exc:
            log.exception("the settings page could not be loaded; the proxy keeps filtering")
            self.failure = f"{type(exc).__name__}: {exc}"
            return None
        with self._lock:
            if self._stopped.is_set():
                server.close()
                return None
            self._server = server
        log.info("settings page loaded for its first visitor in %.2f s", time.monotonic() - started)
        return server

    def _answer_with_failure(self) -> None:
        """Every connection gets the failure page: a clear answer, never a hang."""
        body = FAILURE_PAGE.format(reason=html.escape(self.failure or "")).encode()
        head = (f"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/html; charset=utf-8\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n").encode()
        answering = threading.BoundedSemaphore(FAILURE_ANSWERS)

        def answer(client: socket.socket) -> None:
            try:
                with client, contextlib.suppress(OSError):
                    _read_head(client, time.monotonic() + READ_SECONDS)
                    client.settimeout(READ_SECONDS)
                    client.sendall(head + body)
            finally:
                answering.release()

        while not self._stopped.is_set():
            try:
                if not readable([self.listener], WAKE_SECONDS):
                    continue
            except (OSError, ValueError):  # closed by close()
                return
            if not answering.acquire(timeout=WAKE_SECONDS):
                continue
            try:
                client, _ = self.listener.accept()
            except (OSError, ValueError):  # gone before it was accepted, out of descriptors, or closing
                answering.release()
                self._stopped.wait(0.05)
                continue
            threading.Thread(target=answer, args=(client,), name="settings-page-failure", daemon=True).start()

    def close(self) -> None:
        with self._lock:
            self._stopped.set()
            server = self._server
        if server is not None:
            server.close()
        else:
            self.listener.close()


def _read_head(client: socket.socket, deadline: float, limit: int = 16384) -> None:
    """Read the request head (at most `limit` bytes, until `deadline`) so closing does not
    reset the connection before the browser has read the answer."""
    total, tail = 0, b""
    while total < limit:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        client.settimeout(remaining)
        try:
            chunk = client.recv(4096)
        except TimeoutError:  # answered anyway
            return
        if not chunk:
            return
        total += len(chunk)
        if b"\r\n\r\n" in tail + chunk:
            return
        tail = (tail + chunk)[-3:]
