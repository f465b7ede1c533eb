"""Fetching one list: a conditional GET over HTTP(S), or a read of a local file.

Strategy: `http.client` rather than `urllib.request`, because a list download needs
limits urllib does not give: a connect timeout apart from a read timeout (silence between
two reads) and a total deadline, a byte cap enforced while reading so a broken or hostile
server cannot fill the SD card, and redirects counted here so a loop is reported as a
loop. gzip is accepted (big lists shrink about four times); the cap applies to the
decompressed size. Every failure is a `DownloadError` whose message is a sentence for
the status table, and which says whether trying again soon could help (`transient`).

Every connection, the first and each redirect's, goes through the proxy's own
destination check (`deny_destinations`, `deny_own_addresses`): the name is resolved, the
addresses are checked, and the socket connects to exactly the address checked. A list URL
(or a redirect) pointing at the Pi itself or the LAN services it protects is refused.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import guardian
from guardian.proxy.upstream import DestinationDenied, DestinationPolicy, UpstreamError, connect
from guardian.sizes import size_text

_REDIRECTS = (301, 302, 303, 307, 308)
_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    connect_timeout: float = 15.0
    read_timeout: float = 30.0  # longest silence from the server
    total_timeout: float = 300.0  # the whole download, redirects included
    max_bytes: int = 64 * 2**20
    max_redirects: int = 5


@dataclass(frozen=True, slots=True)
class Fetched:
    body: bytes | None  # None: the server answered 304 Not Modified
    etag: str | None = None
    last_modified: str | None = None
    url: str = ""  # where the body came from, after redirects


class DownloadError(Exception):
    def __init__(self, message: str, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


def fetch(
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    limits: Limits = Limits(),
    clock: Callable[[], float] = time.monotonic,
    destinations: DestinationPolicy | None = None,
) -> Fetched:
    """Download `url`; with `etag`/`last_modified` the server may answer "not modified".
    `destinations` says which addresses may be connected to (None: any, for tests only)."""
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("http", "https"):
        return _fetch_http(url, etag, last_modified, limits, clock, destinations)
    if scheme == "file":
        try:
            return _fetch_file(file_url_path(url), limits)
        except ValueError as exc:
            raise DownloadError(str(exc)) from None
    if "://" in url or scheme == "builtin":
        raise DownloadError(f"cannot download {url!r}: only http, https, file and local paths")
    return _fetch_file(Path(url), limits)


def file_url_path(url: str) -> Path:
    """The file a file:// address names, %-escapes decoded; ValueError for another machine's."""
    parts = urlsplit(url)
    if parts.netloc.lower() not in ("", "localhost"):
        raise ValueError(f"{url!r}: a file:// address names a file on this machine (file:///home/pi/list.txt)")
    return Path(unquote(parts.path))


def _fetch_file(path: Path, limits: Limits) -> Fetched:
    try:
        size = path.stat().st_size
        if size > limits.max_bytes:
            raise DownloadError(f"{path} is {size_text(size)}, over the {size_text(limits.max_bytes)} limit")
        return Fetched(path.read_bytes(), url=str(path))
    except FileNotFoundError:
        raise DownloadError(f"no such file: {path}") from None
    except OSError as exc:
        raise DownloadError(f"cannot read {path}: {exc.strerror or exc}") from None


def _fetch_http(
    url: str, etag: str | None, last_modified: str | None, limits: Limits, clock: Callable[[], float],
    destinations: DestinationPolicy | None,
) -> Fetched:
    deadline = clock() + limits.total_timeout
    headers = {
        "User-Agent": f"Guardian/{guardian.__version__} (filter list refresh)",
        "Accept": "text/plain, */*;q=0.5",
        "Accept-Encoding": "gzip",
    }
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    chain = [url]
    current = url
    while True:
        status, response_headers, body = _one_request(current, headers, limits, deadline, clock, destinations)
        if status not in _REDIRECTS:
            break
        location = response_headers.get("location")
        if not location:
            raise DownloadError(f"{current} answered {status} with no Location to follow")
        target = urljoin(current, location)
        if urlsplit(target).scheme.lower() not in ("http", "https"):
            raise DownloadError(f"{current} redirects to {target!r}, which is not http or https")
        if target in chain:
            raise DownloadError("redirect loop: " + " -> ".join([*chain[chain.index(target):], target]))
        if len(chain) > limits.max_redirects:
            raise DownloadError(f"more than {limits.max_redirects} redirects, last to {target}")
        chain.append(target)
        current = target
    if status == 304:
        return Fetched(None, response_headers.get("etag") or etag,
                       response_headers.get("last-modified") or last_modified, current)
    if status != 200:
        # Server trouble and rate limits pass; a 404 or 403 will still be there in a minute.
        transient = status >= 500 or status in (408, 429)
        raise DownloadError(f"{current} answered {status} {http.client.responses.get(status, '')}".rstrip(),
                            transient)
    return Fetched(body, response_headers.get("etag"), response_headers.get("last-modified"), current)


