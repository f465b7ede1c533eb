"""Forwarding plain HTTP: framing, headers, keep-alive, pipelining, real clients."""

from __future__ import annotations

import hashlib
import shutil
import socket
import subprocess
import time

import pytest
import requests

from tests.support.client import RawClient


def get(proxy, origin, path: str, extra: str = "", version: str = "HTTP/1.1") -> bytes:
    return (f"GET {origin.base}{path} {version}\r\nHost: 127.0.0.1:{origin.port}\r\n{extra}\r\n").encode()


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_through_the_proxy(proxy, origin):
    out = subprocess.run(["curl", "-s", "-x", proxy.url, f"{origin.base}/hello", "-D", "-"],
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 0
    assert out.stdout.startswith("HTTP/1.1 200")
    assert out.stdout.endswith("hello /hello")
    assert "Via: 1.1 guardian-" in out.stdout


def test_python_requests_client(proxy, origin):
    proxies = {"http": proxy.url}
    with requests.Session() as session:
        for i in range(5):
            r = session.get(f"{origin.base}/r{i}", proxies=proxies, timeout=10)
            assert r.status_code == 200
            assert r.text == f"hello /r{i}"
        r = session.post(f"{origin.base}/echo", data=b"a" * 300_000, proxies=proxies, timeout=10)
        assert r.text == f"300000 {hashlib.sha256(b'a' * 300_000).hexdigest()}"
    # client keep-alive plus the upstream pool: one origin connection for everything
    assert origin.stats.connections == 1


def test_host_header_comes_from_the_uri_and_via_is_added(proxy, origin):
    c = RawClient(proxy.port)
    c.send(f"GET {origin.base}/headers HTTP/1.1\r\nHost: evil.example\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n".encode())
    r = c.read_response()
    seen = r.body.decode()
    assert f"Host: 127.0.0.1:{origin.port}" in seen
    assert "evil.example" not in seen
    assert "Via: 1.1 guardian-" in seen
    # forwarded_for is off: we add none of our own and drop the client's (issue 14 item 19)
    assert "X-Forwarded-For" not in seen and "1.2.3.4" not in seen


def test_hop_by_hop_headers_are_removed_both_ways(proxy, origin):
    c = RawClient(proxy.port)
    c.send(f"GET {origin.base}/headers HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, X-Private, Host, "
           "Content-Length\r\nX-Private: 1\r\nKeep-Alive: 300\r\nProxy-Authorization: Basic eA==\r\nTE: trailers\r\n"
           "Proxy-Connection: keep-alive\r\nUpgrade: h2c\r\nTrailer: X\r\nX-Kept: 1\r\n\r\n".encode())
    seen = c.read_response().body.decode().lower()
    for name in ("x-private", "keep-alive", "proxy-authorization", "te:", "proxy-connection", "upgrade", "trailer"):
        assert name not in seen, name
    assert "x-kept: 1" in seen
    assert f"host: 127.0.0.1:{origin.port}" in seen  # `Connection: Host` cannot remove it
    c.send(get(proxy, origin, "/hop"))
    r = c.read_response()
    names = {k.lower() for k, _ in r.headers}
    assert "x-secret" not in names and "keep-alive" not in names
    assert "x-public" in names


def test_chunked_request_is_dechunked_and_reframed(proxy, origin):
    c = RawClient(proxy.port)
    c.send(f"POST {origin.base}/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
           "3;name=value\r\nabc\r\n4\r\ndefg\r\n0\r\nX-Trailer: 1\r\n\r\n".encode())
    r = c.read_response()
    assert r.body.decode() == f"7 {hashlib.sha256(b'abcdefg').hexdigest()}"
    received = origin.stats.requests[-1]
    assert b"name=value" not in received.raw_body  # chunk extensions never forwarded
    assert b"X-Trailer" not in received.raw_body


def test_chunked_response_is_reframed_without_extensions(proxy, origin):
    c = RawClient(proxy.port)
    c.send(get(proxy, origin, "/chunked"))
    r = c.read_response()
    assert r.body == b"hello, world"
    assert b"ext" not in r.raw_body
    assert b"X-Trailer" not in r.raw_body
    c.send(get(proxy, origin, "/x"))  # still in frame: keep-alive continues
    assert c.read_response().body == b"hello /x"


def test_close_delimited_response(proxy, origin):
    c = RawClient(proxy.port)
    c.send(get(proxy, origin, "/close"))
    r = c.read_response()
    assert r.body == b"until-close body"
    assert r.header("transfer-encoding") == "chunked"  # HTTP/1.1 client keeps its connection
    c.send(get(proxy, origin, "/after"))
    assert c.read_response().body == b"hello /after"
    c10 = RawClient(proxy.port)
    c10.send(get(proxy, origin, "/close", version="HTTP/1.0"))
    r = c10.read_response()
    assert r.body == b"until-close body"
    assert c10.is_closed()


@pytest.mark.parametrize("method,path", [("HEAD", "/size/500"), ("GET", "/204"), ("GET", "/304")])
def test_responses_without_body(proxy, origin, method, path):
    c = RawClient(proxy.port)
    c.send(f"{method} {origin.base}{path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    r = c.read_response(head_request=method == "HEAD")
    assert r.body == b""
    if method == "HEAD":
        assert r.header("content-length") == "500"
    c.send(get(proxy, origin, "/next"))
    assert c.read_response().body == b"hello /next"


def test_pipelined_requests_are_answered_in_order(proxy, origin):
    c = RawClient(proxy.port)
    c.send(b"".join(get(proxy, origin, f"/p{i}") for i in range(10)))
    for i in range(10):
        assert c.read_response().body == f"hello /p{i}".encode()


def test_http10_client(proxy, origin):
    c = RawClient(proxy.port)
    c.send(get(proxy, origin, "/old", version="HTTP/1.0"))
    r = c.read_response()
    assert r.body == b"hello /old"
    assert c.is_closed()
    c = RawClient(proxy.port)
    c.send(get(proxy, origin, "/ka", "Connection: keep-alive\r\n", version="HTTP/1.0"))
    r = c.read_response()
    assert r.header("connection") == "keep-alive"
    c.send(get(proxy, origin, "/ka2", "Connection: keep-alive\r\n", version="HTTP/1.0"))
    assert c.read_response().body == b"hello /ka2"


def test_interim_103_is_relayed(proxy, origin):
    c = RawClient(proxy.port)
    c.send(get(proxy, origin, "/103"))
    assert c.read_response().status == 103
    assert c.read_response().body == b"ok"


def test_expect_100_continue(proxy, origin):
    body = b"z" * 5000
    c = RawClient(proxy.port)
    c.send(f"POST {origin.base}/echo HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
           "Expect: 100-continue\r\n\r\n".encode())
    assert c.read_response().status == 100
    c.send(body)
    assert c.read_response().body.startswith(b"5000 ")


def test_expect_100_continue_rejected_by_origin(proxy, origin):
    origin.expect_behaviour = "reject"
    c = RawClient(proxy.port)
    c.send(f"POST {origin.base}/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n"
           "Expect: 100-continue\r\n\r\n".encode())
    r = c.read_response()
    assert r.status == 417
    assert r.header("connection") == "close"  # the unsent body would be mistaken for a request
    assert c.is_closed()


def test_expect_100_continue_with_a_silent_origin(proxy, origin):
    origin.expect_behaviour = "silent"
    c = RawClient(proxy.port)
    c.send(f"POST {origin.base}/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n".encode())
    assert c.read_response().status == 100  # ours, after a short wait
    c.send(b"abc")
    assert c.read_response().body.startswith(b"3 ")


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_large_download_is_byte_exact(proxy, origin):
    out = subprocess.run(["curl", "-s", "-x", proxy.url, f"{origin.base}/size/5000000", "-o", "-"],
                         capture_output=True, timeout=30)
    assert out.stdout == b"x" * 5_000_000


def test_upstream_dying_mid_body_aborts_the_client(proxy, origin):
    c = RawClient(proxy.port)
    c.send(get(proxy, origin, "/die"))
    head = c._until(b"\r\n\r\n")
    assert b"Content-Length: 100000" in head
    got = b""
    with pytest.raises((EOFError, ConnectionResetError)):
        while True:
            c._more()
            got = c.buf
    assert len(got) < 100000


def test_upstream_dying_mid_chunked_body_sends_no_last_chunk(proxy, origin):
    c = RawClient(proxy.port)
    c.send(get(proxy, origin, "/die-chunked"))
    data = b""
    try:
        while True:
            chunk = c.sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except ConnectionResetError:
        pass
    assert b"hello" in data
    assert not data.endswith(b"0\r\n\r\n")


def test_refused_connection_is_502(proxy):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    c = RawClient(proxy.port)
    c.send(f"GET http://127.0.0.1:{port}/ HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    r = c.read_response()
    assert r.status == 502
    assert r.header("cache-control") == "no-store"
    assert b"<html" in r.body


def test_dns_failure_is_502(proxy):
    c = RawClient(proxy.port)
    c.send(b"GET http://no-such-host.invalid/ HTTP/1.1\r\nHost: x\r\n\r\n")
    r = c.read_response()
    assert r.status == 502
    records = proxy.recorder.wait_for(1)
    assert records[-1].error_kind == "dns"


def test_upstream_response_timeout_is_504(make_proxy, origin):
    proxy = make_proxy(response_timeout=0.5)
    c = RawClient(proxy.port)
    t0 = time.monotonic()
    c.send(get(proxy, origin, "/hang"))
    r = c.read_response()
    assert r.status == 504
    assert time.monotonic() - t0 < 5


def test_invalid_upstream_framing_is_502(proxy, origin):
    c = RawClient(proxy.port)
    c.send(get(proxy, origin, "/bad-cl"))
    assert c.read_response().status == 502


def test_records_are_made(proxy, origin):
    c = RawClient(proxy.port)
    c.send(get(proxy, origin, "/rec"))
    c.read_response()
    (record,) = proxy.recorder.wait_for(1)
    assert (record.method, record.host, record.port, record.target, record.status, record.action) == (
        "GET", "127.0.0.1", origin.port, "/rec", 200, "allowed")
    assert record.bytes_to_client > len("hello /rec")
    assert record.bytes_from_client > 0
    assert record.upstream_addr == "127.0.0.1"
