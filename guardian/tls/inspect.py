"""Inside an inspected tunnel: the device's requests, one by one, through the core.

Once Guardian has completed the device's handshake, the decrypted stream is served by
the same `ClientConnection` that serves plain HTTP: the same parser, limits and
timeouts, the same `decide()` (now with the full `https://` URL, so path rules, request
types, `$third-party` and `$domain` apply), the same cache, keep-alive, 100-continue and
upgrade handling, and one record per request. What differs is kept here: requests come
in origin form for the one host the tunnel is for; upstream connections are TLS,
verified against the system's trust store (and `[https] extra_ca_file`), pooled apart
from plain ones; bodies and upgraded connections cannot use `os.splice` (the bytes must
be decrypted and encrypted again), so they are copied through Python.
"""

from __future__ import annotations

import contextlib
import queue
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import quote

from guardian.proxy.context import ProxyContext, ProxySettings
from guardian.proxy.framing import LengthBody, framing_for_request
from guardian.proxy.handler import ClientConnection, UpstreamBroke
from guardian.proxy.hooks import RequestInfo
from guardian.proxy.http1 import MAX_HEAD, MAX_TARGET, parse_request_head
from guardian.proxy.responses import error_response
from guardian.proxy.stream import BufferedSocket
from guardian.records import RequestRecord
from guardian.tls.stream import HandshakeFailed, TLSStream

if TYPE_CHECKING:
    from guardian.tls.intercept import Interceptor


LARGE_PIECE = 1024 * 1024


def origin_context(extra_ca_file: str = "") -> ssl.SSLContext:
    """How Guardian checks websites: OpenSSL's default store (so SSL_CERT_FILE and
    SSL_CERT_DIR work as for every OpenSSL program), plus the household's extra file."""
    context = ssl.create_default_context()
    if extra_ca_file:
        context.load_verify_locations(cafile=extra_ca_file)
    context.set_alpn_protocols(["http/1.1"])
    return context


def origin_form(target: str) -> str:
    """The path and query of a request target inside a tunnel (absolute form allowed)."""
    if target.startswith("/"):
        return target
    scheme, sep, rest = target.partition("://")
    if sep and scheme.lower() in ("http", "https"):
        slash = rest.find("/")
        return rest[slash:] if slash >= 0 else "/"
    return "/"


