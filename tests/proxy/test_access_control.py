"""Never an open proxy, never a path to Guardian's own services."""

from __future__ import annotations

import ipaddress
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from guardian.config import ProxyConfig
from guardian.proxy.context import ProxySettings
from guardian.proxy.hooks import Verdict
from tests.support.client import RawClient


def test_client_outside_allowed_clients_gets_403(make_proxy, origin):
    proxy = make_proxy(allowed_clients=(ipaddress.ip_network("10.0.0.0/8"),))
    c = RawClient(proxy.port)
    c.send(f"GET {origin.base}/ HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    r = c.read_response()
    assert r.status == 403
    assert c.is_closed()
    assert bytes(origin.stats.raw) == b""


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "[::1]", "localhost"])
def test_denied_destinations_by_default(make_proxy, origin, host):
    proxy = make_proxy(deny_destinations=ProxyConfig().deny_destinations)
    c = RawClient(proxy.port)
    c.send(f"GET http://{host}:{origin.port}/ HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    r = c.read_response()
    assert r.status == 403
    time.sleep(0.05)
    assert bytes(origin.stats.raw) == b""
    assert proxy.recorder.wait_for(1)[0].action == "blocked"


def test_own_addresses_are_denied(make_proxy, origin):
    # deny_destinations empty, but the machine's own addresses stay out of reach
    proxy = make_proxy(deny_own_addresses=True)
    c = RawClient(proxy.port)
    c.send(f"GET {origin.base}/ HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert c.read_response().status == 403
    assert bytes(origin.stats.raw) == b""


def test_request_to_the_proxy_itself_is_a_loop(proxy):
    c = RawClient(proxy.port)
    c.send(f"GET http://127.0.0.1:{proxy.port}/ HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    r = c.read_response()
    assert r.status == 403
    records = proxy.recorder.wait_for(1)
    assert len(records) == 1  # refused before connecting: no second, looped request


def test_connect_to_the_proxy_itself_is_refused(make_proxy):
    proxy = make_proxy()
    # the port is known only once listening: rebuild the settings to allow CONNECT to it
    settings = proxy.ctx.settings
    proxy.ctx.settings = ProxySettings.build(replace(settings.proxy, connect_ports=(proxy.port,)))
    c = RawClient(proxy.port)
    c.send(f"CONNECT 127.0.0.1:{proxy.port} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert c.read_response().status == 403


def test_our_own_via_is_a_loop(proxy, origin):
    c = RawClient(proxy.port)
    via = proxy.ctx.settings.via_name
    c.send(f"GET {origin.base}/ HTTP/1.1\r\nHost: x\r\nVia: 1.1 {via}\r\n\r\n".encode())
    assert c.read_response().status == 403
    assert bytes(origin.stats.raw) == b""


class _Page(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"settings page"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def settings_page():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


class _Route:
    """A decider that sends everything to one address, vouched for or not."""

    def __init__(self, host: str, port: int, trusted: bool) -> None:
        self.verdict = Verdict(allowed=True, connect_host=host, connect_port=port, trusted=trusted)
        self.asked: list[str] = []

    def decide(self, request):
        self.asked.append(request.host)
        return self.verdict


def test_only_a_trusted_verdict_reaches_a_denied_address(make_proxy, settings_page):
    """The core knows no settings page: it connects past the destination check only to
    an address a Verdict vouches for (the policy's settings-page step), and asks the
    decider about every request."""
    port = settings_page.server_address[1]
    strict = {"deny_destinations": ProxyConfig().deny_destinations, "deny_own_addresses": True}
    trusted = _Route("127.0.0.1", port, trusted=True)
    proxy = make_proxy(decider=trusted, **strict)
    c = RawClient(proxy.port)
    c.send(b"GET http://guardian/ HTTP/1.1\r\nHost: guardian\r\n\r\n")
    r = c.read_response()
    assert (r.status, r.body) == (200, b"settings page")
    assert trusted.asked == ["guardian"]
    untrusted = make_proxy(decider=_Route("127.0.0.1", port, trusted=False), **strict)
    c = RawClient(untrusted.port)
    c.send(f"GET http://127.0.0.1:{port}/ HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert c.read_response().status == 403
