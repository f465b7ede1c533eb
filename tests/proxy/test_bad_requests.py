"""Every malformed request gets the right 4xx, a closed connection, and reaches no origin."""

from __future__ import annotations

import time

import pytest

from tests.support.client import RawClient

ORIGIN = "http://127.0.0.1:{port}"

CASES = {
    "content-length and transfer-encoding": (
        "POST {o}/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    "differing content-length": (
        "POST {o}/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
    "signed content-length": ("POST {o}/echo HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc", 400),
    "negative content-length": ("POST {o}/echo HTTP/1.1\r\nHost: x\r\nContent-Length: -3\r\n\r\nabc", 400),
    "underscore content-length": ("POST {o}/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1_0\r\n\r\nabc", 400),
    "hex content-length": ("POST {o}/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0x3\r\n\r\nabc", 400),
    "transfer-encoding gzip": ("POST {o}/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
    "transfer-encoding gzip, chunked": (
        "POST {o}/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 400),
    "transfer-encoding chunked twice": (
        "POST {o}/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    "invalid chunk size": (
        "POST {o}/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 400),
    "missing CRLF after chunk data": (
        "POST {o}/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXX0\r\n\r\n", 400),
    "whitespace before colon": ("GET {o}/ HTTP/1.1\r\nHost : x\r\n\r\n", 400),
    "obs-fold": ("GET {o}/ HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  continued\r\n\r\n", 400),
    "NUL in header": ("GET {o}/ HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", 400),
    "bare CR in header": ("GET {o}/ HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", 400),
    "control byte in header": ("GET {o}/ HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n", 400),
    "bare LF line end": ("GET {o}/ HTTP/1.1\nHost: x\r\n\r\n", 400),
    "double space in request line": ("GET  {o}/ HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    "HTTP/0.9": ("GET {o}/\r\n\r\n", 400),
    "lower-case version": ("GET {o}/ http/1.1\r\nHost: x\r\n\r\n", 400),
    "TLS on the plain port": ("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),
    "HTTP/2.0": ("GET {o}/ HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    "HTTP/1.2": ("GET {o}/ HTTP/1.2\r\nHost: x\r\n\r\n", 505),
    "target over 8 KiB": ("GET {o}/" + "a" * 8300 + " HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    "header section over 64 KiB": ("GET {o}/ HTTP/1.1\r\nHost: x\r\n" + "X-Big: " + "b" * 70000 + "\r\n\r\n", 431),
    "more than 100 fields": ("GET {o}/ HTTP/1.1\r\nHost: x\r\n" + "".join(f"X-{i}: v\r\n" for i in range(101))
                             + "\r\n", 431),
    "origin-form to a proxy": ("GET / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    "userinfo in URI": ("GET http://user@127.0.0.1:{port}/ HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    "bad port": ("GET http://127.0.0.1:99999/ HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    "transfer-encoding in HTTP/1.0": (
        "POST {o}/echo HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_request(name, proxy, origin):
    template, status = CASES[name]
    raw = template.replace("{o}", ORIGIN).replace("{port}", str(origin.port)).format(port=origin.port)
    c = RawClient(proxy.port)
    c.send(raw.encode("latin-1"))
    r = c.read_response()
    assert r.status == status, r.body[:300]
    assert r.header("connection") == "close"
    assert r.header("cache-control") == "no-store"
    assert c.is_closed()
    time.sleep(0.05)
    assert bytes(origin.stats.raw) == b"", "the origin received bytes"


def test_broken_chunk_deep_in_a_large_body_never_completes_the_request(proxy, origin):
    c = RawClient(proxy.port)
    c.send(f"POST {origin.base}/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
    c.send(b"10000\r\n" + b"a" * 0x10000 + b"\r\n" + b"10000\r\n" + b"b" * 0x10000 + b"XX")
    r = c.read_response()
    assert r.status == 400
    assert c.is_closed()
    time.sleep(0.1)
    assert origin.stats.requests == [] or all(len(req.body) == 0 for req in origin.stats.requests)
    assert b"0\r\n\r\n" not in bytes(origin.stats.raw)


def test_slow_head_times_out(make_proxy, origin):
    proxy = make_proxy(head_timeout=0.5)
    c = RawClient(proxy.port)
    c.send(f"GET {origin.base}/ HTTP/1.1\r\n".encode())
    t0 = time.monotonic()
    for _ in range(3):  # trickling bytes does not extend the deadline
        time.sleep(0.2)
        try:
            c.send(b"X-A: 1\r\n")
        except OSError:
            break
    r = c.read_response()
    assert r.status == 408
    assert time.monotonic() - t0 < 3
    assert c.is_closed()
    assert bytes(origin.stats.raw) == b""


def test_idle_keepalive_connection_is_closed(make_proxy, origin):
    proxy = make_proxy(idle_timeout=0.5)
    c = RawClient(proxy.port)
    c.send(f"GET {origin.base}/a HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert c.read_response().status == 200
    assert c.is_closed(timeout=3)
