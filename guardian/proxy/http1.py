"""HTTP/1.1 message heads: the grammar, strict parsing and re-serialisation.

Strategy: the grammar of RFC 9110/9112 is written once below as regexes, the way the
RFC writes its ABNF. A head is parsed in one pass over its lines; anything the grammar
does not allow is a `ProtocolError` carrying the status to answer (400, 414, 431, 505)
and what was wrong; in a response head it is an `UpstreamProtocolError` (h11's local and
remote errors, seen from a proxy): the origin's fault, answered 502 and logged as
`upstream`. Nothing parsed here is ever forwarded as the bytes that came in: the
forwarder rebuilds every head from the parsed fields, so a quirk we did not catch cannot
be smuggled through byte-for-byte. The grammar is checked in linear time: a field line is
split at its colon and each side checked, never matched by one regex with whitespace on
both sides of the value (that backtracks cubically on a long run of spaces).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_TARGET = 8 * 1024
MAX_HEAD = 64 * 1024
MAX_FIELDS = 100
MAX_RESPONSE_HEAD = MAX_HEAD + 8 * 1024  # the status line and the header section

# RFC 9110 §5.6.2: token = 1*tchar
_TCHAR = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]"
TOKEN = re.compile(rf"{_TCHAR}+")
# request-line = method SP request-target SP HTTP-version (exactly one space each)
_REQUEST_LINE = re.compile(rb"(" + _TCHAR.encode() + rb"+) ([\x21-\x7e]+) (HTTP/\d\.\d)")
_STATUS_LINE = re.compile(rb"HTTP/(\d)\.(\d) (\d{3})(?: ([\t\x20-\x7e\x80-\xff]*))?")
# field-line = field-name ":" OWS field-value OWS; field-value has no controls but HTAB.
# Split at the first colon and check each side: a single regex with OWS on both sides of
# the value backtracks cubically on a long run of spaces followed by a control byte.
_FIELD_NAME = re.compile(rb"(?:" + _TCHAR.encode() + rb")+")
_NOT_FIELD_VALUE = re.compile(rb"[^\t\x20-\x7e\x80-\xff]")
_OWS = b" \t"
# Every field line of a head at once, in one linear pass: the name has no ":" and the value
# no CR, so no two parts of the pattern compete for a byte. A head it accepts is split
# without further checks; any other goes through the line-by-line path, which names the fault.
_FIELD_LINES = re.compile(rb"(?:" + _TCHAR.encode() + rb"+:[\t\x20-\x7e\x80-\xff]*\r\n)*")
_DIGITS = re.compile(r"[0-9]+")
# chunk = chunk-size [ chunk-ext ] CRLF; chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS value ] ),
# names and values kept to visible characters. Checked by splitting at ";" and "=", never by
# one regex: nested optional whitespace backtracks exponentially on many semicolons.
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")
_EXT_WORD = re.compile(rb"[\x21-\x7e]*")

HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-connection", "proxy-authorization", "proxy-authenticate",
    "te", "trailer", "transfer-encoding", "upgrade",
})
# `Connection: close, host` must not let a client strip what framing and routing need.
NEVER_REMOVED = frozenset({"host", "content-length", "transfer-encoding", "via"})


class ProtocolError(Exception):
    """The client broke HTTP/1.1. `status` is what we answer it."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class UpstreamProtocolError(ProtocolError):
    """The origin broke HTTP/1.1: the client is not at fault and gets 502 Bad Gateway."""

    def __init__(self, message: str) -> None:
        super().__init__(502, message)


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
        raw_name, colon, raw_value = line.partition(b":")
        value_bytes = raw_value.strip(_OWS)
        if not colon or not _FIELD_NAME.fullmatch(raw_name) or _NOT_FIELD_VALUE.search(value_bytes):
            if b"\x00" in line:
                raise ProtocolError(400, "NUL byte in a header")
            if colon and raw_name[-1:] in (b" ", b"\t"):
                raise ProtocolError(400, "whitespace before a header colon")
            raise ProtocolError(400, f"malformed header line {line[:80]!r}")
        name, value = raw_name.decode("ascii"), value_bytes.decode("latin-1")
        headers.append((name, value))
        key = name.lower()
        fields[key] = f"{fields[key]}, {value}" if key in fields else value
    return headers, fields


def _well_formed_fields(head: bytes, start: int) -> tuple[list[tuple[str, str]], dict[str, str]] | None:
    """The fields after the first line (which ends at `start`), when every line is well
    formed and there are at most MAX_FIELDS; else None (the caller takes the slow path)."""
    block = head[start:-2]
    if block.count(b"\n") > MAX_FIELDS or _FIELD_LINES.fullmatch(block) is None:
        return None
    headers = []
    fields: dict[str, str] = {}
    for line in block.decode("latin-1").split("\r\n")[:-1]:
        name, _, value = line.partition(":")
        value = value.strip(" \t")
        headers.append((name, value))
        key = name.lower()
        fields[key] = f"{fields[key]}, {value}" if key in fields else value
    return headers, fields


