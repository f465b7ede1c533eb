"""Reaching Guardian's own settings page through the proxy: a policy step, not the core's.

A device set to use the proxy asks for `http://guardian/` (or `guardian.lan`, the
configured `web.names`, or the page's own address and port). The proxy core would refuse
to connect there (the machine's own addresses are denied), so the policy answers such a
request first with an allowed Verdict whose connect address is the page's real one and
marked `trusted`: the core connects to exactly that address without the destination
check, and caches nothing. Only plain-HTTP requests are routed; a CONNECT is decided
like any other.
"""

from __future__ import annotations

import ipaddress
import socket
import threading

from guardian.config import WebConfig
from guardian.proxy.hooks import RequestInfo, Verdict

_MAX_CACHED = 256


def address_for_devices(web: WebConfig) -> str | None:
    """The settings page's address as a device using the proxy reaches it (its first name,
    else its own address), for links on Guardian's pages; None when neither is known."""
    if web.names:
        return f"http://{web.names[0]}"
    host = web.listen.host
    if host in ("0.0.0.0", "::", ""):
        return None
    return f"http://[{host}]:{web.listen.port}" if ":" in host else f"http://{host}:{web.listen.port}"


class SettingsPageRoute:
    def __init__(self, web: WebConfig) -> None:
        self._names = frozenset(web.names)
        self._listen = web.listen
        host = web.listen.host
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        self._verdict = Verdict(allowed=True, connect_host=host, connect_port=web.listen.port, trusted=True,
                                reason="Guardian's settings page")
        self._local: dict[str, bool] = {}
        self._lock = threading.Lock()

    def verdict(self, request: RequestInfo) -> Verdict | None:
        """The Verdict routing `request` to the settings page, or None when it asks for something else."""
        if request.method == "CONNECT":
            return None
        host, port = request.host, request.port
        if host in self._names and port in (80, self._listen.port):
            return self._verdict
        if port != self._listen.port:
            return None
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return None
        listen_host = self._listen.host
        if str(ip) == listen_host or (listen_host in ("0.0.0.0", "::") and self._is_local(ip)):
            return self._verdict
        return None

    def _is_local(self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        """One of this machine's addresses (the kernel lets us bind to it); answers cached."""
        key = str(ip)
        with self._lock:
            known = self._local.get(key)
        if known is not None:
            return known
        local = ip.is_loopback or ip.is_unspecified
        if not local:
            family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
            try:
                with socket.socket(family, socket.SOCK_STREAM) as probe:
                    probe.bind((key, 0))
                local = True
            except OSError:
                local = False
        with self._lock:
            if len(self._local) >= _MAX_CACHED:
                self._local.clear()
            self._local[key] = local
        return local
