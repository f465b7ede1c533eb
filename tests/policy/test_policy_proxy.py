"""A smoke test through the real proxy core on loopback: the Verdicts are complete answers."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from guardian.config import ProxyConfig, parse_config
from guardian.policy import Policy, PolicyHolder
from guardian.policy.blockpage import TRANSPARENT_GIF
from tests.support.client import RawClient

CONFIG = """
timezone = "Europe/London"
data_dir = "{data_dir}"
[[profiles]]
name = "default"
[[profiles]]
name = "kids"
block = ["blocked.invalid", "/ads/*"]
[[devices]]
name = "Loopback"
match = ["127.0.0.1"]
profile = "kids"
"""


def test_blocked_requests_get_their_answers_before_any_lookup(make_proxy, origin, tmp_path: Path) -> None:
    holder = PolicyHolder(Policy(parse_config(CONFIG.format(data_dir=tmp_path)), {}))
    proxy = make_proxy(decider=holder, connect_ports=(443,))

    # blocked.invalid cannot resolve: an answer proves the decision came first.
    client = RawClient(proxy.port)
    client.send(b"GET http://blocked.invalid/page HTTP/1.1\r\nHost: blocked.invalid\r\n"
                b"Accept: text/html,*/*;q=0.8\r\n\r\n")
    page = client.read_response()
    assert page.status == 403
    assert page.header("Content-Type") == "text/html; charset=utf-8"
    assert b"http://blocked.invalid/page" in page.body and b"A parent blocked this site" in page.body

    client.send(b"GET http://blocked.invalid/logo.png HTTP/1.1\r\nHost: blocked.invalid\r\n"
                b"Sec-Fetch-Dest: image\r\n\r\n")
    image = client.read_response()
    assert (image.status, image.body) == (200, TRANSPARENT_GIF)
    client.close()

    tunnel = RawClient(proxy.port)
    tunnel.send(b"CONNECT blocked.invalid:443 HTTP/1.1\r\nHost: blocked.invalid:443\r\n\r\n")
    refused = tunnel.read_response()
    assert refused.status == 403 and refused.header("X-Guardian-Block") == "A parent blocked this site"
    tunnel.close()

    allowed = RawClient(proxy.port)
    allowed.send(f"GET {origin.base}/hello HTTP/1.1\r\nHost: {origin.base[7:]}\r\n\r\n".encode())
    assert allowed.read_response().status == 200
    allowed.close()
    records = proxy.recorder.wait_for(4)
    blocked = [r for r in records if r.action == "blocked"]
    assert len(blocked) == 3 and all(r.device == "Loopback" and r.profile == "kids" for r in blocked)
    assert {r.rule for r in blocked} == {"blocked.invalid"}


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


@pytest.mark.parametrize("url", ["http://guardian/", "http://guardian.lan/", "http://127.0.0.1:{port}/"])
def test_the_policy_routes_the_settings_page(make_proxy, settings_page, tmp_path: Path, url: str) -> None:
    port = settings_page.server_address[1]
    config = parse_config(CONFIG.format(data_dir=tmp_path) + f'[web]\nlisten = "127.0.0.1:{port}"\n')
    # The destination check stays at its strictest: only the Verdict's own address is exempt.
    proxy = make_proxy(decider=PolicyHolder(Policy(config, {})), deny_destinations=ProxyConfig().deny_destinations,
                       deny_own_addresses=True)
    c = RawClient(proxy.port)
    c.send(f"GET {url.format(port=port)} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    r = c.read_response()
    assert (r.status, r.body) == (200, b"settings page")
    [record] = proxy.recorder.wait_for(1)
    assert record.reason == "Guardian's settings page"
    # Another port on the same address, or a CONNECT to the page's name, is decided as usual: refused.
    c = RawClient(proxy.port)
    c.send(f"GET http://127.0.0.1:{port + 1 if port < 65535 else port - 1}/ HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert c.read_response().status == 403
