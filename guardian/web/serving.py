"""The settings page's HTTP server (waitress) with limits for a house full of clients.

The page and the PAC file are reachable without logging in, by the very people Guardian
filters, so waitress's generous defaults are tightened:

- `connection_limit` bounds open connections; one device may hold at most
  `PER_ADDRESS` of them (more are closed at once), so a few hundred half-open
  connections from one phone cannot lock out everyone else. Connections from 127.0.0.1
  and ::1 (Guardian's own proxy forwarding devices' requests) are not capped per
  address; the proxy's own limits bound those.
- `channel_timeout` closes a silent connection after `CHANNEL_TIMEOUT` seconds, not 120.
- `max_request_body_size`: a body above it is answered 413 before anything is buffered
  to disk (Flask's own limit applies only after waitress has read the whole body).

On a dual-stack `[::]` listener an IPv4 device arrives as `::ffff:a.b.c.d`; the page
sees it as `a.b.c.d` (`REMOTE_ADDR` is normalised here, as the proxy does at its edge),
so its PAC file, its lockout and "this device" match what the proxy knows it by.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import waitress.server
from waitress.channel import HTTPChannel

from guardian.proxy.server import client_address

CONNECTION_LIMIT = 200
PER_ADDRESS = 24
CHANNEL_TIMEOUT = 30
CLEANUP_INTERVAL = 5
MAX_BODY = 5 * 2**20  # a backup archive is the largest thing posted (Flask refuses above 4 MiB)
THREADS = 8


def _own_proxy(host: str) -> bool:
    """The address Guardian's own proxy connects from (it connects to 127.0.0.1 or ::1)."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return str(address) in ("127.0.0.1", "::1")


class CappedChannel(HTTPChannel):
    """A waitress channel refused (closed at once) when its address already holds its share."""

    def __init__(self, server: Any, sock: Any, addr: Any, adj: Any, map: Any = None) -> None:
        host = addr[0] if isinstance(addr, tuple) and addr else ""
        if host and not _own_proxy(host):
            held = sum(1 for ch in list(server._map.values())
                       if isinstance(ch, HTTPChannel) and isinstance(ch.addr, tuple) and ch.addr[0] == host)
            if held >= PER_ADDRESS:
                sock.close()  # never registered with the server's loop
                return
        super().__init__(server, sock, addr, adj, map)


def plain_client_addresses(app: Any) -> Any:
    """The WSGI app, seeing IPv4-mapped client addresses as plain IPv4."""

    def wrapped(environ: dict[str, Any], start_response: Any) -> Any:
        remote = environ.get("REMOTE_ADDR")
        if remote:
            environ["REMOTE_ADDR"] = client_address(remote)
        return app(environ, start_response)

    return wrapped


def create_server(app: Any, listener: socket.socket) -> waitress.server.BaseWSGIServer:
    """The server on a socket already bound (waitress starts its worker threads before it
    binds, and a port in use would leave them running)."""
    server = waitress.server.create_server(plain_client_addresses(app), sockets=[listener], threads=THREADS,
                                           ident="Guardian", connection_limit=CONNECTION_LIMIT,
                                           channel_timeout=CHANNEL_TIMEOUT, cleanup_interval=CLEANUP_INTERVAL,
                                           max_request_body_size=MAX_BODY)
    assert isinstance(server, waitress.server.BaseWSGIServer)  # one socket: one server, not several
    server.channel_class = CappedChannel
    return server
