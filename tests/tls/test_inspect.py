"""Inspection: decrypted tunnels whose requests go through the same decide(), cache and log."""

from __future__ import annotations

import datetime
import hashlib
import shutil
import ssl
import subprocess
import time
from pathlib import Path

import pytest
import trustme

from guardian.cache import Cache
from guardian.config import CacheConfig, parse_config
from guardian.policy import Policy, PolicyHolder
from guardian.policy.blockpage import TRANSPARENT_GIF
from guardian.tls.intercept import Interceptor
from tests.support.client import RawClient
from tests.tls.conftest import connect_tunnel
from tests.tls.origins import MapResolver, TLSOrigin, pattern_bytes

POLICY = """
timezone = "Europe/London"
data_dir = "{data_dir}"
[https]
bypass = ["bank.test"]
[[profiles]]
name = "default"
inspect_https = "{mode}"
inspect_hosts = ["site.test"]
block = ["||site.test^*/blocked-path", "||cdn.test^$third-party", "||site.test^*/ads^$domain=other.test",
         "/img/*$image"]
[[devices]]
name = "Sam's tablet"
match = ["127.0.0.1"]
"""


@pytest.fixture(scope="module")
def test_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def test_ca_file(test_ca, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("test-ca") / "origin-ca.pem"
    test_ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def tls_origin(test_ca):
    origin = TLSOrigin(test_ca.issue_cert("site.test", "cdn.test", "bank.test", "pinned.test"))
    yield origin
    origin.close()


@pytest.fixture
def inspecting_proxy(make_proxy, guardian_ca, test_ca_file, tmp_path):
    def factory(mode: str = "all", origin_port: int = 0, extra_ca: Path | None = test_ca_file,
                settings_address: str | None = "http://guardian.lan", **overrides):
        config = parse_config(POLICY.format(data_dir=tmp_path, mode=mode))
        proxy = make_proxy(decider=PolicyHolder(Policy(config, {})), connect_ports=(443, "1024-65535"), **overrides)
        proxy.ctx.tls = Interceptor(guardian_ca, 64, str(extra_ca) if extra_ca else "",
                                    settings_address=settings_address)
        proxy.ctx.resolver = MapResolver({n: "127.0.0.1" for n in
                                          ("site.test", "cdn.test", "bank.test", "pinned.test", "wrong.test")})
        return proxy

    return factory


class Browser:
    """One kept-alive HTTPS connection through the proxy, as a browser tab holds it."""

    def __init__(self, proxy, host: str, port: int, cafile: Path) -> None:
        sock = connect_tunnel(proxy.port, f"{host}:{port}")
        context = ssl.create_default_context(cafile=str(cafile))
        self.tls = context.wrap_socket(sock, server_hostname=host)
        self.client = RawClient.__new__(RawClient)
        self.client.sock, self.client.buf = self.tls, b""
        self.host = f"{host}:{port}"

    def get(self, path: str, *headers: str):
        extra = "".join(f"{h}\r\n" for h in headers)
        self.client.send(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n{extra}\r\n".encode())
        return self.client.read_response()

    def issuer(self) -> str:
        return dict(x[0] for x in self.tls.getpeercert()["issuer"])["organizationName"]


def test_requests_inside_are_decided_with_their_full_url(inspecting_proxy, tls_origin, ca_file):
    proxy = inspecting_proxy()
    tab = Browser(proxy, "site.test", tls_origin.port, ca_file)
    assert tab.issuer() == "Guardian household filter"
    ok = tab.get("/fine?q=1")
    assert (ok.status, ok.body) == (200, b"hello /fine?q=1")
    blocked = tab.get("/blocked-path/x", "Accept: text/html", "Sec-Fetch-Dest: document")
    assert blocked.status == 403 and f"https://site.test:{tls_origin.port}/blocked-path/x".encode() in blocked.body
    again = tab.get("/fine")  # the same kept-alive connection, both sides
    assert again.status == 200
    assert tls_origin.stats.connections == 1
    assert [r.target for r in tls_origin.stats.requests] == ["/fine?q=1", "/fine"]
    assert tls_origin.stats.requests[0].header("host") == f"site.test:{tls_origin.port}"
    records = proxy.recorder.wait_for(3)
    inner = [(r.method, r.scheme, r.host, r.target, r.action) for r in records[:3]]
    assert inner == [("GET", "https", "site.test", "/fine?q=1", "allowed"),
                     ("GET", "https", "site.test", "/blocked-path/x", "blocked"),
                     ("GET", "https", "site.test", "/fine", "allowed")]


def test_third_party_domain_and_request_types_work_on_https(inspecting_proxy, tls_origin, ca_file):
    proxy = inspecting_proxy()
    cdn = Browser(proxy, "cdn.test", tls_origin.port, ca_file)
    assert cdn.get("/lib.js", "Referer: https://site.test/", "Sec-Fetch-Dest: script").body == b""
    assert cdn.get("/lib.js", "Referer: https://cdn.test/page", "Sec-Fetch-Dest: script").body == b"hello /lib.js"
    site = Browser(proxy, "site.test", tls_origin.port, ca_file)
    assert site.get("/ads/x", "Referer: https://other.test/").status == 403
    assert site.get("/ads/x", "Referer: https://site.test/").status == 200
    image = site.get("/img/a.png", "Sec-Fetch-Dest: image")
    assert (image.status, image.body) == (200, TRANSPARENT_GIF)
    assert site.get("/img/a.png", "Sec-Fetch-Dest: document").status == 200


def test_only_the_listed_hosts_with_inspect_hosts(inspecting_proxy, tls_origin, ca_file, test_ca_file):
    proxy = inspecting_proxy(mode="hosts")
    assert Browser(proxy, "site.test", tls_origin.port, ca_file).issuer() == "Guardian household filter"
    other = Browser(proxy, "pinned.test", tls_origin.port, test_ca_file)  # not listed: the origin's own certificate
    assert other.issuer() != "Guardian household filter"
    assert other.get("/img/a.png", "Sec-Fetch-Dest: image").body == b"hello /img/a.png"  # $image unseen


def test_bypass_hosts_are_tunnelled_untouched(inspecting_proxy, tls_origin, test_ca_file):
    proxy = inspecting_proxy()
    bank = Browser(proxy, "bank.test", tls_origin.port, test_ca_file)
    assert bank.issuer() != "Guardian household filter"  # the origin saw the device's own handshake
    assert bank.get("/account").body == b"hello /account"
    bank.tls.close()
    record = proxy.recorder.wait_for(1)[0]
    assert record.method == "CONNECT" and "never decrypts" in record.reason


@pytest.mark.parametrize("problem", ["expired", "wrong host", "unknown issuer"])
def test_a_bad_origin_certificate_gets_an_error_page(inspecting_proxy, test_ca, ca_file, problem):
    if problem == "expired":
        past = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
        cert = test_ca.issue_cert("site.test", not_before=past, not_after=past + datetime.timedelta(days=30))
        expected = b"certificate has expired"
    elif problem == "wrong host":
        cert = test_ca.issue_cert("site.test")
        expected = b"Hostname mismatch"
    else:
        cert = trustme.CA().issue_cert("site.test")
        expected = b"unable to get local issuer certificate"
    origin = TLSOrigin(cert)
    try:
        proxy = inspecting_proxy()
        name = "wrong.test" if problem == "wrong host" else "site.test"
        page = Browser(proxy, name, origin.port, ca_file).get("/", "Accept: text/html")
        assert page.status == 502
        assert expected in page.body and b"certificate is not valid" in page.body
        # a parent can put the site on the list never decrypted: a link that only fills the form in
        link = f'<a href="http://guardian.lan/settings?bypass={name}#bypass">Parents: add {name} to'.encode()
        assert link in page.body
        assert b"changes nothing by itself: a parent logs in and confirms there" in page.body
        assert origin.stats.requests == []  # nothing was sent to it
        record = proxy.recorder.wait_for(1)[0]
        assert record.error_kind == "upstream" and "certificate is not valid" in record.reason
    finally:
        origin.close()


def test_without_a_known_settings_address_the_page_says_where_to_go(inspecting_proxy, test_ca, ca_file):
    origin = TLSOrigin(trustme.CA().issue_cert("site.test"))
    try:
        page = Browser(inspecting_proxy(settings_address=None), "site.test", origin.port, ca_file).get("/")
        assert page.status == 502 and b"<a href" not in page.body
        assert b"add it to the sites Guardian never decrypts on Guardian&#x27;s settings page" in page.body
    finally:
        origin.close()


def test_origins_trusted_through_ssl_cert_file(inspecting_proxy, tls_origin, ca_file, test_ca_file, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(test_ca_file))
    proxy = inspecting_proxy(extra_ca=None)
    assert Browser(proxy, "site.test", tls_origin.port, ca_file).get("/x").status == 200
    monkeypatch.delenv("SSL_CERT_FILE")
    proxy = inspecting_proxy(extra_ca=None)
    assert Browser(proxy, "site.test", tls_origin.port, ca_file).get("/x").status == 502


def test_an_app_that_pins_is_tunnelled_untouched_next_time(inspecting_proxy, tls_origin, ca_file, test_ca_file):
    proxy = inspecting_proxy()
    Browser(proxy, "site.test", tls_origin.port, ca_file).get("/")  # this device trusts Guardian
    with pytest.raises(ssl.SSLCertVerificationError):
        Browser(proxy, "pinned.test", tls_origin.port, test_ca_file)  # the app knows only its own CA
    deadline = time.monotonic() + 5  # the refusal is noted before the app tries again
    while not any(r.host == "pinned.test" for r in proxy.recorder.records):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    app = Browser(proxy, "pinned.test", tls_origin.port, test_ca_file)
    assert app.issuer() != "Guardian household filter"
    assert app.get("/feed").status == 200
    app.tls.close()
    reasons = [r.reason for r in proxy.recorder.wait_for(4) if r.method == "CONNECT" and r.host == "pinned.test"]
    assert "pins its own" in reasons[0] and "refused Guardian's certificate earlier" in reasons[1]


def test_websocket_inside_an_inspected_tunnel(inspecting_proxy, tls_origin, ca_file):
    proxy = inspecting_proxy()
    tab = Browser(proxy, "site.test", tls_origin.port, ca_file)
    tab.client.send(b"GET /ws HTTP/1.1\r\nHost: site.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                    b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
    assert tab.client.read_response().status == 101
    for message in (b"frame-one", b"x" * 100_000):
        tab.client.send(message)
        assert tab.client._exact(len(message)) == message.upper()


def test_cacheable_responses_are_cached(inspecting_proxy, tls_origin, ca_file):
    proxy = inspecting_proxy()
    proxy.ctx.cache = Cache(CacheConfig())
    tab = Browser(proxy, "site.test", tls_origin.port, ca_file)
    first = tab.get("/asset/logo.png?max-age=600")
    second = tab.get("/asset/logo.png?max-age=600")
    assert first.body == second.body == b"asset /asset/logo.png"
    assert tls_origin.stats.hits["/asset/logo.png?max-age=600"] == 1
    assert proxy.recorder.wait_for(2)[1].cache == "HIT"


def test_a_200_mib_download_arrives_intact(inspecting_proxy, tls_origin, ca_file):
    proxy = inspecting_proxy()
    size = 200 * 2**20
    tab = Browser(proxy, "site.test", tls_origin.port, ca_file)
    tab.client.send(f"GET /stream/{size} HTTP/1.1\r\nHost: site.test\r\n\r\n".encode())
    head = tab.client._until(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and f"Content-Length: {size}".encode() in head
    digest, received = hashlib.sha256(), 0
    digest.update(tab.client.buf)
    received += len(tab.client.buf)
    tab.client.buf = b""
    while received < size:
        chunk = tab.tls.recv(1 << 20)
        assert chunk, f"closed after {received} bytes"
        digest.update(chunk)
        received += len(chunk)
    expected = hashlib.sha256()
    for piece in pattern_bytes(size):
        expected.update(piece)
    assert received == size and digest.hexdigest() == expected.hexdigest()


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is in .ci/install-system-deps")
def test_curl_through_an_inspected_tunnel(inspecting_proxy, tls_origin, ca_file):
    proxy = inspecting_proxy()
    url = f"https://site.test:{tls_origin.port}"
    ok = subprocess.run(["curl", "-s", "--proxy", proxy.url, "--cacert", str(ca_file), f"{url}/hi"],
                        capture_output=True, timeout=30)
    assert ok.returncode == 0 and ok.stdout == b"hello /hi", ok.stderr
    blocked = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--proxy", proxy.url,
                              "--cacert", str(ca_file), f"{url}/blocked-path"], capture_output=True, timeout=30)
    assert blocked.stdout == b"403"


def test_a_stalled_handshake_on_an_inspected_host_times_out(inspecting_proxy, tls_origin):
    proxy = inspecting_proxy(head_timeout=1.0)
    sock = connect_tunnel(proxy.port, f"site.test:{tls_origin.port}")
    sock.settimeout(5)
    assert sock.recv(100) == b""  # no ClientHello within the head timeout: closed
    sock.close()
    record = proxy.recorder.wait_for(1)[0]
    assert record.error_kind == "timeout" and tls_origin.stats.connections == 0


def test_youtube_restrict_header_inside_an_inspected_youtube_tunnel(make_proxy, guardian_ca, test_ca, test_ca_file,
                                                                    ca_file, tmp_path):
    config = parse_config(f'timezone = "Europe/London"\ndata_dir = "{tmp_path}"\n[[profiles]]\nname = "default"\n'
                          'youtube = "strict"\ninspect_https = "hosts"\ninspect_hosts = ["youtube.com"]\n')
    proxy = make_proxy(decider=PolicyHolder(Policy(config, {})), connect_ports=(443, "1024-65535"))
    proxy.ctx.tls = Interceptor(guardian_ca, 64, str(test_ca_file))
    resolver = MapResolver({"restrict.youtube.com": "127.0.0.1"})  # www.youtube.com itself is never resolved
    proxy.ctx.resolver = resolver
    origin = TLSOrigin(test_ca.issue_cert("www.youtube.com"))
    try:
        tab = Browser(proxy, "www.youtube.com", origin.port, ca_file)
        seen = tab.get("/headers", "YouTube-Restrict: Off").body.decode()
        assert "YouTube-Restrict: Strict" in seen and "Off" not in seen
        assert resolver.asked == ["restrict.youtube.com"]
    finally:
        origin.close()


def test_a_cached_answer_inside_an_inspected_youtube_tunnel_is_served(make_proxy, guardian_ca, test_ca, test_ca_file,
                                                                       ca_file, tmp_path):
    # The YouTube-Restrict edits wrap the profile's own: a cache hit asks them whether they judge answers.
    config = parse_config(f'timezone = "Europe/London"\ndata_dir = "{tmp_path}"\n[[profiles]]\nname = "default"\n'
                          'youtube = "strict"\ninspect_https = "hosts"\ninspect_hosts = ["youtube.com"]\n')
    proxy = make_proxy(decider=PolicyHolder(Policy(config, {})), connect_ports=(443, "1024-65535"))
    proxy.ctx.tls = Interceptor(guardian_ca, 64, str(test_ca_file))
    proxy.ctx.resolver = MapResolver({"restrict.youtube.com": "127.0.0.1"})
    proxy.ctx.cache = Cache(CacheConfig())
    origin = TLSOrigin(test_ca.issue_cert("www.youtube.com"))
    try:
        tab = Browser(proxy, "www.youtube.com", origin.port, ca_file)
        first = tab.get("/asset/logo.png?max-age=600")
        second = tab.get("/asset/logo.png?max-age=600")
        assert first.body == second.body == b"asset /asset/logo.png"
        assert [r.cache for r in proxy.recorder.wait_for(3) if r.method == "GET"] == ["MISS", "HIT"]
    finally:
        origin.close()


def test_a_client_that_leaves_mid_download_frees_the_connection(inspecting_proxy, tls_origin, ca_file):
    proxy = inspecting_proxy()
    tab = Browser(proxy, "site.test", tls_origin.port, ca_file)
    tab.client.send(f"GET /stream/{100 * 2**20} HTTP/1.1\r\nHost: site.test\r\n\r\n".encode())
    assert tab.client._until(b"\r\n\r\n").startswith(b"HTTP/1.1 200")
    tab.tls.recv(65536)
    tab.tls.close()
    record = proxy.recorder.wait_for(1, timeout=10)[0]
    assert record.target == f"/stream/{100 * 2**20}" and record.bytes_to_client < 100 * 2**20


def test_a_reload_reaches_an_open_inspected_tunnel(inspecting_proxy, tls_origin, ca_file, tmp_path):
    proxy = inspecting_proxy()
    tab = Browser(proxy, "site.test", tls_origin.port, ca_file)
    assert tab.get("/later").status == 200
    stricter = POLICY.format(data_dir=tmp_path, mode="all").replace('block = [', 'block = ["||site.test^*/later", ')
    proxy.ctx.decider = PolicyHolder(Policy(parse_config(stricter), {}))  # what a reload swaps in
    assert tab.get("/later", "Accept: text/html").status == 403
