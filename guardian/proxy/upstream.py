"""Connections to origins: resolution, the destination check, and the idle pool.

The destination check runs on resolved addresses, and we connect to exactly the address
we checked (never re-resolving), so a name that resolves to the Pi itself or into
`deny_destinations` cannot be used to reach them, DNS rebinding included.

Idle upstream connections are kept per (connect host, port) for reuse; a pooled socket
is tested for liveness before reuse and dropped after its idle timeout.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Iterable

from guardian.config import IPNetwork
from guardian.proxy.stream import BufferedSocket
from guardian.records import ErrorKind

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UpstreamError(Exception):
    """Could not reach the origin; `kind` is dns, refused or timeout."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class DestinationDenied(Exception):
    """The origin's address is one the proxy must never connect to."""


class DestinationPolicy:
    """Which resolved addresses the proxy may connect to."""

    def __init__(self, deny: Iterable[IPNetwork], own_ports: Iterable[int], deny_own_addresses: bool) -> None:
        self.deny = tuple(deny)
        self.own_ports = frozenset(own_ports)
        self.deny_own_addresses = deny_own_addresses
        self._local_cache: dict[IPAddress, bool] = {}
        self._lock = threading.Lock()

    def is_local(self, ip: IPAddress) -> bool:
        """True when `ip` is one of this machine's addresses (binding to it succeeds)."""
        with self._lock:
            cached = self._local_cache.get(ip)
        if cached is not None:
            return cached
        family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
        local = ip.is_unspecified or ip.is_loopback
        if not local:
            try:
                with socket.socket(family, socket.SOCK_STREAM) as probe:
                    probe.bind((str(ip), 0))
                local = True
            except OSError:
                local = False
        with self._lock:
            if len(self._local_cache) > 4096:
                self._local_cache.clear()
            self._local_cache[ip] = local
        return local

    def refusal(self, ip: IPAddress, port: int) -> str | None:
        """Why connecting to ip:port is refused, or None when it is allowed."""
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        for net in self.deny:
            if ip.version == net.version and ip in net:
                return f"{ip} is in a denied network ({net})"
        if self.deny_own_addresses and self.is_local(ip):
            return f"{ip} is this Guardian's own address"
        if port in self.own_ports and self.is_local(ip):
            return "that is Guardian's own proxy port (a request loop)"
        return None


def resolve(host: str, port: int) -> list[tuple[int, tuple]]:
    """(family, sockaddr) for host, IP literals without a lookup."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise UpstreamError("dns", f"cannot resolve {host}: {exc.strerror}") from None
    except UnicodeError:
        raise UpstreamError("dns", f"cannot resolve {host}: not a valid host name") from None
    seen = set()
    result: list[tuple[int, tuple]] = []
    for family, _, _, _, sockaddr in infos:
        if sockaddr[0] not in seen:
            seen.add(sockaddr[0])
            result.append((family, sockaddr))
    return result


Resolver = Callable[[str, int], list[tuple[int, tuple]]]


def connect(host: str, port: int, policy: DestinationPolicy, timeout: float,
            resolver: Resolver = resolve) -> tuple[socket.socket, str]:
    """Resolve host, refuse denied addresses, connect to the first allowed one that answers."""
    candidates = resolver(host, port)
    refusals = []
    errors: list[UpstreamError] = []
    deadline = time.monotonic() + timeout
    for family, sockaddr in candidates:
        ip = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])
        why = policy.refusal(ip, port)
        if why:
            refusals.append(why)
            continue
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            errors.append(UpstreamError("timeout", f"connecting to {host}:{port} timed out"))
            break
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(remaining)
            sock.connect(sockaddr)
        except TimeoutError:
            sock.close()
            errors.append(UpstreamError("timeout", f"connecting to {host}:{port} timed out"))
            continue
        except OSError as exc:
            sock.close()
            errors.append(UpstreamError("refused", f"cannot connect to {host}:{port}: {exc.strerror or exc}"))
            continue
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, str(ip)
    if errors:
        raise errors[0]
    raise DestinationDenied(refusals[0] if refusals else f"{host} has no usable address")


def _is_alive(sock: socket.socket) -> bool:
    """An idle pooled socket is reusable only if the peer has neither closed nor sent anything."""
    try:
        sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return True  # nothing to read: still open and quiet
    except OSError:
        return False
    return False  # the end of the stream, or bytes nobody asked for


class UpstreamPool:
    """Idle keep-alive connections per (connect host, port), kept as BufferedSockets so their
    kernel timeouts stay set between requests."""

    # Connections idle for less than this are reused without a liveness probe when the
    # request can be retried (a stale one then costs a retry, not an error).
    PROBE_AFTER = 1.0

    def __init__(self, idle_timeout: float = 30.0, max_per_origin: int = 16, max_total: int = 512) -> None:
        self.idle_timeout = idle_timeout
        self.max_per_origin = max_per_origin
        self.max_total = max_total
        self._idle: dict[tuple[str, int], list[tuple[float, BufferedSocket, str]]] = {}
        self._count = 0
        self._lock = threading.Lock()

    def get(self, host: str, port: int, verify: bool = True) -> tuple[BufferedSocket, str] | None:
        """An idle connection to host:port; `verify` probes it even when it was just used."""
        now = time.monotonic()
        while True:
            with self._lock:
                stack = self._idle.get((host, port))
                if not stack:
                    return None
                since, conn, addr = stack.pop()
                self._count -= 1
            idle = now - since
            if idle < self.idle_timeout and ((not verify and idle < self.PROBE_AFTER) or _is_alive(conn.sock)):
                return conn, addr
            conn.close()

    def put(self, host: str, port: int, conn: BufferedSocket, addr: str) -> None:
        with self._lock:
            stack = self._idle.setdefault((host, port), [])
            if len(stack) < self.max_per_origin and self._count < self.max_total:
                stack.append((time.monotonic(), conn, addr))
                self._count += 1
                return
        conn.close()

    def reap(self) -> None:
        """Close connections idle for longer than the timeout (called from a timer)."""
        cutoff = time.monotonic() - self.idle_timeout
        expired = []
        with self._lock:
            for key, stack in list(self._idle.items()):
                keep = [entry for entry in stack if entry[0] >= cutoff]
                expired += [entry[1] for entry in stack if entry[0] < cutoff]
                self._count -= len(stack) - len(keep)
                if keep:
                    self._idle[key] = keep
                else:
                    del self._idle[key]
        for conn in expired:
            with contextlib.suppress(OSError):
                conn.close()

    def close(self) -> None:
        with self._lock:
            stacks = list(self._idle.values())
            self._idle.clear()
            self._count = 0
        for stack in stacks:
            for _, conn, _ in stack:
                with contextlib.suppress(OSError):
                    conn.close()
