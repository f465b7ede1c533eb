"""Where the proxy core hands a CONNECT to Guardian's own TLS.

A blocked CONNECT from a profile with `https_block_page` gets `200 Connection
established`; Guardian then completes the TLS handshake itself with a certificate for
the name the device asked for (its SNI, or the CONNECT host when it sent none), reads
the one request inside, and answers it the way plain HTTP would be answered: the block
page for a page, a GIF for an image, an empty script, a 403 for the rest, then
`Connection: close`. Nothing goes upstream and no name is looked up.

The decision inside is the same `decide()`, asked with the full `https://` URL; the
stricter of it and the tunnel's decision wins, so a device that names another host in
its SNI (or Host) than in its CONNECT gets no further than the CONNECT allowed.

Each completed handshake tells us the device trusts Guardian's certificate; an
unknown-CA or bad-certificate alert tells us it does not (`TrustRecords`).
"""

from __future__ import annotations

import contextlib
import ssl
import threading
import time
from typing import TYPE_CHECKING

from guardian.proxy.hooks import RequestInfo, Verdict
from guardian.proxy.http1 import MAX_HEAD, MAX_TARGET, ProtocolError, parse_request_head, serialise_head
from guardian.proxy.responses import error_response, phrase
from guardian.proxy.stream import BufferedSocket, HeadTooLarge, PeerClosed, Timeout
from guardian.records import RequestRecord
from guardian.tls.ca import CertificateAuthority
from guardian.tls.leaves import LeafCache
from guardian.tls.stream import HandshakeFailed, TLSStream

if TYPE_CHECKING:
    from guardian.proxy.context import ProxySettings
    from guardian.proxy.handler import ClientConnection

UNTRUSTED = "device does not trust Guardian's certificate"


def origin_form(target: str) -> str:
    """The path and query of a request target inside a tunnel (absolute form allowed)."""
    if target.startswith("/"):
        return target
    scheme, sep, rest = target.partition("://")
    if sep and scheme.lower() in ("http", "https"):
        slash = rest.find("/")
        return rest[slash:] if slash >= 0 else "/"
    return "/"


class TrustRecords:
    """Per device address: did its last handshake with a Guardian certificate succeed?"""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, tuple[bool, float]] = {}

    def note(self, client_ip: str, trusted: bool) -> None:
        with self._lock:
            self._seen[client_ip] = (trusted, time.time())

    def status(self, client_ip: str) -> tuple[bool, float] | None:
        with self._lock:
            return self._seen.get(client_ip)

    def snapshot(self) -> dict[str, tuple[bool, float]]:
        with self._lock:
            return dict(self._seen)


class Interceptor:
    """Guardian's side of TLS for the proxy core: the CA, the leaves, what devices trust."""

    def __init__(self, ca: CertificateAuthority, leaf_cache_size: int = 1000) -> None:
        self.ca = ca
        self.leaves = LeafCache(ca, leaf_cache_size, sni_callback=self._on_sni)
        self.trust = TrustRecords()

    def _on_sni(self, ssl_object: ssl.SSLObject, server_name: str | None, _context: ssl.SSLContext) -> None:
        """Runs inside the handshake: show the certificate for the name the device asked for."""
        if not server_name:
            return  # the connection started with the CONNECT host's certificate already
        name = server_name.rstrip(".").lower()
        ssl_object.guardian_sni = name  # type: ignore[attr-defined]
        if name != getattr(ssl_object, "guardian_host", None):
            ssl_object.context = self.leaves.context_for(name)

    def start_tls(self, conn: ClientConnection, host: str, deadline: float) -> TLSStream:
        """Tell the device the tunnel is open, then complete its handshake with our certificate."""
        conn.sock.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        conn.bytes_sent += 39
        stream = TLSStream(conn.sock, self.leaves.context_for(host), conn.reader.take_buffer())
        stream.ssl.guardian_host = host  # type: ignore[attr-defined]
        try:
            stream.handshake(deadline)
        finally:
            conn.bytes_sent += stream.raw_sent
            conn.reader.bytes_read += stream.raw_read
            stream.raw_sent = stream.raw_read = 0
        return stream

    # ------------------------------------------------------------------ the block page on HTTPS

    def answer_blocked(self, conn: ClientConnection, settings: ProxySettings, host: str, port: int,
                       verdict: Verdict, record: RequestRecord) -> bool:
        """Serve a blocked CONNECT's answer inside TLS. Always ends the connection."""
        deadline = time.monotonic() + settings.proxy.head_timeout
        try:
            stream = self.start_tls(conn, host, deadline)
        except HandshakeFailed as exc:
            record.status = 200
            record.error_kind = "timeout" if exc.timeout else "client"
            if exc.untrusted:
                self.trust.note(conn.client_ip, False)
                record.reason = UNTRUSTED
            else:
                record.reason = f"{verdict.reason}; {exc}" if verdict.reason else str(exc)
            return False
        except OSError:
            record.error_kind = "client"
            return False
        self.trust.note(conn.client_ip, True)
        try:
            self._answer_inside(conn, stream, host, port, verdict, record, deadline)
        finally:
            conn.bytes_sent += stream.raw_sent
            conn.reader.bytes_read += stream.raw_read
            stream.close()
        return False

    def _answer_inside(self, conn: ClientConnection, stream: TLSStream, host: str, port: int,
                       verdict: Verdict, record: RequestRecord, deadline: float) -> None:
        reader = BufferedSocket(stream)  # type: ignore[arg-type]
        try:
            request = parse_request_head(reader.read_head(deadline, MAX_HEAD + MAX_TARGET + 64))
        except (PeerClosed, Timeout, OSError):
            record.status = 200  # the tunnel was opened; no request came inside
            return
        except (ProtocolError, HeadTooLarge) as exc:
            status, message = (exc.status, exc.message) if isinstance(exc, ProtocolError) else \
                (431, "The request header section is too large.")
            with contextlib.suppress(OSError):
                stream.sendall(error_response(status, message))
            record.status, record.error_kind = status, "bad_request"
            return
        name = stream.server_name or host
        target = origin_form(request.target)
        inner = conn.ctx.decider.decide(RequestInfo(conn.client_ip, request.method, "https", name, port, target,
                                                    request.fields))
        if name != host and inner.allowed:
            # the SNI named another host than the CONNECT: that one must be allowed as well
            inner = conn.ctx.decider.decide(RequestInfo(conn.client_ip, "CONNECT", "https", name, port, "",
                                                        request.fields))
        answer = inner if not inner.allowed else verdict
        headers = [(k, v) for k, v in answer.headers if k.lower() not in ("connection", "content-length")]
        headers += [("Content-Length", str(len(answer.body))), ("Connection", "close")]
        payload = b"" if request.method == "HEAD" else answer.body
        with contextlib.suppress(OSError):
            stream.sendall(serialise_head(f"HTTP/1.1 {answer.status} {phrase(answer.status)}", headers) + payload)
        record.method, record.target, record.status = request.method, target, answer.status
        record.rule, record.list_id, record.schedule = answer.rule, answer.list_id, answer.schedule
        record.reason = answer.reason
        record.content_type = next((v for k, v in headers if k.lower() == "content-type"), None)
