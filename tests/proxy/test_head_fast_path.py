"""The fast path of head parsing (one regex over every field line) agrees with the
line-by-line parser on every head: the same fields, or the same error and status."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from guardian.proxy import http1
from guardian.proxy.http1 import ProtocolError

PIECES = [b"a", b"B", b":", b" ", b"\t", b"\r", b"\n", b"\r\n", b"\x00", b"\x7f", b"\xe9", b"-", b"/", b"1", b"\x01"]
LINES = [b"Host: x\r\n", b"X-A:  v \t\r\n", b"Content-Length: 5\r\n", b"A: 1\r\nA: 2\r\n", b"Host : x\r\n",
         b" folded\r\n", b"\r\n"]
REQUEST_LINES = [b"GET http://a/ HTTP/1.1\r\n", b"GET / HTTP/1.0\r\n", b"CONNECT a:443 HTTP/1.1\r\n",
                 b"GET / HTTP/2.0\r\n", b"G T / HTTP/1.1\r\n", b"GET\r\n", b"GET / HTTP/1.1\n"]
STATUS_LINES = [b"HTTP/1.1 200 OK\r\n", b"HTTP/1.0 404 Not\tFound\r\n", b"HTTP/2.0 200 OK\r\n", b"HTTP/1.1 200\r\n",
                b"HTTP/1.1 20 OK\r\n"]
fields = st.lists(st.one_of(st.sampled_from(LINES),
                            st.lists(st.sampled_from(PIECES), max_size=12).map(lambda p: b"".join(p) + b"\r\n")),
                  max_size=5).map(b"".join)


def outcome(parse, head: bytes) -> tuple:
    try:
        parsed = parse(head)
    except ProtocolError as exc:
        return type(exc), exc.status, exc.message
    return tuple(getattr(parsed, field.name) for field in dataclasses.fields(parsed))


@settings(max_examples=3000, deadline=None)
@given(st.sampled_from(REQUEST_LINES), fields)
def test_request_heads_parse_alike(first: bytes, lines: bytes) -> None:
    head = first + lines + b"\r\n"
    assert outcome(http1.parse_request_head, head) == outcome(http1._parse_request_head_slowly, head)


@settings(max_examples=3000, deadline=None)
@given(st.sampled_from(STATUS_LINES), fields)
def test_response_heads_parse_alike(first: bytes, lines: bytes) -> None:
    head = first + lines + b"\r\n"
    assert outcome(http1.parse_response_head, head) == outcome(http1._parse_response_head_slowly, head)


def test_the_field_count_limit_holds_on_both_paths() -> None:
    for count, status in ((100, None), (101, 431)):
        head = b"GET / HTTP/1.1\r\n" + b"A: b\r\n" * count + b"\r\n"
        result = outcome(http1.parse_request_head, head)
        assert result == outcome(http1._parse_request_head_slowly, head)
        assert (result[1] if status else None) == status
