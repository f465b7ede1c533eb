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
import socket
import ssl
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from guardian.proxy.hooks import RequestInfo, Verdict
from guardian.proxy.http1 import MAX_HEAD, MAX_TARGET, ProtocolError, parse_request_head, serialise_head
from guardian.proxy.responses import error_response, phrase
from guardian.proxy.stream import BufferedSocket, HeadTooLarge, PeerClosed, Timeout, readable
from guardian.proxy.upstream import UpstreamPool
from guardian.records import RequestRecord
from guardian.tls.authority import Authority
from guardian.tls.clienthello import MAX_HELLO, NEED_MORE, server_name
from guardian.tls.inspect import InspectedConnection, origin_context, origin_form
from guardian.tls.leaves import LeafCache
from guardian.tls.stream import HandshakeFailed, TLSStream
from guardian.tls.trust import TrustRecords

if TYPE_CHECKING:
    from guardian.proxy.connections import OpenConnection
    from guardian.proxy.context import ProxySettings
    from guardian.proxy.handler import ClientConnection

UNTRUSTED = "device does not trust Guardian's certificate"
PINNING_MEMORY = 24 * 3600.0  # a device that refused our certificate for a site is left alone this long
PINNING_MAX = 10_000
SNI_WAIT = 1.0  # how long an allowed tunnel waits for the client's ClientHello before relaying anyway


