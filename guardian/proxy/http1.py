"""HTTP/1.1 message heads: the grammar, strict parsing and re-serialisation.

Strategy: the grammar of RFC 9110/9112 is written once below as regexes, the way the
RFC writes its ABNF. A head is parsed in one pass over its lines; anything the grammar
does not allow is a `ProtocolError` carrying the status to answer (400, 414, 431, 505)
and what was wrong. Nothing parsed here is ever forwarded as the bytes that came in:
the forwarder rebuilds every head from the parsed fields, so a quirk we did not catch
cannot be smuggled through byte-for-byte.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_TARGET = 8 * 1024
MAX_HEAD = 64 * 1024
MAX_FIELDS = 100

# RFC 9110 §5.6.2: token = 1*tchar
_TCHAR = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]"
TOKEN = re.compile(rf"{_TCHAR}+")
# request-line = method SP request-target SP HTTP-version (exactly one space each)
_REQUEST_LINE = re.compile(rb"(" + _TCHAR.encode() + rb"+) ([\x21-\x7e]+) (HTTP/\d\.\d)")
_STATUS_LINE = re.compile(rb"HTTP/(\d)\.(\d) (\d{3})(?: ([\t\x20-\x7e\x80-\xff]*))?")
# field-line = field-name ":" OWS field-value OWS; field-value has no controls but HTAB
_FIELD_LINE = re.compile(rb"(" + _TCHAR.encode() + rb"+):[ \t]*([\t\x20-\x7e\x80-\xff]*?)[ \t]*")
_DIGITS = re.compile(r"[0-9]+")
# chunk = chunk-size [ chunk-ext ] CRLF; chunk-ext with quoted strings kept simple and safe
_CHUNK_LINE = re.compile(rb"([0-9A-Fa-f]{1,16})((?:[ \t]*;[ \t]*[\x21-\x7e]*(?:[ \t]*=[ \t]*[\x21-\x7e]*)?)*)[ \t]*")

HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-connection", "proxy-authorization", "proxy-authenticate",
    "te", "trailer", "transfer-encoding", "upgrade",
})
# `Connection: close, host` must not let a client strip what framing and routing need.
NEVER_REMOVED = frozenset({"host", "content-length", "transfer-encoding", "via"})


class ProtocolError(Exception):
    """The peer broke HTTP/1.1. `status` is what we answer when the peer is a client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(slots=True)
class RequestHead:
    method: str
    target: str
    version: str  # "HTTP/1.1" or "HTTP/1.0"
    headers: list[tuple[str, str]]  # names as sent, values stripped
    fields: dict[str, str]  # lower-case name -> value (repeats joined with ", ")

    def get(self, name: str) -> str | None:
        """The value of the lower-case header `name`."""
        return self.fields.get(name)


@dataclass(slots=True)
class ResponseHead:
    version: str
    status: int
    reason: str
    headers: list[tuple[str, str]]
    fields: dict[str, str]

    def get(self, name: str) -> str | None:
        return self.fields.get(name)


def comma_tokens(value: str | None) -> list[str]:
    if not value:
        return []
    return [t.strip().lower() for t in value.split(",") if t.strip()]


def _split_lines(head: bytes) -> list[bytes]:
    """Lines of a head that ends in CRLF CRLF; a bare CR or LF anywhere is an error."""
    lines = head[:-4].split(b"\r\n")
    for line in lines:
        if b"\r" in line or b"\n" in line:
            raise ProtocolError(400, "bare CR or LF in the message head")
    return lines


def _parse_fields(lines: list[bytes]) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """The fields in order, and indexed by lower-case name (RFC 9110 §5.3: repeats join with ', ')."""
    if len(lines) > MAX_FIELDS:
        raise ProtocolError(431, f"more than {MAX_FIELDS} header fields")
    headers = []
    fields: dict[str, str] = {}
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            raise ProtocolError(400, "obsolete line folding in a header")
        m = _FIELD_LINE.fullmatch(line)
        if m is None:
            if b"\x00" in line:
                raise ProtocolError(400, "NUL byte in a header")
            colon = line.find(b":")
            if colon > 0 and line[colon - 1:colon] in (b" ", b"\t"):
                raise ProtocolError(400, "whitespace before a header colon")
            raise ProtocolError(400, f"malformed header line {line[:80]!r}")
        name, value = m.group(1).decode("ascii"), m.group(2).decode("latin-1")
        headers.append((name, value))
        key = name.lower()
        fields[key] = f"{fields[key]}, {value}" if key in fields else value
    return headers, fields


