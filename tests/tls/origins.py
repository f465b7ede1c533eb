"""HTTPS origins on loopback with certificates from a test CA (trustme)."""

from __future__ import annotations

import contextlib
import socket
import ssl

import trustme

from guardian.proxy.upstream import UpstreamError
from tests.support.origin import Origin, _Conn, _response

PATTERN = bytes(range(256)) * 4096  # 1 MiB of every byte value


def pattern_bytes(size: int):
    """The /stream/<size> body, piece by piece."""
    left = size
    while left:
        piece = PATTERN[:min(left, len(PATTERN))]
        left -= len(piece)
        yield piece


class TLSOrigin(Origin):
    """The suite's origin behind TLS, plus /stream/<size>: a large body sent in pieces."""

    def __init__(self, cert: trustme.LeafCert) -> None:
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(self.context)
        self.handshakes = 0
        super().__init__()

    def _handle(self, sock: socket.socket) -> None:
        try:
            sock.settimeout(10)
            tls = self.context.wrap_socket(sock, server_side=True)
            tls.settimeout(None)
        except (OSError, ssl.SSLError):
            with contextlib.suppress(OSError):
                sock.close()
            return
        self.handshakes += 1
        super()._handle(tls)

    def _serve(self, conn: _Conn, req) -> bool:
        if req.target.startswith("/stream/"):
            size = int(req.target.split("/")[2])
            conn.send(f"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                      f"Content-Length: {size}\r\n\r\n".encode())
            for piece in pattern_bytes(size):
                conn.send(piece)
            return True
        if req.target == "/sni":
            conn.send(_response("200 OK", b"tls origin"))
            return True
        return super()._serve(conn, req)


class MapResolver:
    """Names the tests use, all on loopback; anything else is not resolved."""

    def __init__(self, names: dict[str, str]) -> None:
        self.names = names
        self.asked: list[str] = []

    def __call__(self, host: str, port: int) -> list:
        self.asked.append(host)
        if host in self.names:
            return [(socket.AF_INET, (self.names[host], port))]
        raise UpstreamError("dns", f"cannot resolve {host}: not in this test")