class Interceptor:
    """Guardian's side of TLS for the proxy core: the CA, the leaves, what devices trust."""

    def __init__(self, ca: Authority, leaf_cache_size: int = 1000, extra_ca_file: str = "",
                 trust_file: Path | None = None, settings_address: str | None = None) -> None:
        self.ca = ca
        # where a device reaches the settings page ("http://guardian"), for the links on error pages
        self.settings_address = settings_address
        self.leaves = LeafCache(ca, leaf_cache_size, sni_callback=self._on_sni)
        self.trust = TrustRecords(trust_file)
        self.origin_context = origin_context(extra_ca_file)
        self.pool = UpstreamPool()  # TLS connections to websites, kept apart from plain ones
        self._refused_lock = threading.Lock()
        self._refused: dict[tuple[str, str], float] = {}  # (device address, host) -> when it refused

    def _on_sni(self, ssl_object: ssl.SSLObject, server_name: str | None, _context: ssl.SSLContext) -> None:
        """Runs inside the handshake: show the certificate for the name the device asked for."""
        if not server_name:
            return  # the connection started with the CONNECT host's certificate already
        name = server_name.rstrip(".").lower()
        # The SNI callback is handed only the SSLObject: the name travels on it.
        ssl_object.guardian_sni = name  # type: ignore[attr-defined]  # an attribute of ours, not in the stubs
        if name != getattr(ssl_object, "guardian_host", None):
            ssl_object.context = self.leaves.context_for(name)

    def start_tls(self, conn: ClientConnection, host: str, deadline: float, established: bool = False) -> TLSStream:
        """Tell the device the tunnel is open (unless it was told already), then complete
        its handshake with our certificate."""
        if not established:
            conn.sock.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            conn.bytes_sent += 39
        stream = TLSStream(conn.sock, self.leaves.context_for(host), conn.reader.take_buffer())
        stream.ssl.guardian_host = host  # type: ignore[attr-defined]  # read back by _on_sni, see there
        try:
            stream.handshake(deadline)
        finally:
            conn.bytes_sent += stream.raw_sent
            conn.reader.bytes_read += stream.raw_read
            stream.raw_sent = stream.raw_read = 0
        return stream

    # ------------------------------------------------------------------ inspection

    def will_inspect(self, conn: ClientConnection, host: str, record: RequestRecord) -> bool:
        """False (and the record says why) when this device refused our certificate for this
        host lately: an app that pins its certificate is tunnelled untouched, not broken again."""
        key = (conn.client_ip, host)
        with self._refused_lock:
            since = self._refused.get(key)
            if since is None:
                return True
            if time.monotonic() - since > PINNING_MEMORY:
                del self._refused[key]
                return True
        record.reason = "Not inspected: this app refused Guardian's certificate earlier (it pins its own)"
        return False

    def _remember_refusal(self, client_ip: str, host: str) -> None:
        with self._refused_lock:
            if len(self._refused) >= PINNING_MAX:
                self._refused.pop(next(iter(self._refused)))
            self._refused[(client_ip, host)] = time.monotonic()

    def inspect(self, conn: ClientConnection, settings: ProxySettings, host: str, port: int,
                verdict: Verdict, record: RequestRecord, entry: OpenConnection | None) -> bool:
        """Decrypt the tunnel and serve the requests inside it; each is decided and recorded.
        `entry`: the tunnel's place among the open connections a rule change re-decides."""
        record.status = 200
        deadline = time.monotonic() + settings.proxy.head_timeout
        try:
            stream = self.start_tls(conn, host, deadline)
        except HandshakeFailed as exc:
            record.error_kind = "timeout" if exc.timeout else "client"
            if exc.untrusted:
                trusted_before = self.trust.status(conn.client_ip)
                self._remember_refusal(conn.client_ip, host)
                if trusted_before is not None and trusted_before[0]:
                    record.reason = ("the app refused Guardian's certificate (it pins its own); "
                                     "this site is tunnelled untouched from now on")
                else:
                    self.trust.note(conn.client_ip, False)
                    record.reason = f"{UNTRUSTED}; this site is tunnelled untouched from now on"
            else:
                record.reason = str(exc)
            return False
        except OSError:
            record.error_kind = "client"
            return False
        self.trust.note(conn.client_ip, True)
        # The tunnel itself is not the decision: every request inside gets its own record.
        record.action, record.rule, record.list_id, record.schedule = "allowed", None, None, None
        record.reason = "Inspected: each request inside is decided and logged on its own"
        name = stream.server_name or host
        inner = InspectedConnection(conn.ctx, stream, conn.client_ip, name, port, self)
        # The tunnel's entry is the inner connection's own, so each request inside marks it
        # busy until its answer: a rule change that blocks the site closes the tunnel between
        # requests or under a long answer, never under a request waiting (proxy/connections.py).
        inner.open_entry = entry
        try:
            inner.run()
        finally:
            conn.bytes_sent += inner.bytes_sent
            conn.reader.bytes_read += inner.reader.bytes_read
        return False

    # ------------------------------------------------------------------ the SNI of a plain tunnel

    def sni_allowed(self, conn: ClientConnection, settings: ProxySettings, host: str, port: int,
                    record: RequestRecord, upstream: socket.socket) -> bool:
        """For an allowed tunnel just opened: read the SNI from the client's first bytes
        (without taking them) and, when it names another site, decide on that one too. A
        blocked one is answered (the block page, or a close) and False returned."""
        name = self._peek_server_name(conn, upstream)
        if not isinstance(name, str) or name == host:
            return True
        verdict = conn.ctx.decider.decide(RequestInfo(conn.client_ip, "CONNECT", "https", name, port, "", {}))
        if verdict.allowed:
            return True
        record.action, record.device, record.profile = "blocked", verdict.device, verdict.profile
        record.rule, record.list_id, record.schedule = verdict.rule, verdict.list_id, verdict.schedule
        record.reason = verdict.reason
        if verdict.intercept == "page":
            self.answer_blocked(conn, settings, name, port, verdict, record, established=True)
        record.reason = f"{record.reason} (the connection to {host} named {name} inside)"
        return False

    @staticmethod
    def _peek_server_name(conn: ClientConnection, upstream: socket.socket) -> str | object | None:
        """The SNI of the ClientHello the client sends first, waiting at most SNI_WAIT for
        it. In TLS the client speaks first: when the server speaks first instead, this is
        another protocol and the tunnel goes on at once."""
        deadline = time.monotonic() + SNI_WAIT
        while True:
            try:
                peeked = conn.sock.recv(MAX_HELLO, socket.MSG_PEEK | socket.MSG_DONTWAIT)
                if not peeked:
                    return None  # the client closed: nothing to decide
            except BlockingIOError:
                peeked = b""
            except OSError:
                return None
            name = server_name(bytes(conn.reader.buffer) + peeked)
            remaining = deadline - time.monotonic()
            if name is not NEED_MORE or remaining <= 0:
                return None if name is NEED_MORE else name
            if peeked or conn.reader.buffer:
                time.sleep(0.002)  # the rest of the ClientHello is on its way
            else:
                ready = readable([conn.sock, upstream], remaining)
                if upstream in ready and conn.sock not in ready:
                    return None

    # ------------------------------------------------------------------ the block page on HTTPS

    def answer_blocked(self, conn: ClientConnection, settings: ProxySettings, host: str, port: int,
                       verdict: Verdict, record: RequestRecord, established: bool = False) -> bool:
        """Serve a blocked CONNECT's answer inside TLS. Always ends the connection."""
        deadline = time.monotonic() + settings.proxy.head_timeout
        try:
            stream = self.start_tls(conn, host, deadline, established)
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
        reader = BufferedSocket(stream)  # type: ignore[arg-type]  # a TLSStream has the socket methods it calls
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