def parse_request_head(head: bytes) -> RequestHead:
    """Parse a request head (request line, fields, ending in CRLF CRLF)."""
    if len(head) > MAX_HEAD + MAX_TARGET:
        raise ProtocolError(431, "request head too large")
    lines = _split_lines(head)
    request_line = lines[0]
    m = _REQUEST_LINE.fullmatch(request_line)
    if m is None:
        if request_line[:1] == b"\x16":
            raise ProtocolError(400, "TLS handshake sent to the plain HTTP proxy port")
        parts = request_line.split(b" ")
        if len(parts) == 3 and len(parts[1]) > MAX_TARGET:
            raise ProtocolError(414, "request target too long")
        if len(parts) == 2 and TOKEN.fullmatch(parts[0].decode("latin-1")):
            raise ProtocolError(400, "HTTP/0.9 requests are not supported")
        raise ProtocolError(400, f"malformed request line {request_line[:80]!r}")
    method, target, version = (g.decode("latin-1") for g in m.groups())
    if len(target) > MAX_TARGET:
        raise ProtocolError(414, "request target too long")
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise ProtocolError(505, f"{version} is not supported; use HTTP/1.1")
    if len(head) - len(request_line) > MAX_HEAD:
        raise ProtocolError(431, "header section over 64 KiB")
    return RequestHead(method, target, version, *_parse_fields(lines[1:]))


def parse_response_head(head: bytes) -> ResponseHead:
    lines = _split_lines(head)
    m = _STATUS_LINE.fullmatch(lines[0])
    if m is None:
        raise ProtocolError(502, f"malformed status line {lines[0][:80]!r}")
    major, minor, status, reason = m.groups()
    if major != b"1":
        raise ProtocolError(502, "upstream answered with an unsupported HTTP version")
    return ResponseHead(
        f"HTTP/1.{minor.decode()}", int(status), (reason or b"").decode("latin-1"), *_parse_fields(lines[1:])
    )


def content_length(fields: dict[str, str]) -> int | None:
    """The one Content-Length, digits only; identical repeats are one value (RFC 9110 §8.6)."""
    value = fields.get("content-length")
    if value is None:
        return None
    values = {item.strip() for item in value.split(",")}
    if len(values) > 1:
        raise ProtocolError(400, "differing Content-Length values")
    (value,) = values
    if not _DIGITS.fullmatch(value) or len(value) > 18:
        raise ProtocolError(400, f"malformed Content-Length {value[:40]!r}")
    return int(value)


def is_chunked(fields: dict[str, str]) -> bool:
    """True for `Transfer-Encoding: chunked`; any other coding is refused."""
    value = fields.get("transfer-encoding")
    if value is None:
        return False
    codings = comma_tokens(value)
    if codings != ["chunked"]:
        raise ProtocolError(400, f"unsupported Transfer-Encoding {value[:40]!r}")
    return True


def parse_chunk_line(line: bytes) -> int:
    """The size in a chunk-size line (extensions are checked and dropped)."""
    m = _CHUNK_LINE.fullmatch(line)
    if m is None:
        raise ProtocolError(400, f"invalid chunk size line {line[:40]!r}")
    return int(m.group(1), 16)


def connection_tokens(fields: dict[str, str]) -> set[str]:
    tokens = comma_tokens(fields.get("connection"))
    if "proxy-connection" in fields:
        tokens += comma_tokens(fields["proxy-connection"])
    return set(tokens)


def end_to_end(message: RequestHead | ResponseHead, keep: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """Headers minus hop-by-hop ones and those the Connection header names (RFC 9110 §7.6.1).
    `keep` lets an upgrade relay keep `upgrade`."""
    fields = message.fields
    drop = HOP_BY_HOP
    if "connection" in fields or "proxy-connection" in fields:
        drop = drop | (connection_tokens(fields) - NEVER_REMOVED)
    if keep:
        drop = drop - keep
    return [(k, v) for k, v in message.headers if k.lower() not in drop]


def serialise_head(first_line: str, headers: list[tuple[str, str]]) -> bytes:
    parts = [first_line]
    parts.extend(f"{k}: {v}" for k, v in headers)
    parts.append("\r\n")
    return "\r\n".join(parts).encode("latin-1")
