"""One client connection: read requests, ask the decider, forward or tunnel, record.

Strategy: a serving thread owns the client socket while a request is in progress; between
requests the connection waits in the parking lot (parking.py), without a thread. Each
request is parsed strictly (http1), decided (hooks.Decider), then either answered by
the decider's response, forwarded over a pooled upstream connection with the body
streamed both ways (framing), or, for CONNECT and upgrades, handed to the relay.
After every request one RequestRecord goes to the recorder. A connection is closed
after anything doubtful: a malformed request, a body we could not frame, an upstream
that broke mid-response.
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import struct
import time
from collections.abc import Callable

from guardian.cache import CachedResponse, Lookup, Outcome, Writer
from guardian.proxy.connections import OpenConnection
from guardian.proxy.context import ProxyContext, ProxySettings
from guardian.proxy.cores import on_every_core
from guardian.proxy.framing import Body, ChunkedBody, EmptyBody, LengthBody, framing_for_request, framing_for_response
from guardian.proxy.hooks import RequestInfo, Verdict
from guardian.proxy.http1 import (
    MAX_HEAD,
    MAX_HOST_NAME,
    MAX_RESPONSE_HEAD,
    MAX_TARGET,
    ProtocolError,
    RequestHead,
    ResponseHead,
    UpstreamProtocolError,
    connection_tokens,
    end_to_end,
    parse_request_head,
    parse_response_head,
    serialise_head,
)
from guardian.proxy.relay import HAVE_SPLICE, TunnelStats, relay, splice_exact
from guardian.proxy.responses import error_response, phrase
from guardian.proxy.stream import BufferedSocket, HeadTooLarge, PeerClosed, Timeout, readable, set_send_timeout
from guardian.proxy.upstream import DestinationDenied, UpstreamError, connect
from guardian.records import ErrorKind, RequestRecord

log = logging.getLogger(__name__)

# absolute-form http URI: scheme "://" authority path-abempty [ "?" query ]. Possessive, so a
# target ending in "#" fails at once instead of trying every split of authority and path.
_ABSOLUTE = re.compile(r"(?i)(http|https)://([^/?#]*+)([^#]*+)")
_HOST_NAME = re.compile(r"[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?\.?")
_AUTHORITY = re.compile(r"\[([0-9a-fA-F:.]+)\](?::(\d{1,5}))?|([^:@\[\]]+)(?::(\d{1,5}))?")
HEAD_LIMIT = MAX_HEAD + MAX_TARGET + 64  # bytes buffered without an end of head before it is refused
EXPECT_WAIT = 1.0  # how long to wait for an upstream's 100 Continue before sending the body anyway
SEND_TIMEOUT = 60.0
SPLICE_MIN = 256 * 1024  # bodies at least this large go through the kernel (os.splice)
PREFETCH_LIMIT = 64 * 1024  # a chunked request body up to this size is validated before it is forwarded
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
_REPLACED = frozenset({"host", "x-forwarded-for", "guardian-client"})  # request fields the core rebuilds
_REPLACED_10 = _REPLACED | {"expect"}
_X_CACHE = frozenset({"x-cache"})
_X_CACHE_AND_LENGTH = frozenset({"x-cache", "content-length"})
_LENGTH = frozenset({"content-length"})


class ClientGone(Exception):
    """The client closed or stopped reading; nothing more can be sent."""


class UpstreamBroke(Exception):
    """The upstream failed after the response started: the client must be aborted."""


def parse_authority(authority: str, default_port: int) -> tuple[str, int]:
    """host (lower case, IPv6 without brackets) and port from an authority; ProtocolError if bad."""
    m = _AUTHORITY.fullmatch(authority)
    if not m or "@" in authority:
        raise ProtocolError(400, f"invalid host in request target {authority[:80]!r}")
    host = (m.group(1) or m.group(3)).lower()
    port_text = m.group(2) or m.group(4)
    port = int(port_text) if port_text else default_port
    if not 0 < port < 65536:
        raise ProtocolError(400, f"invalid port {port}")
    if m.group(1) is None and not _HOST_NAME.fullmatch(host):
        raise ProtocolError(400, f"invalid host name {host[:80]!r}")
    host = host.rstrip(".")
    if len(host) > MAX_HOST_NAME:
        raise ProtocolError(400, f"host name longer than {MAX_HOST_NAME} characters")
    return host, port


def _format_authority(host: str, port: int, default_port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return shown if port == default_port else f"{shown}:{port}"


class ClientConnection:
    """Serves one client connection until it closes, errs, idles out or the proxy stops."""

    scheme = "http"  # of the requests this connection carries ("https" inside an inspected tunnel)
    default_port = 80

    def __init__(self, ctx: ProxyContext, sock: socket.socket, client_ip: str) -> None:
        self.ctx = ctx
        self.pool = ctx.pool  # where upstream connections wait between requests (an inspected tunnel's: TLS ones)
        self.sock = sock
        self.client_ip = client_ip
        self.reader = BufferedSocket(sock)
        self.idle = True  # between requests: the server may close us at shutdown
        self.bytes_sent = 0
        self.open_entry: OpenConnection | None = None  # in ctx.connections while its last request is allowed
        self.tunnel_stats: TunnelStats | None = None  # the relay's byte counts, sampled by ctx.connections
        # Set by the server for the connections it accepts: hands the connection to the parking
        # lot between requests (True: taken). None (a decrypted tunnel's inner connection) never parks.
        self.park: Callable[[ClientConnection], bool] | None = None
        self.in_epoll = False  # registered in the lot's epoll (kept there until the socket closes)
        self.head_scan = 0  # where the search for the end of a head that is still arriving resumes
        self.idle_deadline = 0.0  # time.monotonic() by which the next request must start

    # ------------------------------------------------------------------ connection loop

    def open(self) -> bool:
        """Set up a newly accepted connection; False when it was turned away (and closed). Then
        either `park` it until its first request, or `run` it on this thread."""
        try:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            set_send_timeout(self.sock, SEND_TIMEOUT)
            if not self.ctx.settings.client_allowed(self.client_ip):
                with contextlib.suppress(ClientGone):
                    self._refuse_client()
                self.close()
                return False
        except OSError:
            self.close()
            return False
        except Exception:
            log.exception("unexpected error serving %s", self.client_ip)
            self.close()
            return False
        self.idle_deadline = time.monotonic() + self.ctx.settings.proxy.head_timeout
        return True

    def run(self) -> None:
        """Serve on this thread until the connection ends (a decrypted tunnel's inner connection)."""
        if not self.open():
            return
        try:
            while not self.ctx.stopping.is_set():
                self.idle = True
                try:
                    self.reader.wait_for_data(self.idle_deadline)
                except (Timeout, PeerClosed):
                    return
                self.idle = False
                # read after the wait: a reload while this connection idled applies to its next request
                if not self._serve_one(self.ctx.settings):
                    return
                self.idle_deadline = time.monotonic() + self.ctx.settings.proxy.idle_timeout
        except (ClientGone, OSError):
            pass
        except Exception:
            log.exception("unexpected error serving %s", self.client_ip)
        finally:
            self.close()

    def serve_ready(self) -> bool:
        """Serve a parked connection whose socket turned readable: every request whose head
        has arrived, then park it again. True when it ended parked; False when it was closed."""
        parked = False
        woken = True  # the lot saw something arrive; after an answer, an empty buffer parks at once
        try:
            while not self.ctx.stopping.is_set():
                if not self._head_arrived(woken):
                    # the next request, or the rest of its head, is not here yet: wait in the lot,
                    # so a client that trickles its head holds no thread
                    parked = self.park is not None and self.park(self)  # True: another thread may own it now
                    return parked
                self.idle = False
                if not self._serve_one(self.ctx.settings):
                    return False
                self.idle = True
                woken = False
                self.head_scan = 0
                self.idle_deadline = time.monotonic() + self.ctx.settings.proxy.idle_timeout
        except (ClientGone, PeerClosed, OSError):
            pass
        except Exception:
            log.exception("unexpected error serving %s", self.client_ip)
        finally:
            if not parked:
                self.close()
        return False

    def _head_arrived(self, woken: bool) -> bool:
        """Whether a whole request head (or more than a head may be) is buffered, reading what
        has arrived without waiting (`woken`: the lot saw bytes; otherwise, with nothing buffered,
        nothing is read: a busy client's next request comes after our answer, so a read would
        find nothing). The first byte of a request starts its head's deadline."""
        reader = self.reader
        if not woken and not reader.buffer:
            return False
        while reader.buffer.find(b"\r\n\r\n", self.head_scan) < 0 and len(reader.buffer) <= HEAD_LIMIT:
            self.head_scan = max(0, len(reader.buffer) - 3)  # each byte is searched once: linear in the head
            began = not reader.buffer
            if not reader.fill_nowait():
                return False
            if began:
                self.idle_deadline = time.monotonic() + self.ctx.settings.proxy.head_timeout
        return True

    def expire(self) -> None:
        """The lot's deadline passed while parked: an idle connection is closed, one whose
        request head stopped half-way is answered 408 first (and recorded), as on a thread."""
        if self.reader.buffer:
            record = RequestRecord(started=time.time(), duration_ms=self.ctx.settings.proxy.head_timeout * 1000,
                                   client_addr=self.client_ip, method="-", scheme="http", host="", port=0,
                                   target="", status=0, bytes_from_client=len(self.reader.buffer))
            sent_before = self.bytes_sent
            self._fail(record, 408, "The request did not arrive in time.", "timeout")
            record.bytes_to_client = self.bytes_sent - sent_before
            self._record(record)
        self.close()

    def close(self) -> None:
        """Forget the connection's registry entry and close its socket (once is enough; twice is harmless)."""
        if self.open_entry is not None:
            self.ctx.connections.remove(self.open_entry)
        with contextlib.suppress(OSError):
            self.sock.close()

    def _refuse_client(self) -> None:
        started = time.time()
        self._send(error_response(403, "This device is not allowed to use this proxy."))
        self._record(RequestRecord(started=started, duration_ms=0.0, client_addr=self.client_ip, method="-",
                                   scheme="-", host="", port=0, target="", status=403, action="error",
                                   error_kind="denied", reason="client address not in proxy.allowed_clients",
                                   bytes_to_client=self.bytes_sent))

    def _serve_one(self, settings: ProxySettings) -> bool:
        """Read, decide and answer one request. Returns whether to keep the connection."""
        started = time.time()
        t0 = time.monotonic()
        read_before = self.reader.bytes_read - len(self.reader.buffer)
        sent_before = self.bytes_sent
        record = RequestRecord(started=started, duration_ms=0.0, client_addr=self.client_ip, method="-",
                               scheme="http", host="", port=0, target="", status=0)
        keep = False
        if self.open_entry is not None:  # a rule change leaves it open until this request has its answer
            self.open_entry.busy = True
        try:
            keep = self._handle(settings, t0, record)
        except UpstreamProtocolError as invalid:
            self._fail(record, 502, f"The website sent an invalid response: {invalid.message}", "upstream")
        except ProtocolError as malformed:
            self._fail(record, malformed.status, malformed.message, "bad_request")
        except Timeout:
            self._fail(record, 408, "The request did not arrive in time.", "timeout")
        except HeadTooLarge:
            self._fail(record, *self._oversize_status(), "bad_request")
        except PeerClosed:
            record.action, record.error_kind = "error", "client"
        except UpstreamBroke as broke:
            record.action, record.error_kind, record.reason = "error", "upstream", str(broke)
            self._abort()
        except ClientGone:
            record.action, record.error_kind = "error", "client"
        finally:
            if self.open_entry is not None:
                self.open_entry.busy = False
            record.duration_ms = (time.monotonic() - t0) * 1000
            record.bytes_from_client = self.reader.bytes_read - len(self.reader.buffer) - read_before
            record.bytes_to_client = self.bytes_sent - sent_before
            if record.method != "-" or record.status:
                self._record(record)
        return keep

    def _oversize_status(self) -> tuple[int, str]:
        first_line_end = self.reader.buffer.find(b"\r\n")
        if first_line_end < 0 or first_line_end > MAX_TARGET + 32:
            return 414, "The request target is too long."
        return 431, "The request header section is too large."

    def _fail(self, record: RequestRecord, status: int, message: str, kind: ErrorKind) -> None:
        record.status = status
        record.action = "error"
        record.error_kind = kind
        record.reason = message
        with contextlib.suppress(ClientGone):
            self._send(error_response(status, message))

    # ------------------------------------------------------------------ one request

    def _handle(self, settings: ProxySettings, t0: float, record: RequestRecord) -> bool:
        head = self.reader.read_head(t0 + settings.proxy.head_timeout, HEAD_LIMIT)
        request = parse_request_head(head)
        record.method = request.method
        via = request.fields.get("via")
        if via is not None and settings.via_name in via:
            self._fail(record, 403, "This request has already passed through Guardian (a loop).", "denied")
            return False
        if request.method == "CONNECT":
            return self._connect(settings, request, record)
        m = _ABSOLUTE.fullmatch(request.target)
        if m is None:
            if request.target.startswith("/"):
                raise ProtocolError(400, "This is a proxy: configure it as your browser's HTTP proxy.")
            raise ProtocolError(400, f"invalid request target {request.target[:80]!r}")
        if m.group(1).lower() != "http":
            self._fail(record, 501, "HTTPS URLs must be requested through CONNECT.", "bad_request")
            return False
        host, port = parse_authority(m.group(2), 80)
        path = m.group(3) or "/"
        if not path.startswith("/"):
            path = "/" + path
        record.host, record.port, record.target = host, port, path
        body = framing_for_request(self.reader, request.fields, request.version)
        if port != 80 and self._upgrade_requested(request) and not settings.connect_allowed(port):
            # An upgrade becomes a raw tunnel: the same ports as CONNECT, plus HTTP's own.
            return self._refuse_port(settings, record, port)
        info = RequestInfo(self.client_ip, request.method, "http", host, port, path, request.fields)

        verdict = self.ctx.decider.decide(info)
        self._note_verdict(record, verdict)
        if not verdict.allowed:
            return self._send_verdict(request, verdict, body, record)
        if verdict.trusted and verdict.connect_port:
            port = verdict.connect_port
        if not verdict.trusted:
            self._keep_open(info, verdict)
        return self._forward(settings, request, host, port, path, body, verdict, record,
                             checked=not verdict.trusted)

    def _keep_open(self, info: RequestInfo, verdict: Verdict) -> None:
        """Register this keep-alive connection (or update it) with its latest allowed request,
        so a change of rules closes it if that request would now be blocked (once it has its answer)."""
        entry = self.open_entry
        if entry is None:
            self.open_entry = self.ctx.connections.add(info, (self.sock,), verdict.activity, busy=True)
        else:
            entry.request, entry.activity = info, verdict.activity

    def _answer_begun(self) -> None:
        """A long answer (a body streamed, an upgraded connection) has begun: from here a rule
        change that blocks its site may close the connection (connections.py)."""
        if self.open_entry is not None:
            self.open_entry.busy = False

    def _note_verdict(self, record: RequestRecord, verdict: Verdict) -> None:
        record.device, record.profile = verdict.device, verdict.profile
        record.rule, record.list_id, record.schedule = verdict.rule, verdict.list_id, verdict.schedule
        record.reason = verdict.reason
        if not verdict.allowed:
            record.action = "blocked"

    def _send_verdict(self, request: RequestHead, verdict: Verdict, body: Body, record: RequestRecord) -> bool:
        # A request body we have not read would be taken for the next request: close instead.
        keep = isinstance(body, EmptyBody) and self._client_wants_keepalive(request)
        headers = [(k, v) for k, v in verdict.headers if k.lower() not in ("connection", "content-length")]
        headers.append(("Content-Length", str(len(verdict.body))))
        if not keep:
            headers.append(("Connection", "close"))
        payload = b"" if request.method == "HEAD" else verdict.body
        self._send(serialise_head(f"HTTP/1.1 {verdict.status} {phrase(verdict.status)}", headers) + payload)
        record.status = verdict.status
        record.content_type = next((v for k, v in headers if k.lower() == "content-type"), None)
        return keep

    def _client_wants_keepalive(self, request: RequestHead) -> bool:
        tokens = connection_tokens(request.fields)
        if request.version == "HTTP/1.1":
            return "close" not in tokens
        return "keep-alive" in tokens

    # ------------------------------------------------------------------ forwarding

    def _open_upstream(self, settings: ProxySettings, host: str, port: int, checked: bool,
                       record: RequestRecord, verify: bool = True) -> tuple[BufferedSocket, str, bool] | None:
        """A pooled or new upstream connection; None when an error answer was sent."""
        pooled = self.pool.get(host, port, verify)
        if pooled:
            return pooled[0], pooled[1], True
        try:
            if checked:
                sock, addr = connect(host, port, settings.destinations, settings.proxy.connect_timeout,
                                     self.ctx.resolver)
            else:
                sock, addr = self._connect_unchecked(host, port, settings.proxy.connect_timeout)
        except DestinationDenied as denied:
            record.action, record.reason = "blocked", f"destination denied: {denied}"
            self._send(error_response(403, f"Guardian does not connect to this address: {denied}."))
            record.status = 403
            return None
        except UpstreamError as failed:
            status = 504 if failed.kind == "timeout" else 502
            self._fail(record, status, failed.message, failed.kind)
            return None
        set_send_timeout(sock, SEND_TIMEOUT)
        return BufferedSocket(sock), addr, False

    @staticmethod
    def _connect_unchecked(host: str, port: int, timeout: float) -> tuple[socket.socket, str]:
        """An address the decider vouched for (Verdict.trusted), exempt from the destination check."""
        try:
            sock = socket.create_connection((host, port), timeout)
        except OSError as exc:
            raise UpstreamError("refused", f"Guardian's own page is not answering: {exc}") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, host

    def _forward(self, settings: ProxySettings, request: RequestHead, host: str, port: int, path: str,
                 body: Body, verdict: Verdict, record: RequestRecord, checked: bool) -> bool:
        """Forward upstream, through the cache for GET and HEAD when there is one."""
        cache = self.ctx.cache
        upgrade = self._upgrade_requested(request)
        if cache is None or not checked or upgrade or request.method not in ("GET", "HEAD"):
            return self._forward_upstream(settings, request, host, port, path, body, verdict, record, checked,
                                          upgrade, None)
        url = f"{self.scheme}://{_format_authority(host, record.port, self.default_port)}{verdict.target or path}"
        connect_to = verdict.connect_host if verdict.connect_host not in (None, host) else None
        with cache.lookup(request.method, url, request.headers, connect_to=connect_to) as lookup:
            if lookup.outcome is Outcome.HIT and lookup.response is not None:  # a HIT carries its response
                blocked = self._cached_blocked(verdict, lookup.response)
                if blocked is not None:
                    self._note_verdict(record, blocked)
                    return self._send_verdict(request, blocked, body, record)
                return self._send_cached(settings, request, lookup.response, record, "HIT")
            return self._forward_upstream(settings, request, host, port, path, body, verdict, record, checked,
                                          upgrade, None if lookup.outcome is Outcome.BYPASS else lookup)

    @staticmethod
    def _cached_blocked(verdict: Verdict, cached: CachedResponse) -> Verdict | None:
        """A stored response is judged on its head like a fresh one (file kinds)."""
        if verdict.edits is None or not verdict.edits.judges_responses:
            return None
        fields = {k.lower(): v for k, v in cached.headers if k.lower() in ("content-type", "content-disposition")}
        return verdict.edits.response_verdict(fields)

    def _send_cached(self, settings: ProxySettings, request: RequestHead, cached: CachedResponse,
                     record: RequestRecord, label: str) -> bool:
        keep = self._client_wants_keepalive(request)
        headers = [*cached.headers, ("Via", f"1.1 {settings.via_name}")]
        if not keep:
            headers.append(("Connection", "close"))
        elif request.version == "HTTP/1.0":
            headers.append(("Connection", "keep-alive"))
        self._send(serialise_head(f"HTTP/1.1 {cached.status} {phrase(cached.status)}", headers) + cached.body)
        record.status, record.cache, record.action = cached.status, label, "cached"
        record.content_type = next((v for k, v in cached.headers if k.lower() == "content-type"), None)
        return keep

    def _forward_upstream(self, settings: ProxySettings, request: RequestHead, host: str, port: int, path: str,
                          body: Body, verdict: Verdict, record: RequestRecord, checked: bool, upgrade: bool,
                          lookup: Lookup | None) -> bool:
        connect_host = verdict.connect_host or host
        target = verdict.target or path
        # Host is rebuilt from the URI; Expect means nothing from an HTTP/1.0 client (RFC 9110 §10.1.1).
        # A client's own X-Forwarded-For goes on only as the start of the chain Guardian extends,
        # and only Guardian names the device to its own page (Guardian-Client).
        headers = end_to_end(request, keep=frozenset({"upgrade"}) if upgrade else frozenset(),
                             also_drop=_REPLACED_10 if request.version == "HTTP/1.0" else _REPLACED)
        if lookup is not None and lookup.outcome is Outcome.REVALIDATE:
            headers = lookup.upstream_headers(headers)
        if verdict.edits is not None:
            headers = verdict.edits.request_headers(headers)  # they drop or add, never Guardian-Client
        headers.insert(0, ("Host", _format_authority(host, record.port, self.default_port)))
        headers.append(("Via", f"{request.version[5:]} {settings.via_name}"))
        if settings.proxy.forwarded_for:
            chain = request.get("x-forwarded-for")
            headers.append(("X-Forwarded-For", f"{chain}, {self.client_ip}" if chain else self.client_ip))
        if not checked:  # a trusted Verdict's address is Guardian's own: tell it which device asks, signed
            headers.append(("Guardian-Client", f"{self.client_ip} {self.ctx.client_header_secret}"))
        if body.chunked:
            headers.append(("Transfer-Encoding", "chunked"))
        if upgrade:
            headers.append(("Connection", "Upgrade"))
        expect_continue = request.version == "HTTP/1.1" and (request.get("expect") or "").lower() == "100-continue"
        head_bytes = serialise_head(f"{request.method} {target} HTTP/1.1", headers)
        if isinstance(body, ChunkedBody) and not expect_continue:
            body.prefetch(PREFETCH_LIMIT, settings.proxy.idle_timeout)

        # A retry is only safe for a request that can be sent again as it was.
        retryable = request.method in IDEMPOTENT and isinstance(body, EmptyBody)
        for attempt in (1, 2):
            opened = self._open_upstream(settings, connect_host, port, checked, record, verify=not retryable)
            if opened is None:
                return False
            upstream, addr, reused = opened
            record.upstream_addr = addr
            try:
                response = self._exchange(settings, upstream, head_bytes, request, body, expect_continue)
                break
            except _RetryableUpstreamError:
                upstream.close()
                # A reused connection the origin had closed: retry once on a new one.
                if not (reused and attempt == 1 and retryable):
                    self._fail(record, 502, "The website closed the connection without answering.", "upstream")
                    return False
            except UpstreamError as failed:
                upstream.close()
                self._fail(record, 504 if failed.kind == "timeout" else 502, failed.message, failed.kind)
                return False
            except UpstreamProtocolError as invalid:
                upstream.close()
                self._fail(record, 502, f"The website sent an invalid response: {invalid.message}", "upstream")
                return False
            except ProtocolError as malformed:
                upstream.close()
                # the client's body was malformed while we streamed it
                self._fail(record, malformed.status, malformed.message, "bad_request")
                return False
            except BaseException:
                upstream.close()
                raise
        return self._relay_response(settings, request, upstream, response, body, record,
                                    connect_host, port, upgrade, lookup, verdict)

    @staticmethod
    def _upgrade_requested(request: RequestHead) -> bool:
        return "upgrade" in request.fields and "upgrade" in connection_tokens(request.fields)

    def _exchange(self, settings: ProxySettings, up_reader: BufferedSocket, head_bytes: bytes,
                  request: RequestHead, body: Body, expect_continue: bool) -> ResponseHead:
        """Send the request, return the first non-1xx (or 101) response head."""
        upstream = up_reader.sock
        timeout = settings.proxy.response_timeout
        continue_sent = False
        read_before = up_reader.bytes_read
        try:
            upstream.sendall(head_bytes)
            if not isinstance(body, EmptyBody):
                if expect_continue:
                    early = self._await_continue(up_reader)
                    if early is not None:
                        return early
                    self._send(b"HTTP/1.1 100 Continue\r\n\r\n")
                    continue_sent = True
                self._send_body_upstream(upstream, body, settings.proxy.idle_timeout)
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise _RetryableUpstreamError() from exc
        except (TimeoutError, BlockingIOError):  # SO_SNDTIMEO expired
            raise UpstreamError("timeout", "The website stopped accepting the request.") from None
        deadline = time.monotonic() + timeout
        while True:
            try:
                raw = up_reader.read_head(deadline, MAX_RESPONSE_HEAD)
            except PeerClosed:
                if up_reader.bytes_read == read_before:
                    raise _RetryableUpstreamError() from None
                raise UpstreamError("upstream", "The website closed the connection mid-answer.") from None
            except Timeout:
                raise UpstreamError("timeout", "The website did not answer in time.") from None
            except HeadTooLarge:
                raise UpstreamProtocolError("response head too large") from None
            response = parse_response_head(raw)
            if response.status == 101 or response.status >= 200:
                return response
            # Interim responses: 100 only if the client asked and has not had one; others (103) for 1.1.
            if request.version == "HTTP/1.1" and (response.status != 100 or (expect_continue and not continue_sent)):
                self._send(serialise_head(f"HTTP/1.1 {response.status} {response.reason}",
                                          end_to_end(response)))
                continue_sent = continue_sent or response.status == 100

    def _await_continue(self, up_reader: BufferedSocket) -> ResponseHead | None:
        """Wait briefly for the upstream's answer to Expect: 100-continue.
        Returns a final response that came instead, or None to go ahead with the body."""
        if not readable([up_reader.sock], EXPECT_WAIT):
            return None
        try:
            raw = up_reader.read_head(time.monotonic() + 10, MAX_RESPONSE_HEAD)
        except PeerClosed:
            raise UpstreamError("upstream", "The website closed the connection mid-answer.") from None
        except Timeout:
            raise UpstreamError("timeout", "The website did not answer in time.") from None
        except HeadTooLarge:
            raise UpstreamProtocolError("response head too large") from None
        response = parse_response_head(raw)
        return None if response.status == 100 else response

    def _send_body_upstream(self, upstream: socket.socket, body: Body, timeout: float) -> None:
        if isinstance(body, EmptyBody):
            return
        if body.chunked:
            for piece in body.chunks(timeout):
                upstream.sendall(b"%x\r\n%b\r\n" % (len(piece), piece))
            upstream.sendall(b"0\r\n\r\n")
        else:
            for piece in body.chunks(timeout):
                upstream.sendall(piece)

    # ------------------------------------------------------------------ the response

    def _relay_response(self, settings: ProxySettings, request: RequestHead, up_reader: BufferedSocket,
                        response: ResponseHead, request_body: Body, record: RequestRecord,
                        connect_host: str, port: int, upgrade: bool, lookup: Lookup | None,
                        verdict: Verdict) -> bool:
        record.status = response.status
        if response.status == 101 and upgrade:
            return self._relay_upgrade(settings, up_reader, response)
        edits = verdict.edits
        if edits is not None:
            blocked = edits.response_verdict(response.fields)
            if blocked is not None:
                # Judged on its head: not a byte of the body is relayed, and the upstream is
                # closed rather than drained (it may be a large download).
                up_reader.close()
                self._note_verdict(record, blocked)
                done = request_body.complete or isinstance(request_body, EmptyBody)
                return self._send_verdict(request, blocked, EmptyBody() if done else request_body, record)
        try:
            body = framing_for_response(up_reader, response.fields, response.status, request.method)
        except ProtocolError as exc:
            up_reader.close()
            self._fail(record, 502, f"The website sent an invalid response: {exc.message}", "upstream")
            return False
        cache = self.ctx.cache
        if cache is not None and lookup is not None and lookup.outcome is Outcome.REVALIDATE and response.status == 304:
            self._release_upstream(up_reader, body, response, True, connect_host, port, record)
            return self._send_cached(settings, request, cache.revalidated(lookup, response.headers), record,
                                     "REVALIDATED")
        writer = (cache.begin_store(lookup, response.status, response.headers)
                  if cache is not None and lookup is not None else None)
        # The client's request body was not sent (an early final answer to Expect): close after.
        request_done = request_body.complete or isinstance(request_body, EmptyBody)
        keep = self._client_wants_keepalive(request) and request_done and not (
            body.until_close and request.version == "HTTP/1.0")
        rechunk = body.chunked or body.until_close
        # An upstream cache's X-Cache gives way to ours; a re-framed body has no Content-Length.
        if lookup is not None:
            drop = _X_CACHE_AND_LENGTH if rechunk else _X_CACHE
        else:
            drop = _LENGTH if rechunk else frozenset()
        headers = end_to_end(response, also_drop=drop)
        if edits is not None:
            headers = edits.response_headers(headers)
        headers.append(("Via", f"{response.version[5:]} {settings.via_name}"))
        if lookup is not None:
            headers.append(("X-Cache", "MISS"))
            record.cache = "MISS"
        if rechunk:
            if request.version == "HTTP/1.1":
                headers.append(("Transfer-Encoding", "chunked"))
            else:
                keep = False
        if not keep:
            headers.append(("Connection", "close"))
        elif request.version == "HTTP/1.0":
            headers.append(("Connection", "keep-alive"))
        record.content_type = response.get("content-type")
        head = serialise_head(f"HTTP/1.1 {response.status} {response.reason}", headers)
        chunked_out = rechunk and request.version == "HTTP/1.1"
        if writer is None:  # most responses: no context to enter
            self._stream_body(settings, head, body, up_reader, chunked_out, None)
        else:
            with writer:
                self._stream_body(settings, head, body, up_reader, chunked_out, writer)
                if body.complete:
                    writer.finish()
        self._release_upstream(up_reader, body, response, request_done, connect_host, port, record)
        return keep

    def _release_upstream(self, up_reader: BufferedSocket, body: Body, response: ResponseHead, request_done: bool,
                          connect_host: str, port: int, record: RequestRecord) -> None:
        """Back to the pool when the exchange ended cleanly in frame, else closed."""
        reusable = (body.complete and body.reusable and not body.until_close and request_done
                    and response.version == "HTTP/1.1"
                    and "close" not in connection_tokens(response.fields) and not up_reader.buffer)
        if reusable:
            self.pool.put(connect_host, port, up_reader, record.upstream_addr or "")
        else:
            up_reader.close()

    def _stream_body(self, settings: ProxySettings, head: bytes, body: Body, up_reader: BufferedSocket,
                     chunked_out: bool, writer: Writer | None) -> None:
        timeout = settings.proxy.response_timeout
        try:
            if isinstance(body, LengthBody) and len(up_reader.buffer) >= body.remaining:
                # the whole (small) body is here already: one send for head and body
                payload = up_reader.read_exact(body.remaining, None)
                body.remaining = 0
                body.complete = True
                if writer is not None:
                    # committed before the client has its last byte, so its next request
                    # (a HEAD, a reload) finds the entry
                    writer.write(payload)
                    writer.finish()
                self._send(head + payload)
                return
            self._send(head)
            self._answer_begun()
            if writer is None and isinstance(body, LengthBody) and HAVE_SPLICE and body.remaining >= SPLICE_MIN:
                self._splice_length_body(body, up_reader, timeout)
                return
            for piece in body.chunks(timeout):
                if writer is not None:
                    writer.write(piece)
                    if isinstance(body, LengthBody) and body.remaining == 0:
                        writer.finish()  # the whole body is in: commit before its last send
                self._send(b"%x\r\n%b\r\n" % (len(piece), piece) if chunked_out else piece)
            if chunked_out:
                if writer is not None and body.complete:
                    writer.finish()  # before the last chunk, as on the fast path
                self._send(b"0\r\n\r\n")
        except (PeerClosed, Timeout, ProtocolError) as exc:
            raise UpstreamBroke(f"the website's answer broke off: {type(exc).__name__}") from None

    def _splice_length_body(self, body: LengthBody, up_reader: BufferedSocket, timeout: float) -> None:
        buffered = up_reader.take_buffer()
        if buffered:
            self._send(buffered)
            body.remaining -= len(buffered)
        moved = splice_exact(up_reader.sock, self.sock, body.remaining, timeout)
        self.bytes_sent += moved
        body.remaining -= moved
        if body.remaining:
            raise UpstreamBroke("the website's answer broke off")
        body.complete = True

    def _relay_upgrade(self, settings: ProxySettings, up_reader: BufferedSocket, response: ResponseHead) -> bool:
        headers = end_to_end(response, keep=frozenset({"upgrade"}))
        headers += [("Connection", "Upgrade"), ("Via", f"1.1 {settings.via_name}")]
        try:
            self._send(serialise_head(f"HTTP/1.1 101 {response.reason}", headers) + up_reader.take_buffer())
            self._answer_begun()
            self.tunnel_stats = TunnelStats()
            if self.open_entry is not None:  # an upgraded connection's use counts like a tunnel's
                self.open_entry.stats = self.tunnel_stats
            self._tunnel(settings, up_reader.sock)
        finally:
            up_reader.close()
        return False

    # ------------------------------------------------------------------ CONNECT

    def _connect(self, settings: ProxySettings, request: RequestHead, record: RequestRecord) -> bool:
        record.scheme = "https"
        if self.open_entry is not None:  # no HTTP request follows a CONNECT: a tunnel has an entry of its own
            self.ctx.connections.remove(self.open_entry)
            self.open_entry = None
        host, port = parse_authority(request.target, 0)
        if port == 0:
            raise ProtocolError(400, "CONNECT needs host:port")
        record.host, record.port = host, port
        if not settings.connect_allowed(port):
            return self._refuse_port(settings, record, port)
        info = RequestInfo(self.client_ip, "CONNECT", "https", host, port, "", request.fields)
        verdict = self.ctx.decider.decide(info)
        self._note_verdict(record, verdict)
        if verdict.intercept == "inspect" and self.ctx.tls is not None and self.ctx.tls.will_inspect(self, host,
                                                                                                     record):
            # A decrypted tunnel is closed too when the rules come to block its site.
            entry = self.ctx.connections.add(info, (self.sock,), verdict.activity) if verdict.allowed else None
            try:
                return self.ctx.tls.inspect(self, settings, host, port, verdict, record, entry)
            finally:
                if entry is not None:
                    self.ctx.connections.remove(entry)
        if not verdict.allowed:
            if verdict.intercept == "page" and self.ctx.tls is not None:
                return self.ctx.tls.answer_blocked(self, settings, host, port, verdict, record)
            self._send_verdict(request, verdict, EmptyBody(), record)
            return False
        opened = self._open_upstream(settings, verdict.connect_host or host, port, True, record)
        if opened is None:
            return False
        upstream, addr, _ = opened
        record.upstream_addr = addr
        record.status = 200
        # busy until the client has its 200: a rule change closes the tunnel, never the CONNECT unanswered
        entry = self.ctx.connections.add(info, (self.sock, upstream.sock), verdict.activity, TunnelStats(), busy=True)
        try:
            self._send(b"HTTP/1.1 200 Connection established\r\n\r\n")
            entry.busy = False
            self.tunnel_stats = entry.stats
            # The site named inside the TLS handshake (SNI) is decided too; the stricter wins.
            tls = self.ctx.tls
            if tls is None or tls.sni_allowed(self, settings, host, port, record, upstream.sock):
                self._tunnel(settings, upstream.sock)
        finally:
            self.ctx.connections.remove(entry)
            upstream.close()
        if entry.closed:
            record.reason = "Closed: the rules now block it"
        return False

    def _refuse_port(self, settings: ProxySettings, record: RequestRecord, port: int) -> bool:
        what = "CONNECT" if record.method == "CONNECT" else "An upgrade"
        record.action, record.reason = "blocked", f"{what} to port {port} is not allowed"
        self._send(error_response(403, f"Guardian only opens tunnels to port(s) "
                                       f"{', '.join(map(str, settings.proxy.connect_ports))}."))
        record.status = 403
        return False

    def _tunnel(self, settings: ProxySettings, upstream: socket.socket) -> None:
        """Relay both ways; bytes the client pipelined after its request go first."""
        early = self.reader.take_buffer()
        try:
            if early:
                upstream.sendall(early)
        except OSError:
            return
        with on_every_core():
            up, down = relay(self.sock, upstream, settings.proxy.tunnel_idle_timeout, self.ctx.force_close.is_set,
                             self.tunnel_stats)
        self.bytes_sent += down
        self.reader.bytes_read += up

    # ------------------------------------------------------------------ sending

    def _send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise ClientGone() from exc
        self.bytes_sent += len(data)

    def _abort(self) -> None:
        """Close with a reset so the client sees a broken transfer, never a clean end."""
        with contextlib.suppress(OSError):
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with contextlib.suppress(OSError):
            self.sock.close()

    def _record(self, record: RequestRecord) -> None:
        try:
            self.ctx.recorder.record(record)
        except Exception:
            log.exception("recorder failed")


class _RetryableUpstreamError(Exception):
    """The upstream closed before answering anything."""
