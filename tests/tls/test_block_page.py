"""The block page on HTTPS: a blocked CONNECT answered inside TLS with Guardian's certificate."""

from __future__ import annotations

import concurrent.futures
import shutil
import socket
import ssl
import subprocess
import time

import pytest

from guardian.policy.blockpage import TRANSPARENT_GIF
from guardian.tls.intercept import UNTRUSTED
from tests.tls.conftest import connect_tunnel, read_all, split_response, trusting_context


def _fetch(port: int, authority: str, ca_file, request: bytes, server_hostname: str | None = "blocked.invalid"):
    sock = connect_tunnel(port, authority)
    context = trusting_context(ca_file)
    if server_hostname is None:
        context.check_hostname = False
    with context.wrap_socket(sock, server_hostname=server_hostname) as tls:
        alpn = tls.selected_alpn_protocol()
        peer = tls.getpeercert()
        tls.sendall(request)
        raw = read_all(tls)
    return alpn, peer, *split_response(raw)


PAGE_REQUEST = (b"GET /videos?id=1 HTTP/1.1\r\nHost: blocked.invalid\r\n"
                b"Accept: text/html,application/xhtml+xml,*/*;q=0.8\r\nSec-Fetch-Dest: document\r\n\r\n")


def test_a_blocked_site_shows_the_block_page_inside_tls(tls_proxy, ca_file):
    proxy = tls_proxy()
    alpn, peer, status, headers, body = _fetch(proxy.port, "blocked.invalid:443", ca_file, PAGE_REQUEST)
    assert alpn == "http/1.1"  # h2 was offered; Guardian speaks HTTP/1.1 only
    assert ("DNS", "blocked.invalid") in peer["subjectAltName"]
    assert status == 403
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert headers["connection"] == "close"
    assert int(headers["content-length"]) == len(body)
    assert b"https://blocked.invalid/videos?id=1" in body
    assert b"A parent blocked this site" in body and b"Sam&#x27;s tablet" in body
    assert proxy.ctx.resolver.asked == []  # blocked.invalid was never looked up
    record = proxy.recorder.wait_for(1)[0]
    assert (record.method, record.scheme, record.host, record.target) == ("GET", "https", "blocked.invalid",
                                                                          "/videos?id=1")
    assert (record.status, record.action, record.device) == (403, "blocked", "Sam's tablet")
    assert record.rule == "blocked.invalid" and record.upstream_addr is None
    assert proxy.ctx.tls.trust.status("127.0.0.1")[0] is True


def test_an_image_gets_the_gif_and_a_script_an_empty_script(tls_proxy, ca_file):
    proxy = tls_proxy()
    *_, status, headers, body = _fetch(proxy.port, "blocked.invalid:443", ca_file,
                                       b"GET /a.png HTTP/1.1\r\nHost: blocked.invalid\r\nSec-Fetch-Dest: image\r\n\r\n")
    assert (status, headers["content-type"], body) == (200, "image/gif", TRANSPARENT_GIF)
    *_, status, headers, body = _fetch(proxy.port, "blocked.invalid:443", ca_file,
                                       b"GET /a.js HTTP/1.1\r\nHost: blocked.invalid\r\nSec-Fetch-Dest: script\r\n\r\n")
    assert (status, headers["content-type"], body) == (200, "application/javascript", b"")
    *_, status, headers, body = _fetch(proxy.port, "blocked.invalid:443", ca_file,
                                       b"POST /api HTTP/1.1\r\nHost: blocked.invalid\r\nContent-Length: 0\r\n\r\n")
    assert status == 403 and body.startswith(b"Blocked by Guardian: A parent blocked this site")


def test_an_ip_literal_without_sni_gets_a_certificate_for_the_connect_address(tls_proxy, ca_file):
    proxy = tls_proxy()
    # Python sends no SNI for an IP address; the certificate must name the CONNECT address.
    _, peer, status, _, body = _fetch(proxy.port, "198.51.100.7:443", ca_file,
                                      b"GET / HTTP/1.1\r\nHost: 198.51.100.7\r\nSec-Fetch-Dest: document\r\n\r\n",
                                      server_hostname="198.51.100.7")
    assert ("IP Address", "198.51.100.7") in peer["subjectAltName"]
    assert status == 403 and b"https://198.51.100.7/" in body


def test_no_sni_for_a_name_uses_the_connect_host(tls_proxy, ca_file):
    proxy = tls_proxy()
    _, peer, status, _, _ = _fetch(proxy.port, "blocked.invalid:443", ca_file, PAGE_REQUEST, server_hostname=None)
    assert ("DNS", "blocked.invalid") in peer["subjectAltName"] and status == 403


def test_an_sni_other_than_the_connect_host_gets_no_further(tls_proxy, ca_file):
    proxy = tls_proxy()
    # CONNECT names a blocked host, the handshake an allowed one: the stricter (blocked) wins.
    _, peer, status, _, body = _fetch(proxy.port, "blocked.invalid:443", ca_file,
                                      b"GET / HTTP/1.1\r\nHost: allowed.invalid\r\nSec-Fetch-Dest: document\r\n\r\n",
                                      server_hostname="allowed.invalid")
    assert ("DNS", "allowed.invalid") in peer["subjectAltName"]
    assert status == 403 and b"A parent blocked this site" in body