def parse_request_head(head: bytes) -> RequestHead:
    """Parse a request head (request line, fields, ending in CRLF CRLF)."""
    end = head.find(b"\r\n")
    m = _REQUEST_LINE.fullmatch(head, 0, end) if end > 0 and len(head) <= MAX_HEAD + MAX_TARGET else None
    if m is not None and len(head) - end <= MAX_HEAD:
        method, target, version = (g.decode("latin-1") for g in m.groups())
        if len(target) <= MAX_TARGET and version in ("HTTP/1.1", "HTTP/1.0"):
            parsed = _well_formed_fields(head, end + 2)
            if parsed is not None:
                return RequestHead(method, target, version, *parsed)
    return _parse_request_head_slowly(head)


def _parse_request_head_slowly(head: bytes) -> RequestHead:
    """Line by line, for a head the fast path did not accept: finds the fault and says
    what it is (or parses a head the fast path was too strict for)."""
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
    """Parse a response head; every fault in it is an `UpstreamProtocolError`."""
    end = head.find(b"\r\n")
    m = _STATUS_LINE.fullmatch(head, 0, end) if end > 0 and len(head) <= MAX_RESPONSE_HEAD else None
    if m is not None and m.group(1) == b"1":
        parsed = _well_formed_fields(head, end + 2)
        if parsed is not None:
            _, minor, status, reason = m.groups()
            return ResponseHead(f"HTTP/1.{minor.decode()}", int(status), (reason or b"").decode("latin-1"), *parsed)
    return _parse_response_head_slowly(head)


def _parse_response_head_slowly(head: bytes) -> ResponseHead:
    if len(head) > MAX_RESPONSE_HEAD:
        raise UpstreamProtocolError("response head too large")
    try:
        lines = _split_lines(head)
        fields = _parse_fields(lines[1:])
    except ProtocolError as exc:
        raise UpstreamProtocolError(exc.message) from None
    m = _STATUS_LINE.fullmatch(lines[0])
    if m is None:
        raise UpstreamProtocolError(f"malformed status line {lines[0][:80]!r}")
    major, minor, status, reason = m.groups()
    if major != b"1":
        raise UpstreamProtocolError("upstream answered with an unsupported HTTP version")
    return ResponseHead(f"HTTP/1.{minor.decode()}", int(status), (reason or b"").decode("latin-1"), *fields)


def content_length(fields: dict[str, str]) -> int | None:
    """The one Content-Length, digits only; identical repeats are one value (RFC 9110 §8.6)."""
    value = fields.get("content-length")
    if value is None:
        return None
    if value.isdigit() and value.isascii() and len(value) <= 18:  # one plain value, the usual case
        return int(value)
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
    m = _CHUNK_SIZE.match(line)
    if m is None or not _valid_chunk_ext(line[m.end():]):
        raise ProtocolError(400, f"invalid chunk size line {line[:40]!r}")
    return int(m.group(), 16)


def _valid_chunk_ext(rest: bytes) -> bool:
    before, *extensions = rest.split(b";")
    if before.strip(_OWS):
        return False
    for extension in extensions:
        name, _, value = extension.partition(b"=")
        if not (_EXT_WORD.fullmatch(name.strip(_OWS)) and _EXT_WORD.fullmatch(value.strip(_OWS))):
            return False
    return True


def connection_tokens(fields: dict[str, str]) -> set[str]:
    tokens = comma_tokens(fields.get("connection"))
    if "proxy-connection" in fields:
        tokens += comma_tokens(fields["proxy-connection"])
    return set(tokens)


def end_to_end(message: RequestHead | ResponseHead, keep: frozenset[str] = frozenset(),
               also_drop: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """Headers minus hop-by-hop ones and those the Connection header names (RFC 9110 §7.6.1).
    `keep` lets an upgrade relay keep `upgrade`; `also_drop` names fields the caller
    replaces (in the same pass, rather than another walk over the list)."""
    fields = message.fields
    drop = HOP_BY_HOP | also_drop if also_drop else HOP_BY_HOP
    if "connection" in fields or "proxy-connection" in fields:
        drop = drop | (connection_tokens(fields) - NEVER_REMOVED)
    if keep:
        drop = drop - keep
    kept = [(k, v) for k, v in message.headers if k.lower() not in drop]
    if "content-length" in fields and "content-length" not in drop:
        kept = _one_content_length(kept, fields)
    return kept


def _one_content_length(headers: list[tuple[str, str]], fields: dict[str, str]) -> list[tuple[str, str]]:
    """Identical repeats of Content-Length as one line: some origins refuse two (RFC 9110 §8.6).
    A value that does not parse is dropped; framing has already refused or ignored it."""
    value = fields["content-length"]
    if value.isdigit() and value.isascii() and (value[0] != "0" or value == "0"):
        return headers  # one line, written as it will be forwarded
    try:
        length: int | None = content_length(fields)
    except ProtocolError:
        length = None
    out = []
    for name, value in headers:
        if name.lower() == "content-length":
            if length is None:
                continue
            value, length = str(length), None
        out.append((name, value))
    return out


def serialise_head(first_line: str, headers: list[tuple[str, str]]) -> bytes:
    parts = [first_line]
    parts.extend(f"{k}: {v}" for k, v in headers)
    parts.append("\r\n")
    return "\r\n".join(parts).encode("latin-1")