class InspectedConnection(ClientConnection):
    """The requests inside one decrypted tunnel to `host`:`port`."""

    scheme = "https"
    default_port = 443

    def __init__(self, ctx: ProxyContext, stream: TLSStream, client_ip: str, host: str, port: int,
                 interceptor: Interceptor) -> None:
        super().__init__(ctx, stream, client_ip)  # type: ignore[arg-type]  # TLSStream: the socket methods the core calls
        self.pool = interceptor.pool
        self.host = host
        self.port = port
        self.interceptor = interceptor

    def _handle(self, settings: ProxySettings, t0: float, record: RequestRecord) -> bool:
        record.scheme = "https"
        head = self.reader.read_head(t0 + settings.proxy.head_timeout, MAX_HEAD + MAX_TARGET + 64)
        request = parse_request_head(head)
        record.method = request.method
        if request.method == "CONNECT":
            self._fail(record, 405, "A tunnel cannot be opened inside a tunnel.", "bad_request")
            return False
        path = origin_form(request.target)
        record.host, record.port, record.target = self.host, self.port, path
        body = framing_for_request(self.reader, request.fields, request.version)
        info = RequestInfo(self.client_ip, request.method, "https", self.host, self.port, path, request.fields)
        verdict = self.ctx.decider.decide(info)
        self._note_verdict(record, verdict)
        if not verdict.allowed:
            return self._send_verdict(request, verdict, body, record)
        return self._forward(settings, request, self.host, self.port, path, body, verdict, record, checked=True)

    def _open_upstream(self, settings: ProxySettings, host: str, port: int, checked: bool,
                       record: RequestRecord, verify: bool = True) -> tuple[BufferedSocket, str, bool] | None:
        opened = super()._open_upstream(settings, host, port, checked, record, verify)
        if opened is None or opened[2]:
            return opened  # an error was answered, or a pooled connection already speaks TLS
        plain, addr, _ = opened
        # The certificate must be good for the name the device asked for, even when safe
        # search sends the connection to another address.
        stream = TLSStream(plain.sock, self.interceptor.origin_context, server_hostname=self.host)
        try:
            stream.handshake(time.monotonic() + settings.proxy.connect_timeout)
        except HandshakeFailed as exc:
            plain.close()
            if exc.certificate_problem is not None:
                record.action, record.error_kind = "error", "upstream"
                record.reason = f"the website's certificate is not valid: {exc.certificate_problem}"
                self._send(self._bad_certificate_page(exc.certificate_problem))
                record.status = 502
                return None
            self._fail(record, 504 if exc.timeout else 502, f"Secure connection to the website failed: {exc}",
                       "timeout" if exc.timeout else "upstream")
            return None
        return BufferedSocket(stream), addr, False  # type: ignore[arg-type]  # TLSStream stands in for the socket

    def _bad_certificate_page(self, problem: str) -> bytes:
        """The error page, with a link for a parent to the settings page's form that adds this
        site to the sites never decrypted. The page is shown on the child's device, so the link
        only fills the form in: the parent logs in and confirms there."""
        message = (f"Guardian did not open https://{self.host}/ because the website's certificate is not valid: "
                   f"{problem}. Someone may be pretending to be this site, or the site is misconfigured. "
                   "If a parent trusts this site, they can add it to the sites Guardian never decrypts on "
                   "Guardian's settings page; the device's own browser then judges the certificate itself.")
        address = self.interceptor.settings_address
        if address is None:
            return error_response(502, message, close=False)
        message += " The link below changes nothing by itself: a parent logs in and confirms there."
        link = (f"{address}/settings?bypass={quote(self.host, safe='')}#bypass",
                f"Parents: add {self.host} to the sites Guardian never decrypts")
        return error_response(502, message, close=False, link=link)

    def _splice_length_body(self, body: LengthBody, up_reader: BufferedSocket, timeout: float) -> None:
        """A large body: decrypted, so it passes through Python. One thread reads and
        decrypts while this one encrypts and sends (OpenSSL releases the GIL), in pieces
        as large as the TLS layer has ready rather than the reader's 64 KiB."""
        buffered = up_reader.take_buffer()[:body.remaining]
        if buffered:
            self._send(buffered)
            body.remaining -= len(buffered)
        origin: TLSStream = up_reader.sock  # type: ignore[assignment]  # this reader was made on a TLSStream
        up_reader._set_recv_timeout(timeout)  # the same per-read timeout the reader would apply
        pieces: queue.Queue[bytes] = queue.Queue(maxsize=4)  # bounded: at most a few MiB in flight
        stop = threading.Event()

        def read() -> None:
            left = body.remaining
            while left and not stop.is_set():
                try:
                    piece = origin.recv(min(left, LARGE_PIECE))
                except (OSError, ValueError):
                    piece = b""
                left -= len(piece)
                while not stop.is_set():
                    try:
                        pieces.put(piece, timeout=1)
                        break
                    except queue.Full:
                        continue
                if not piece:
                    return

        reader = threading.Thread(target=read, name="inspect-body", daemon=True)
        reader.start()
        try:
            while body.remaining:
                try:
                    piece = pieces.get(timeout=timeout)
                except queue.Empty:
                    piece = b""
                if not piece:
                    raise UpstreamBroke("the website's answer broke off")
                body.remaining -= len(piece)
                self._send(piece)
        finally:
            stop.set()
            if body.remaining:  # broken off: wake the reader if it waits on the website
                with contextlib.suppress(OSError):
                    origin.sock.shutdown(socket.SHUT_RDWR)
            reader.join()
        body.complete = True

    def _tunnel(self, settings: ProxySettings, upstream: socket.socket) -> None:
        """An upgraded connection (WebSocket) inside the tunnel: relay the decrypted bytes."""
        client: TLSStream = self.sock  # type: ignore[assignment]  # an inspected connection's socket is TLS
        origin: TLSStream = upstream  # type: ignore[assignment]  # and so is its way upstream
        early = self.reader.take_buffer()
        if early:
            origin.sendall(early)
        up, down = relay_tls(client, origin, settings.proxy.tunnel_idle_timeout, self.ctx.force_close.is_set)
        self.bytes_sent += down
        self.reader.bytes_read += up


def relay_tls(client: TLSStream, origin: TLSStream, idle_timeout: float,
              stop_requested: Callable[[], bool] = lambda: False) -> tuple[int, int]:
    """Both directions in one thread (an SSL object must not be used by two at once)."""
    moved = {client.fileno(): 0, origin.fileno(): 0}
    peer = {client.fileno(): (client, origin), origin.fileno(): (origin, client)}
    poller = select.poll()
    for fd in peer:
        poller.register(fd, select.POLLIN)
    last = time.monotonic()
    with contextlib.suppress(OSError):
        while not stop_requested():
            ready = [fd for fd, (src, _) in peer.items() if src.pending()]
            if not ready:
                ready = [fd for fd, _ in poller.poll(1000)]
            if not ready:
                if time.monotonic() - last > idle_timeout:
                    break
                continue
            last = time.monotonic()
            for fd in ready:
                src, dst = peer[fd]
                data = src.read_available()
                if data is None:
                    return moved[client.fileno()], moved[origin.fileno()]
                if data:
                    dst.sendall(data)
                    moved[fd] += len(data)
    return moved[client.fileno()], moved[origin.fileno()]