def _one_request(
    url: str, headers: dict[str, str], limits: Limits, deadline: float, clock: Callable[[], float],
    destinations: DestinationPolicy | None,
) -> tuple[int, dict[str, str], bytes]:
    """(status, lower-cased headers, body) of one GET; the body only for a 200."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host:
        raise DownloadError(f"{url!r} names no host")
    try:
        port = parts.port
    except ValueError:
        raise DownloadError(f"{url!r} has a bad port") from None
    timeout = max(0.001, min(limits.connect_timeout, deadline - clock()))
    conn: http.client.HTTPConnection
    context = ssl.create_default_context() if parts.scheme.lower() == "https" else None
    if context is not None:
        conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    where = f"{host}:{conn.port}"
    try:
        if destinations is not None:
            _connect_checked(conn, host, destinations, timeout, url, context)
        try:
            if conn.sock is None:
                conn.connect()
        except ConnectionRefusedError:
            raise DownloadError(f"connection refused by {where}", transient=True) from None
        except socket.gaierror:
            raise DownloadError(f"cannot resolve the host name {host!r}", transient=True) from None
        except ssl.SSLError as exc:
            raise DownloadError(f"TLS failed with {where}: {exc.reason or exc}") from None
        except TimeoutError:
            raise DownloadError(f"could not connect to {where} within {timeout:g} s", transient=True) from None
        except OSError as exc:
            raise DownloadError(f"cannot connect to {where}: {exc.strerror or exc}", transient=True) from None
        # Kept apart: http.client drops conn.sock when the response owns the connection.
        sock = conn.sock
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            _arm(sock, limits, deadline, clock)
            conn.request("GET", target, headers=headers)
            response = conn.getresponse()
            found = {key.lower(): value for key, value in response.getheaders()}
            if response.status != 200:
                return response.status, found, b""
            return response.status, found, _read_body(response, found, sock, limits, deadline, clock)
        except TimeoutError:
            raise DownloadError(f"{where} sent nothing for {limits.read_timeout:g} s"
                                if clock() < deadline else
                                f"{url} took longer than {limits.total_timeout:g} s", transient=True) from None
        except http.client.IncompleteRead as exc:
            raise DownloadError(f"the download was cut short after {size_text(len(exc.partial))}",
                                transient=True) from None
        except (http.client.HTTPException, OSError) as exc:
            raise DownloadError(f"the download from {where} failed: {exc or type(exc).__name__}",
                                transient=True) from None
    finally:
        conn.close()


def _connect_checked(
    conn: http.client.HTTPConnection, host: str, destinations: DestinationPolicy, timeout: float, url: str,
    context: ssl.SSLContext | None,
) -> None:
    """Connect `conn` to an address of `host` that the destination check allows."""
    try:
        sock, _ = connect(host, conn.port, destinations, timeout)
    except DestinationDenied as exc:
        raise DownloadError(f"refused to download {url}: it leads to a place lists may not come from ({exc})"
                            ) from None
    except UpstreamError as exc:
        where = f"{host}:{conn.port}"
        message = {
            "dns": f"cannot resolve the host name {host!r}",
            "timeout": f"could not connect to {where} within {timeout:g} s",
        }.get(exc.kind, f"connection refused by {where}" if "refused" in exc.message.lower() else exc.message)
        raise DownloadError(message, transient=True) from None
    if context is not None:
        try:
            sock = context.wrap_socket(sock, server_hostname=host)
        except ssl.SSLError as exc:
            sock.close()
            raise DownloadError(f"TLS failed with {host}:{conn.port}: {exc.reason or exc}") from None
        except OSError as exc:
            sock.close()
            raise DownloadError(f"cannot connect to {host}:{conn.port}: {exc.strerror or exc}", transient=True
                                ) from None
    conn.sock = sock


def _arm(sock: socket.socket | None, limits: Limits, deadline: float, clock: Callable[[], float]) -> None:
    """Let the next socket operation wait no longer than the read timeout or the deadline."""
    remaining = deadline - clock()
    if remaining <= 0:
        raise TimeoutError
    if sock is not None:
        sock.settimeout(min(limits.read_timeout, remaining))


def _read_body(
    response: http.client.HTTPResponse,
    headers: dict[str, str],
    sock: socket.socket | None,
    limits: Limits,
    deadline: float,
    clock: Callable[[], float],
) -> bytes:
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limits.max_bytes:
        raise DownloadError(f"the list is {size_text(int(declared))}, over the {size_text(limits.max_bytes)} limit")
    gzipped = headers.get("content-encoding", "").strip().lower() in ("gzip", "x-gzip")
    inflate = zlib.decompressobj(wbits=31) if gzipped else None
    body = bytearray()
    received = 0  # bytes on the wire, to tell a body cut short from a complete one
    # The response closes the socket itself once the body is complete; no arming after that.
    while not response.isclosed():
        _arm(sock, limits, deadline, clock)
        chunk = response.read(_CHUNK)
        if not chunk:
            break
        received += len(chunk)
        if inflate is not None:
            try:
                # max_length bounds the output: a small gzip bomb cannot blow up memory.
                chunk = inflate.decompress(chunk, limits.max_bytes + 1 - len(body))
            except zlib.error as exc:
                raise DownloadError(f"the gzip-compressed download is corrupt: {exc}") from None
        body += chunk
        if len(body) > limits.max_bytes or (inflate is not None and inflate.unconsumed_tail):
            raise DownloadError(f"the list is larger than the {size_text(limits.max_bytes)} limit")
    # http.client returns a short body without complaint when the server hangs up early.
    if declared.isdigit() and received < int(declared):
        raise DownloadError(f"the download was cut short after {size_text(received)} of {size_text(int(declared))}",
                            transient=True)
    if inflate is not None and not inflate.eof:
        raise DownloadError("the gzip-compressed download was cut short", transient=True)
    return bytes(body)
