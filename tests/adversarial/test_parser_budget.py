"""Every parser that sees a client's, an origin's or a parent's bytes runs in linear time.

Two halves. The budget: each parser gets adversarial input of the largest size Guardian
accepts (the shapes that made the old regexes backtrack: long runs of whitespace, many
semicolons, an unmatched quote, a fragment at the end) and must finish within 50 ms of
CPU. Thread CPU time rather than wall time, so eight test runs sharing two cores do not
make it flaky, and the best of three. The fuzzing: hypothesis drives the request and
response head parsers and the chunked decoder with bounded examples and deadlines; a
parser either returns a result or raises ProtocolError, never anything else, and a
well-formed message comes back exactly as it was built.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from guardian.cache.rules import parse_cache_control
from guardian.logstore.privacy import without_excerpts
from guardian.policy.filetypes import disposition_file_name
from guardian.policy.privacy import origin_of, url_host
from guardian.policy.safesearch import SafeSearch
from guardian.proxy import handler
from guardian.proxy.framing import ChunkedBody
from guardian.proxy.http1 import (
    MAX_HEAD,
    MAX_TARGET,
    ProtocolError,
    UpstreamProtocolError,
    comma_tokens,
    content_length,
    parse_chunk_line,
    parse_request_head,
    parse_response_head,
)
from guardian.proxy.stream import BufferedSocket, HeadTooLarge, PeerClosed

BUDGET_SECONDS = 0.050
CHUNK_LINE_MAX = 4096  # BufferedSocket.read_line's default limit, what ChunkedBody reads with
FIELD_ROOM = MAX_HEAD - 64  # one field line as long as the header section allows


def cpu_seconds(call: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.thread_time()
        with contextlib.suppress(ProtocolError):
            call()
        best = min(best, time.thread_time() - start)
    return best


def request(fields: bytes, target: bytes = b"http://example.test/") -> bytes:
    return b"GET " + target + b" HTTP/1.1\r\nHost: example.test\r\n" + fields + b"\r\n\r\n"


def response(fields: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\n" + fields + b"\r\n\r\n"


SPACES = b" " * FIELD_ROOM
TABS = b"\t " * (FIELD_ROOM // 2)
# The shapes that froze the proxy (issue 14 items 1 and 2), at the largest size allowed.
BUDGET_CASES: dict[str, Callable[[], object]] = {
    "request field: spaces then a control byte": lambda: parse_request_head(request(b"X:" + SPACES + b"\x01")),
    "request field: tabs and spaces then a control byte":
        lambda: parse_request_head(request(b"X:" + TABS + b"\x01")),
    "request field: spaces, a byte, spaces, a control byte":
        lambda: parse_request_head(request(b"X:" + SPACES[:30000] + b"a" + SPACES[:30000] + b"\x7f")),
    "request field: spaces before the colon": lambda: parse_request_head(request(b"X" + SPACES + b":v")),
    "request field: many colons": lambda: parse_request_head(request(b"X" + b":" * FIELD_ROOM + b"\x00")),
    "request: 100 fields of spaces": lambda: parse_request_head(
        request(b"\r\n".join(b"X%d:" % i + b" " * 600 + b"\x01" for i in range(100)))),
    "request line: long target ending in a fragment": lambda: parse_request_head(
        b"GET http://" + b"a" * (MAX_TARGET - 20) + b"# HTTP/1.1\r\n\r\n"),
    "request line: spaces in the target": lambda: parse_request_head(
        b"GET " + b"a " * (MAX_TARGET // 2) + b"HTTP/1.1\r\n\r\n"),
    "response field: spaces then a control byte": lambda: parse_response_head(response(b"X:" + SPACES + b"\x01")),
    "status line: long reason then a control byte": lambda: parse_response_head(
        b"HTTP/1.1 200 " + b" " * FIELD_ROOM + b"\x01\r\n\r\n"),
    "chunk line: many semicolons then a control byte":
        lambda: parse_chunk_line(b"1" + b";" * (CHUNK_LINE_MAX - 2) + b"\x01"),
    "chunk line: semicolons and spaces then a control byte":
        lambda: parse_chunk_line(b"1" + b" ; " * (CHUNK_LINE_MAX // 3 - 1) + b"\x01"),
    "chunk line: equals signs and spaces":
        lambda: parse_chunk_line(b"1;" + b"a = " * (CHUNK_LINE_MAX // 4 - 1) + b"\x01"),
    "content-length: many commas": lambda: content_length({"content-length": "1," * (FIELD_ROOM // 2) + "x"}),
    "connection tokens: many commas": lambda: comma_tokens(", " * (FIELD_ROOM // 2)),
    "absolute target: authority then a fragment":
        lambda: handler._ABSOLUTE.fullmatch("http://" + "a" * (MAX_TARGET - 8) + "#"),
    "absolute target: path then a fragment":
        lambda: handler._ABSOLUTE.fullmatch("http://" + "a" * 4000 + "/" * 4000 + "#"),
    "authority: long host name with a bad last byte":
        lambda: handler.parse_authority("a-" * (MAX_TARGET // 2) + "!", 80),
    "authority: bracketed address never closed": lambda: handler.parse_authority("[" + ":" * MAX_TARGET, 80),
    "cache-control: unclosed quoted string of escapes": lambda: parse_cache_control(
        [("Cache-Control", 'a="' + "\\a" * (FIELD_ROOM // 2))]),
    "cache-control: many unclosed quotes": lambda: parse_cache_control(
        [("Cache-Control", 'a="b=' * (FIELD_ROOM // 5))]),
    "cache-control: equals and spaces": lambda: parse_cache_control([("Cache-Control", "a = " * (FIELD_ROOM // 4))]),
    "log reason excerpts: many unclosed quotes": lambda: without_excerpts("b'\\'" * (FIELD_ROOM // 4) + '"x'),
    "content-disposition: many filename*= without quotes":
        lambda: disposition_file_name("filename*=" * (FIELD_ROOM // 10)),
    "content-disposition: filename then spaces": lambda: disposition_file_name("filename" + " " * FIELD_ROOM),
    "referer host: long user-info without @": lambda: url_host("http://" + "a" * FIELD_ROOM + "!"),
    "referer origin: many @": lambda: origin_of("https://" + "a@" * (FIELD_ROOM // 2)),
    "safe search: long google-like host": lambda: SafeSearch(True, "strict").connect_host(
        "www.google." * 20 + "x" * 200),
    "safe search: long query": lambda: SafeSearch.target("safe.duckduckgo.com", "/?" + "q=&" * (MAX_TARGET // 3)),
}


@pytest.mark.parametrize("name", list(BUDGET_CASES))
def test_parser_finishes_within_budget_on_maximum_adversarial_input(name):
    used = cpu_seconds(BUDGET_CASES[name])
    assert used < BUDGET_SECONDS, f"{name}: {used * 1000:.1f} ms of CPU"


def test_malformed_field_lines_are_still_refused_with_the_right_reason():
    with pytest.raises(ProtocolError, match="whitespace before a header colon"):
        parse_request_head(request(b"Host : x"))
    with pytest.raises(ProtocolError, match="NUL byte"):
        parse_request_head(request(b"X: a\x00b"))
    with pytest.raises(ProtocolError, match="malformed header line"):
        parse_request_head(request(b"X:" + b" " * 3000 + b"\x01"))
    with pytest.raises(ProtocolError, match="malformed header line"):
        parse_request_head(request(b": no name"))
    assert parse_request_head(request(b"X-A: \t spaced  value \t")).get("x-a") == "spaced  value"
    assert parse_request_head(request(b"X-Empty:")).get("x-empty") == ""


def test_response_head_faults_are_the_origins():
    for raw in (response(b"X:" + b" " * 3000 + b"\x01"), b"HTTP/1.1 200 OK\nX: a\r\n\r\n",
                response(b"X: 1\r\n folded"), response(b"\r\n".join(b"X-%d: v" % i for i in range(101))),
                b"HTTP/2 200 OK\r\n\r\n"):
        with pytest.raises(UpstreamProtocolError) as caught:
            parse_response_head(raw)
        assert caught.value.status == 502


@pytest.mark.parametrize("line, size", [
    (b"0", 0), (b"1a", 26), (b"FF ", 255), (b"5;ext", 5), (b"5 ; name = value ; other", 5), (b"5;a=b=c", 5),
    (b"5;;", 5), (b"0000000000000010", 16),
])
def test_chunk_lines_the_grammar_allows(line, size):
    assert parse_chunk_line(line) == size


@pytest.mark.parametrize("line", [
    b"", b"g", b" 5", b"5 x", b"5;a b", b"5;a=b c", b"5;\x01", b"5\x00", b"00000000000000010", b"-5", b"0x5",
])
def test_chunk_lines_the_grammar_refuses(line):
    with pytest.raises(ProtocolError):
        parse_chunk_line(line)


# ---------------------------------------------------------------------------- fuzzing

FUZZ = settings(max_examples=150, deadline=500, suppress_health_check=[HealthCheck.too_slow])
_TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
field_names = st.text(alphabet=_TCHARS, min_size=1, max_size=20)
field_values = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7e), max_size=40).map(
    lambda v: v.strip())
hostile_bytes = st.binary(max_size=600) | st.builds(
    lambda a, n, b: a + b" " * n + b, st.binary(max_size=8), st.integers(0, 3000), st.binary(max_size=4))


@FUZZ
@given(hostile_bytes)
@example(b"X:" + b" " * 2500 + b"\x01")
@example(b"X:" + b"\t" * 2500 + b"\x0b")
def test_fuzz_request_head_parser_raises_only_protocol_errors(junk):
    start = time.thread_time()
    with contextlib.suppress(ProtocolError):
        parse_request_head(request(junk))
    assert time.thread_time() - start < BUDGET_SECONDS


@FUZZ
@given(hostile_bytes)
@example(b"X:" + b" " * 2500 + b"\x01")
def test_fuzz_response_head_parser_raises_only_upstream_errors(junk):
    start = time.thread_time()
    with contextlib.suppress(UpstreamProtocolError):
        parse_response_head(response(junk))
    assert time.thread_time() - start < BUDGET_SECONDS


@FUZZ
@given(st.lists(st.tuples(field_names, field_values), min_size=1, max_size=30))
def test_fuzz_well_formed_fields_come_back_as_built(pairs):
    raw = b"\r\n".join(f"{k}:  {v} ".encode() for k, v in pairs)
    for parsed in (parse_request_head(request(raw)).headers[1:], parse_response_head(response(raw)).headers):
        assert parsed == [(k, v) for k, v in pairs]


def decode_chunked(wire: bytes) -> bytes:
    """De-chunk `wire` through the real ChunkedBody reading a real socket."""
    ours, theirs = socket.socketpair()
    try:
        theirs.sendall(wire)
        theirs.shutdown(socket.SHUT_WR)
        return b"".join(ChunkedBody(BufferedSocket(ours)).chunks(2.0))
    finally:
        ours.close()
        theirs.close()


extensions = st.lists(st.tuples(st.sampled_from(["", " ", "\t "]), field_names, st.none() | field_names),
                      max_size=4).map(lambda exts: "".join(
                          f"{ws};{ws}{name}" + ("" if value is None else f"{ws}={ws}{value}")
                          for ws, name, value in exts).encode())


@FUZZ
@given(st.lists(st.tuples(st.binary(min_size=1, max_size=300), extensions), max_size=8))
def test_fuzz_chunked_decoder_returns_the_payload(chunks):
    wire = b"".join(b"%x%b\r\n%b\r\n" % (len(data), ext, data) for data, ext in chunks) + b"0\r\nT: 1\r\n\r\n"
    assert decode_chunked(wire) == b"".join(data for data, _ in chunks)


@FUZZ
@given(st.binary(max_size=300))
@example(b"1" + b";" * 4000 + b"\x01\r\n")
@example(b"1" + b" ;" * 1500 + b"\x01\r\na\r\n0\r\n\r\n")
def test_fuzz_chunked_decoder_raises_only_protocol_errors(junk):
    start = time.thread_time()
    with contextlib.suppress(ProtocolError, PeerClosed, HeadTooLarge):
        decode_chunked(junk)
    assert time.thread_time() - start < BUDGET_SECONDS
