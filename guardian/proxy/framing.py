"""Message bodies: one small reader per framing, chosen from the head.

A reader yields the body's payload in bounded pieces (never the whole body), so the
forwarder can stream in both directions; chunked bodies are de-chunked here and
re-framed by the forwarder, so chunk extensions and raw chunk lines never pass through.
`framing_for_request` and `framing_for_response` implement RFC 9112 §6.3.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from guardian.proxy.http1 import ProtocolError, UpstreamProtocolError, content_length, is_chunked, parse_chunk_line
from guardian.proxy.stream import RECV_SIZE, BufferedSocket, HeadTooLarge, PeerClosed

MAX_TRAILERS = 16 * 1024


class Body:
    """A body that can be iterated once; `complete` is True after a clean end."""

    length: int | None = None  # known in advance (Content-Length), else None
    chunked: bool = False
    until_close: bool = False

    def __init__(self) -> None:
        self.complete = False
        # False when the framing was doubtful (RFC 9112 §6.3: TE and CL together): close after.
        self.reusable = True

    def chunks(self, timeout: float) -> Iterator[bytes]:
        self.complete = True
        return iter(())



class EmptyBody(Body):
    length: int | None = 0  # the base's type: compiled code allows a subclass no narrower one

    def __init__(self) -> None:
        super().__init__()
        self.complete = True


class LengthBody(Body):
    def __init__(self, reader: BufferedSocket, length: int) -> None:
        super().__init__()
        self.reader = reader
        self.length = length
        self.remaining = length

    def chunks(self, timeout: float) -> Iterator[bytes]:
        reader = self.reader
        while self.remaining > 0:
            piece = reader.read_some(min(self.remaining, RECV_SIZE), time.monotonic() + timeout)
            self.remaining -= len(piece)
            yield piece
        self.complete = True


class ChunkedBody(Body):
    chunked = True

    def __init__(self, reader: BufferedSocket) -> None:
        super().__init__()
        self.reader = reader
        self._ahead: list[bytes] = []
        self._rest: Iterator[bytes] | None = None

    def prefetch(self, limit: int, timeout: float) -> None:
        """Read and validate up to `limit` bytes of payload before anything is forwarded,
        so a small body with broken framing never reaches the origin at all."""
        self._rest = self._read(timeout)
        size = 0
        for piece in self._rest:
            self._ahead.append(piece)
            size += len(piece)
            if size >= limit:
                break

    def chunks(self, timeout: float) -> Iterator[bytes]:
        ahead, self._ahead = self._ahead, []
        yield from ahead
        yield from self._rest if self._rest is not None else self._read(timeout)

    def _read(self, timeout: float) -> Iterator[bytes]:
        reader = self.reader
        while True:
            try:
                size = parse_chunk_line(reader.read_line(time.monotonic() + timeout))
            except HeadTooLarge:
                raise ProtocolError(400, "chunk size line too long") from None
            if size == 0:
                break
            while size > 0:
                piece = reader.read_some(min(size, RECV_SIZE), time.monotonic() + timeout)
                size -= len(piece)
                yield piece
            if reader.read_exact(2, time.monotonic() + timeout) != b"\r\n":
                raise ProtocolError(400, "missing CRLF after chunk data")
        # Trailer fields are read to stay in frame, and dropped: we forward none.
        total = 0
        while True:
            try:
                line = reader.read_line(time.monotonic() + timeout, MAX_TRAILERS)
            except HeadTooLarge:
                raise ProtocolError(400, "chunked trailer section too large") from None
            if not line:
                break
            total += len(line)
            if total > MAX_TRAILERS:
                raise ProtocolError(400, "chunked trailer section too large")
        self.complete = True


class UntilCloseBody(Body):
    until_close = True

    def __init__(self, reader: BufferedSocket) -> None:
        super().__init__()
        self.reader = reader

    def chunks(self, timeout: float) -> Iterator[bytes]:
        reader = self.reader
        while True:
            try:
                piece = reader.read_some(RECV_SIZE, time.monotonic() + timeout)
            except PeerClosed:
                break
            yield piece
        self.complete = True


def framing_for_request(reader: BufferedSocket, fields: dict[str, str], version: str) -> Body:
    chunked = is_chunked(fields)
    length = content_length(fields)
    if chunked and length is not None:
        raise ProtocolError(400, "both Content-Length and Transfer-Encoding")
    if chunked:
        if version == "HTTP/1.0":
            raise ProtocolError(400, "Transfer-Encoding in an HTTP/1.0 request")
        return ChunkedBody(reader)
    if length:
        return LengthBody(reader, length)
    return EmptyBody()


def framing_for_response(reader: BufferedSocket, fields: dict[str, str], status: int,
                         request_method: str) -> Body:
    if request_method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return EmptyBody()
    try:
        chunked = is_chunked(fields)
        length = None if chunked else content_length(fields)
    except ProtocolError as exc:
        raise UpstreamProtocolError(f"upstream framing: {exc.message}") from None
    if chunked:
        body = ChunkedBody(reader)
        body.reusable = "content-length" not in fields
        return body
    if length is not None:
        return LengthBody(reader, length) if length else EmptyBody()
    return UntilCloseBody(reader)

