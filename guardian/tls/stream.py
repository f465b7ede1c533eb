"""TLS spoken by Guardian itself on a client's socket, through memory BIOs.

Why not `SSLContext.wrap_socket`: bytes the client sent right after its CONNECT (a
ClientHello pipelined with it) are already in the proxy's read buffer, and a wrapped
socket cannot be handed them; with an `SSLObject` they are simply fed in first. The
object also behaves like the plain socket the core's `BufferedSocket` expects (`recv`,
`sendall`, `setsockopt` reaching the real socket), so the core reads requests inside
TLS the way it reads them outside, with the same kernel timeouts.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time

from guardian.proxy.stream import readable

RECV_SIZE = 256 * 1024  # raw bytes per recv: several TLS records at once

# Alerts a client sends when it refuses the certificate it was shown.
UNTRUSTED_ALERTS = ("TLSV1_ALERT_UNKNOWN_CA", "SSLV3_ALERT_BAD_CERTIFICATE", "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
                    "TLSV1_ALERT_ACCESS_DENIED", "SSLV3_ALERT_CERTIFICATE_UNSUPPORTED")


class HandshakeFailed(Exception):
    """The TLS handshake did not complete; `untrusted` when the client refused our certificate."""

    def __init__(self, message: str, untrusted: bool = False, timeout: bool = False,
                 certificate_problem: str | None = None) -> None:
        super().__init__(message)
        self.untrusted = untrusted
        self.timeout = timeout
        self.certificate_problem = certificate_problem  # the website's certificate was refused: why


class TLSStream:
    """TLS over a connected socket, socket-like enough for BufferedSocket: Guardian as the
    server (towards a device) or, given `server_hostname`, as the client (towards a website)."""

    def __init__(self, sock: socket.socket, context: ssl.SSLContext, early: bytes = b"",
                 server_hostname: str | None = None) -> None:
        self.sock = sock
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self.ssl = context.wrap_bio(self._in, self._out, server_side=server_hostname is None,
                                    server_hostname=server_hostname)
        if early:
            self._in.write(early)
        self.raw_read = len(early)
        self.raw_sent = 0

    # ------------------------------------------------------------------ handshake

    def handshake(self, deadline: float) -> None:
        """Complete the handshake by `deadline` (time.monotonic) or raise HandshakeFailed."""
        while True:
            try:
                self.ssl.do_handshake()
                self._flush()
                return
            except ssl.SSLWantReadError:
                self._flush()
                self._pull(deadline)
            except ssl.SSLCertVerificationError as exc:
                self._flush_quietly()
                problem = exc.verify_message or str(exc.reason)
                raise HandshakeFailed(f"the website's certificate is not valid: {problem}",
                                      certificate_problem=problem) from None
            except ssl.SSLError as exc:
                self._flush_quietly()
                reason = exc.reason or type(exc).__name__
                untrusted = reason in UNTRUSTED_ALERTS
                raise HandshakeFailed(f"TLS handshake failed: {reason}", untrusted=untrusted) from None
            except OSError as exc:
                raise HandshakeFailed(f"the device closed the connection during the handshake ({exc})") from None

    def _pull(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not readable([self.sock], remaining):
            raise HandshakeFailed("the device did not finish the TLS handshake in time", timeout=True)
        data = self.sock.recv(RECV_SIZE)
        if not data:
            raise HandshakeFailed("the device closed the connection during the handshake")
        self.raw_read += len(data)
        self._in.write(data)

    @property
    def server_name(self) -> str | None:
        return getattr(self.ssl, "guardian_sni", None)

    # ------------------------------------------------------------------ the socket the core sees

    def recv(self, size: int) -> bytes:
        while True:
            try:
                data = self.ssl.read(size)
                # One read returns one TLS record (16 KiB at most): take what else is already here.
                return self._more(data, size) if 0 < len(data) < size else data
            except ssl.SSLWantReadError:
                self._flush()
                data = self.sock.recv(RECV_SIZE)  # blocking; SO_RCVTIMEO raises as on a plain socket
                if not data:
                    self._in.write_eof()
                    continue
                self.raw_read += len(data)
                self._in.write(data)
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return b""
            except ssl.SSLError as exc:
                raise ConnectionResetError(f"TLS error from the device: {exc.reason}") from None

    def _more(self, data: bytes, size: int) -> bytes:
        parts = [data]
        total = len(data)
        while total < size:
            try:
                more = self.ssl.read(size - total)
            except (ssl.SSLWantReadError, ssl.SSLZeroReturnError, ssl.SSLEOFError):
                break
            if not more:
                break
            parts.append(more)
            total += len(more)
        return b"".join(parts)

    def read_available(self) -> bytes | None:
        """For a relay after poll() said the socket is readable: what can be decrypted now
        (b"" when a record is still incomplete), None at the end of the stream."""
        try:
            return self.ssl.read(RECV_SIZE)
        except ssl.SSLWantReadError:
            pass
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            return None
        data = self.sock.recv(RECV_SIZE)
        if not data:
            return None
        self.raw_read += len(data)
        self._in.write(data)
        chunks: list[bytes] = []
        while True:
            try:
                chunk = self.ssl.read(RECV_SIZE)
            except ssl.SSLWantReadError:
                break
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return b"".join(chunks) or None
            if not chunk:
                break
            chunks.append(chunk)
        self._flush()  # a read may owe the peer something (a key update)
        return b"".join(chunks)

    def pending(self) -> int:
        return self.ssl.pending()

    def sendall(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = self.ssl.write(view)
            view = view[written:]
            self._flush()

    def _flush(self) -> None:
        pending = self._out.read()
        if pending:
            self.sock.sendall(pending)
            self.raw_sent += len(pending)

    def _flush_quietly(self) -> None:
        with contextlib.suppress(OSError):
            self._flush()

    def settimeout(self, value: float | None) -> None:
        self.sock.settimeout(value)

    def setsockopt(self, level: int, option: int, value: int | bytes) -> None:
        self.sock.setsockopt(level, option, value)

    def shutdown(self, how: int) -> None:
        self.sock.shutdown(how)  # the registry ends a connection whose rules changed this way

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        """Say goodbye properly (close_notify), then close the socket."""
        with contextlib.suppress(ssl.SSLError, ValueError):
            self.ssl.unwrap()
        self._flush_quietly()
        self.sock.close()
