"""The SSRF matrix: no spelling of a loopback, own or metadata address gets through.

Every target below names this machine (or the cloud metadata address) in a different
disguise. An origin listens on every address of the machine at one port, so a proxy
that connected anywhere would be caught by its connection count; each target is tried
as a plain request, a CONNECT and an upgrade, with the default destination rules. The
control test turns the rules off and shows the same disguises do reach the origin.
List downloads obey the same rules (tests/adversarial/test_hostile_lists.py, by filters).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest

from guardian.config import ProxyConfig
from guardian.proxy.upstream import resolve
from tests.support.client import RawClient


def own_addresses() -> list[str]:
    """This machine's outward addresses (no packet is sent: a UDP connect only picks a route)."""
    found = []
    for family, probe in ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1")):
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            try:
                s.connect((probe, 9))
            except OSError:
                continue
            address = s.getsockname()[0]
            if address not in ("127.0.0.1", "::1"):
                found.append(address)
    return found


class EverywhereOrigin:
    """Answers 200 on one port of every address of the machine, and counts connections."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("", 0), family=socket.AF_INET6, dualstack_ipv6=True)
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            with sock, contextlib.suppress(OSError):
                sock.settimeout(2)
                sock.recv(65536)
                sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\nreached")


@pytest.fixture
def everywhere() -> Iterator[EverywhereOrigin]:
    origin = EverywhereOrigin()
    yield origin
    origin.listener.close()


def bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


TARGETS = ["127.1", "2130706433", "0x7f000001", "0177.0.0.1", "[::ffff:127.0.0.1]", "[::1]", "localhost.",
           "localhost", "rebind.test", "0.0.0.0", "0", "169.254.169.254",
           *(bracket(a) for a in own_addresses()), "own-name.test"]
OWN = own_addresses()


def resolver(host: str, port: int) -> list[tuple[int, tuple]]:
    """The internet's DNS, mocked: a hostile name resolving to loopback, another to this machine."""
    if host == "rebind.test":
        return [(socket.AF_INET, ("127.0.0.1", port))]
    if host == "own-name.test":
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, (a, port)) for a in OWN] or [
            (socket.AF_INET, ("127.0.0.1", port))]
    return resolve(host, port)


def ask(proxy, kind: str, target: str, port: int):
    c = RawClient(proxy.port)
    authority = f"{target}:{port}"
    if kind == "plain":
        c.send(f"GET http://{authority}/ HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode())
    elif kind == "connect":
        c.send(f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode())
    else:
        c.send(f"GET http://{authority}/ws HTTP/1.1\r\nHost: {authority}\r\nConnection: Upgrade\r\n"
               "Upgrade: websocket\r\n\r\n".encode())
    return c.read_response()


@pytest.mark.parametrize("kind", ["plain", "connect", "upgrade"])
@pytest.mark.parametrize("target", TARGETS)
def test_disguised_addresses_of_this_machine_are_refused(kind, target, make_proxy, everywhere):
    proxy = make_proxy(deny_destinations=ProxyConfig().deny_destinations, deny_own_addresses=True,
                       connect_ports=(443, everywhere.port))
    proxy.ctx.resolver = resolver
    response = ask(proxy, kind, target, everywhere.port)
    assert response.status == 403, response.body[:200]
    assert b"does not connect to this address" in response.body
    (record,) = proxy.recorder.wait_for(1)
    assert (record.action, record.reason.startswith("destination denied")) == ("blocked", True)
    assert everywhere.connections == 0


@pytest.mark.parametrize("target", ["127.1", "2130706433", "0x7f000001", "0177.0.0.1", "[::ffff:127.0.0.1]",
                                    "localhost.", "rebind.test"])
def test_control_without_destination_rules_the_same_disguises_reach_the_origin(target, make_proxy, everywhere):
    proxy = make_proxy(deny_destinations=(), deny_own_addresses=False)
    proxy.ctx.resolver = resolver
    response = ask(proxy, "plain", target, everywhere.port)
    assert (response.status, response.body) == (200, b"reached")
    assert everywhere.connections == 1


def test_the_matrix_covers_this_machines_own_addresses():
    assert OWN, "this machine has no address but loopback: the own-address rows test nothing here"
