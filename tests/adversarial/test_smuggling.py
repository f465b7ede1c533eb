"""The smuggling table: exact answers to malformed messages, from a client and from an origin.

Request side: every malformed request gets its exact 4xx, a closed connection, and no
byte reaches the origin. Response side: every malformed response is the origin's fault,
so the client gets 502 and the record says `upstream` (never 400/431 `bad_request`).
Also here: one Content-Length line for identical repeats, no client X-Forwarded-For,
and upgrades limited to the ports CONNECT may use.
"""

from __future__ import annotations

import time

import pytest

from tests.support.client import RawClient

# name -> (raw request after "METHOD ", status). {o} is the origin's URL base.
REQUESTS = {
    "header of spaces then a control byte": ("GET {o}/ HTTP/1.1\r\nX:" + " " * 60000 + "\x01\r\n\r\n", 400),
    "header of tabs then a control byte": ("GET {o}/ HTTP/1.1\r\nX:" + "\t" * 30000 + "\x0b\r\n\r\n", 400),
    "chunk line of semicolons then a control byte": (
        "POST {o}/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1" + ";" * 4000 + "\x01\r\na\r\n0\r\n\r\n", 400),
    "chunk line of spaced semicolons": (
        "POST {o}/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1" + " ; " * 1300 + "\x01\r\na\r\n0\r\n\r\n", 400),
    "content-length and transfer-encoding": (
        "POST {o}/ HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    "differing content-lengths in one line": ("POST {o}/ HTTP/1.1\r\nContent-Length: 3, 4\r\n\r\nabcd", 400),
    "differing content-lengths in two lines": (
        "POST {o}/ HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
    "transfer-encoding chunked, identity": (
        "POST {o}/ HTTP/1.1\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 400),
    "transfer-encoding with a space before the colon": (
        "POST {o}/ HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400),
    "transfer-encoding folded": ("POST {o}/ HTTP/1.1\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n", 400),
    "chunk size over 16 digits": (
        "POST {o}/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n00000000000000001\r\na\r\n0\r\n\r\n", 400),
    "chunk size line with a bare LF": (
        "POST {o}/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\na\r\n0\r\n\r\n", 400),
    "bare LF in the head": ("GET {o}/ HTTP/1.1\nX: 1\r\n\r\n", 400),
    "NUL in a header": ("GET {o}/ HTTP/1.1\r\nX: a\x00b\r\n\r\n", 400),
    "more than 100 fields": ("GET {o}/ HTTP/1.1\r\n" + "".join(f"X-{i}: v\r\n" for i in range(101)) + "\r\n", 431),
    "header section over 64 KiB": ("GET {o}/ HTTP/1.1\r\nX: " + "b" * 70000 + "\r\n\r\n", 431),
    "target over 8 KiB": ("GET {o}/" + "a" * 8300 + " HTTP/1.1\r\n\r\n", 414),
    "target ending in a fragment": ("GET {o}/" + "a" * 8000 + "# HTTP/1.1\r\n\r\n", 400),
    "HTTP/1.2": ("GET {o}/ HTTP/1.2\r\n\r\n", 505),
}


@pytest.mark.parametrize("name", list(REQUESTS))
def test_malformed_request_gets_its_exact_status_and_reaches_no_origin(name, proxy, raw_origin):
    template, status = REQUESTS[name]
    c = RawClient(proxy.port)
    t0 = time.monotonic()
    c.send(template.replace("{o}", f"http://127.0.0.1:{raw_origin.port}").encode("latin-1"))
    r = c.read_response()
    assert time.monotonic() - t0 < 2, "parsing took too long"
    assert r.status == status, r.body[:200]
    assert c.is_closed()
    (record,) = proxy.recorder.wait_for(1)
    assert record.error_kind == "bad_request"
    assert raw_origin.heads == []


# name -> the origin's raw answer; every one is the origin's fault: 502, `upstream`.
BAD_RESPONSES = {
    "bare LF in the head": b"HTTP/1.1 200 OK\nContent-Length: 2\r\n\r\nok",
    "obs-fold": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: 1\r\n  folded\r\n\r\nok",
    "more than 100 fields": b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(101))
                            + b"Content-Length: 2\r\n\r\nok",
    "whitespace before a colon": b"HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok",
    "header of spaces then a control byte": b"HTTP/1.1 200 OK\r\nX:" + b" " * 60000 + b"\x01\r\n\r\n",
    "NUL in a header": b"HTTP/1.1 200 OK\r\nX: a\x00b\r\nContent-Length: 2\r\n\r\nok",
    "differing content-lengths": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!",
    "signed content-length": b"HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok",
    "transfer-encoding gzip, chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    "malformed status line": b"HTTP/1.1 2OO OK\r\nContent-Length: 2\r\n\r\nok",
    "HTTP/2 status line": b"HTTP/2.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
    "head over 64 KiB": b"HTTP/1.1 200 OK\r\nX: " + b"b" * 80000 + b"\r\n\r\n",
}


@pytest.mark.parametrize("name", list(BAD_RESPONSES))
def test_malformed_response_is_the_origins_fault(name, proxy, raw_origin):
    raw_origin.answers["bad"] = BAD_RESPONSES[name]
    c = RawClient(proxy.port)
    t0 = time.monotonic()
    c.send(f"GET {raw_origin.url('bad')} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    r = c.read_response()
    assert time.monotonic() - t0 < 2, "parsing took too long"
    assert r.status == 502, r.body[:200]
    assert b"website sent an invalid response" in r.body
    (record,) = proxy.recorder.wait_for(1)
    assert (record.status, record.action, record.error_kind) == (502, "error", "upstream")


@pytest.mark.parametrize("chunk_line", [b"1" + b";" * 4000 + b"\x01", b"zz", b"1 ; a b"])
def test_malformed_chunk_in_a_response_body_aborts_the_client(chunk_line, proxy, raw_origin):
    raw_origin.answers["bad"] = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
                                 + chunk_line + b"\r\nworld\r\n0\r\n\r\n")
    c = RawClient(proxy.port)
    c.send(f"GET {raw_origin.url('bad')} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    with pytest.raises((EOFError, ConnectionResetError)):
        c.read_response()
    (record,) = proxy.recorder.wait_for(1)
    assert (record.action, record.error_kind) == ("error", "upstream")


def test_content_length_and_chunked_response_is_dechunked_and_not_reused(proxy, raw_origin):
    raw_origin.answers["both"] = (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n"
                                  b"5\r\nhello\r\n0\r\n\r\n")
    c = RawClient(proxy.port)
    c.send(f"GET {raw_origin.url('both')} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    r = c.read_response()
    assert (r.status, r.body, r.header("content-length")) == (200, b"hello", None)


def test_identical_content_lengths_go_on_as_one_line_both_ways(proxy, raw_origin):
    raw_origin.answers["dup"] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok"
    c = RawClient(proxy.port)
    c.send(f"POST {raw_origin.url('dup')} HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n"
           f"\r\nabc".encode())
    r = c.read_response()
    assert (r.status, r.body) == (200, b"ok")
    assert [k for k, _ in r.headers].count("Content-Length") == 1
    assert r.header("content-length") == "2"
    (head,) = raw_origin.heads
    assert head.lower().count(b"content-length") == 1
    assert b"Content-Length: 3\r\n" in head


def test_a_content_length_with_leading_zeros_goes_on_as_its_number(proxy, raw_origin):
    raw_origin.answers["zeros"] = b"HTTP/1.1 200 OK\r\nContent-Length: 0002\r\n\r\nok"
    c = RawClient(proxy.port)
    c.send(f"POST {raw_origin.url('zeros')} HTTP/1.1\r\nHost: x\r\nContent-Length: 03\r\n\r\nabc".encode())
    r = c.read_response()
    assert (r.status, r.body, r.header("content-length")) == (200, b"ok", "2")
    (head,) = raw_origin.heads
    assert b"Content-Length: 3\r\n" in head and b"Content-Length: 03" not in head


def test_client_x_forwarded_for_is_dropped(proxy, raw_origin):
    raw_origin.answers["h"] = b"HTTP/1.1 204 No Content\r\n\r\n"
    c = RawClient(proxy.port)
    c.send(f"GET {raw_origin.url('h')} HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.9.9.9\r\n"
           f"x-forwarded-for: 10.8.8.8\r\n\r\n".encode())
    assert c.read_response().status == 204
    (head,) = raw_origin.heads
    assert b"forwarded-for" not in head.lower()


def test_forwarded_for_sends_one_line_ending_in_the_real_client(make_proxy, raw_origin):
    proxy = make_proxy(forwarded_for=True)
    raw_origin.answers["h"] = b"HTTP/1.1 204 No Content\r\n\r\n"
    c = RawClient(proxy.port)
    c.send(f"GET {raw_origin.url('h')} HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.9.9.9\r\n\r\n".encode())
    assert c.read_response().status == 204
    (head,) = raw_origin.heads
    assert head.lower().count(b"x-forwarded-for") == 1
    assert b"X-Forwarded-For: 10.9.9.9, 127.0.0.1\r\n" in head


UPGRADE = ("GET {url} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
           "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")


def test_upgrade_to_a_port_connect_may_not_use_is_refused(proxy, raw_origin):
    raw_origin.answers["ws"] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    c = RawClient(proxy.port)
    c.send(UPGRADE.format(url=raw_origin.url("ws")).encode())
    r = c.read_response()
    assert r.status == 403
    assert b"443" in r.body
    assert raw_origin.heads == []
    (record,) = proxy.recorder.wait_for(1)
    assert (record.action, record.reason) == ("blocked", f"An upgrade to port {raw_origin.port} is not allowed")


def test_upgrade_to_a_connect_port_is_relayed(make_proxy, raw_origin):
    proxy = make_proxy(connect_ports=(443, raw_origin.port))
    raw_origin.answers["ws"] = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade"
                                b"\r\n\r\nfrom-origin")
    c = RawClient(proxy.port)
    c.send(UPGRADE.format(url=raw_origin.url("ws")).encode())
    r = c.read_response()
    assert r.status == 101
    assert c._exact(11) == b"from-origin"


def test_plain_request_to_any_port_is_still_forwarded(proxy, raw_origin):
    raw_origin.answers["p"] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    c = RawClient(proxy.port)
    c.send(f"GET {raw_origin.url('p')} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert c.read_response().body == b"ok"