def test_without_https_block_page_the_connect_is_refused_as_before(tls_proxy):
    proxy = tls_proxy(profile="no-page")
    sock = socket.create_connection(("127.0.0.1", proxy.port), 5)
    sock.sendall(b"CONNECT blocked.invalid:443 HTTP/1.1\r\nHost: blocked.invalid:443\r\n\r\n")
    status, headers, _ = split_response(sock.recv(65536))
    assert status == 403 and headers["x-guardian-block"] == "A parent blocked this site"


def test_a_device_that_does_not_trust_guardian_is_recorded(tls_proxy):
    proxy = tls_proxy()
    sock = connect_tunnel(proxy.port, "blocked.invalid:443")
    with pytest.raises(ssl.SSLCertVerificationError):
        ssl.create_default_context().wrap_socket(sock, server_hostname="blocked.invalid")
    sock.close()
    record = proxy.recorder.wait_for(1)[0]
    assert record.reason == UNTRUSTED and record.action == "blocked" and record.rule == "blocked.invalid"
    assert proxy.ctx.tls.trust.status("127.0.0.1")[0] is False


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is in .ci/install-system-deps")
def test_curl_through_the_proxy(tls_proxy, ca_file):
    proxy = tls_proxy()
    trusted = subprocess.run(
        ["curl", "-s", "--proxy", proxy.url, "--cacert", str(ca_file), "-H", "Accept: text/html",
         "-w", "\\n%{http_code} %{http_version}", "https://blocked.invalid/path"],
        capture_output=True, timeout=30)
    assert trusted.returncode == 0, trusted.stderr
    assert b"https://blocked.invalid/path" in trusted.stdout
    assert trusted.stdout.endswith(b"\n403 1.1")
    untrusted = subprocess.run(["curl", "-s", "--proxy", proxy.url, "https://blocked.invalid/"],
                               capture_output=True, timeout=30)  # the system store, without Guardian
    assert untrusted.returncode == 60  # "peer certificate cannot be authenticated"
    assert proxy.recorder.wait_for(2)[1].reason == UNTRUSTED


def test_garbage_instead_of_a_client_hello(tls_proxy, ca_file):
    proxy = tls_proxy()
    sock = connect_tunnel(proxy.port, "blocked.invalid:443")
    sock.sendall(b"GET / HTTP/1.1\r\nHost: blocked.invalid\r\n\r\n" + bytes(range(256)) * 8)
    sock.settimeout(5)
    try:
        while sock.recv(65536):
            pass  # an alert at most, then the close
    except ConnectionResetError:
        pass
    record = proxy.recorder.wait_for(1)[0]
    assert record.action == "blocked" and record.error_kind == "client"
    assert "TLS handshake failed" in record.reason
    # the proxy carries on
    *_, status, _, _ = _fetch(proxy.port, "blocked.invalid:443", ca_file, PAGE_REQUEST)
    assert status == 403


def test_a_stalled_handshake_times_out(tls_proxy):
    proxy = tls_proxy(head_timeout=1.0)
    sock = connect_tunnel(proxy.port, "blocked.invalid:443")
    sock.sendall(b"\x16\x03\x01\x02\x00\x01")  # the start of a ClientHello, then nothing
    t0 = time.monotonic()
    sock.settimeout(5)
    assert sock.recv(65536) == b""
    assert time.monotonic() - t0 < 3
    record = proxy.recorder.wait_for(1)[0]
    assert record.error_kind == "timeout" and "in time" in record.reason


def test_a_client_hello_pipelined_with_the_connect(tls_proxy, ca_file):
    """Bytes sent right after the CONNECT, before its answer, are the start of the handshake."""
    proxy = tls_proxy()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = trusting_context(ca_file).wrap_bio(incoming, outgoing, server_hostname="blocked.invalid")
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    sock = socket.create_connection(("127.0.0.1", proxy.port), 5)
    sock.sendall(b"CONNECT blocked.invalid:443 HTTP/1.1\r\nHost: blocked.invalid:443\r\n\r\n" + outgoing.read())
    buffered = b""
    while b"\r\n\r\n" not in buffered:
        buffered += sock.recv(65536)
    head, _, rest = buffered.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    incoming.write(rest)
    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            sock.sendall(outgoing.read())
            incoming.write(sock.recv(65536))
    sock.sendall(outgoing.read())
    tls.write(PAGE_REQUEST)
    sock.sendall(outgoing.read())
    raw = b""
    while True:
        try:
            chunk = tls.read(65536)
            if not chunk:
                break
            raw += chunk
        except ssl.SSLWantReadError:
            data = sock.recv(65536)
            if not data:
                break
            incoming.write(data)
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            break
    assert split_response(raw)[0] == 403


def test_500_parallel_handshakes(tls_proxy, ca_file):
    proxy = tls_proxy()
    context = trusting_context(ca_file)

    def one(i: int) -> int:
        sock = connect_tunnel(proxy.port, "blocked.invalid:443", timeout=60)
        with context.wrap_socket(sock, server_hostname=f"n{i % 50}.blocked.invalid") as tls:
            tls.sendall(PAGE_REQUEST)
            return split_response(read_all(tls))[0]

    with concurrent.futures.ThreadPoolExecutor(max_workers=500) as pool:
        statuses = list(pool.map(one, range(500)))
    assert statuses == [403] * 500
    assert proxy.ctx.tls.leaves.made <= 64  # 50 distinct names, each signed about once
