"""File kinds and privacy inside an inspected tunnel: the same rules as on plain HTTP,
and none of it for a tunnel Guardian does not decrypt."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import trustme

from guardian.config import parse_config
from guardian.policy import Policy, PolicyHolder
from guardian.tls.intercept import Interceptor
from tests.support.client import RawClient
from tests.tls.conftest import connect_tunnel
from tests.tls.origins import MapResolver, TLSOrigin

POLICY = """
timezone = "Europe/London"
data_dir = "{data_dir}"
[https]
bypass = ["bank.test"]
[privacy]
third_party_cookies = "block"
[[profiles]]
name = "default"
inspect_https = "all"
block_file_types = ["mobile-apps"]
[[devices]]
name = "Sam's tablet"
match = ["127.0.0.1"]
"""


@pytest.fixture(scope="module")
def origin_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_origin(origin_ca):
    origin = TLSOrigin(origin_ca.issue_cert("site.test", "bank.test"))
    yield origin
    origin.close()


@pytest.fixture
def proxy(make_proxy, guardian_ca, origin_ca, tmp_path):
    origin_ca_file = tmp_path / "origin-ca.pem"
    origin_ca.cert_pem.write_to_path(str(origin_ca_file))
    config = parse_config(POLICY.format(data_dir=tmp_path))
    running = make_proxy(decider=PolicyHolder(Policy(config, {})), connect_ports=(443, "1024-65535"))
    running.ctx.tls = Interceptor(guardian_ca, 64, str(origin_ca_file))
    running.ctx.resolver = MapResolver({"site.test": "127.0.0.1", "bank.test": "127.0.0.1"})
    return running


def _tab(proxy, host: str, port: int, cafile: Path) -> RawClient:
    sock = connect_tunnel(proxy.port, f"{host}:{port}")
    tls = ssl.create_default_context(cafile=str(cafile)).wrap_socket(sock, server_hostname=host)
    client = RawClient.__new__(RawClient)
    client.sock, client.buf = tls, b""
    return client


def _get(client: RawClient, host: str, path: str, *headers: str):
    extra = "".join(f"{h}\r\n" for h in headers)
    client.send(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode())
    return client.read_response()


def test_file_kinds_and_privacy_apply_inside_an_inspected_tunnel(proxy, tls_origin, ca_file) -> None:
    host = f"site.test:{tls_origin.port}"
    tab = _tab(proxy, "site.test", tls_origin.port, ca_file)
    page = _get(tab, host, "/files/game.apk", "Accept: text/html", "Sec-Fetch-Dest: document")
    assert page.status == 403 and b"Downloads of phone and tablet apps (.apk) are blocked for default" in page.body
    tab = _tab(proxy, "site.test", tls_origin.port, ca_file)  # the block page closed the last one
    disguised = _get(tab, host, "/download.php?size=100000&type=application/vnd.android.package-archive")
    assert disguised.status == 403 and b"FFFF" not in disguised.body
    tab = _tab(proxy, "site.test", tls_origin.port, ca_file)
    fine = _get(tab, host, "/download?type=text/plain&cookie=id%3D1&utm_source=mail&x=1",
                "Referer: https://news.example/story", "Cookie: id=1")
    assert fine.status == 200 and fine.header("set-cookie") is None
    received = tls_origin.stats.requests[-1]
    assert received.target == "/download?type=text/plain&cookie=id%3D1&x=1"
    assert received.header("referer") == "https://news.example/"
    assert received.header("cookie") is None and received.header("sec-gpc") == "1"


def test_a_bypassed_host_is_left_alone(proxy, tls_origin, origin_ca) -> None:
    # The device talks to the bank itself: its own handshake, with the bank's certificate.
    context = ssl.create_default_context(cadata=origin_ca.cert_pem.bytes().decode())
    sock = connect_tunnel(proxy.port, f"bank.test:{tls_origin.port}")
    tab = RawClient.__new__(RawClient)
    tab.sock, tab.buf = context.wrap_socket(sock, server_hostname="bank.test"), b""
    response = _get(tab, f"bank.test:{tls_origin.port}", "/statement.apk?utm_source=mail",
                    "Referer: https://news.example/story")
    assert response.status == 200
    received = tls_origin.stats.requests[-1]
    assert received.target == "/statement.apk?utm_source=mail"
    assert received.header("referer") == "https://news.example/story" and received.header("sec-gpc") is None
