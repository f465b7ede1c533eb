"""The Host header allow-list, against DNS rebinding.

A web page elsewhere can point a name it controls at the Pi's address and then talk to
the settings page from the parent's own browser, as a "same origin". The browser still
sends that foreign name as the Host header, so only requests naming the page by one of
its own names are served: localhost and the loopback addresses, the machine's host name
(and NAME.local, as mDNS announces it), the configured `web.names`, the host of
`web.listen`, and any IP address of this machine.

"An address of this machine" is tested by binding a socket to it, which the kernel
allows only for local addresses; answers are cached (bounded), and the test is made only
for IP literals, which a rebinding attack cannot use.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable

from guardian.config import WebConfig

_FIXED = frozenset({"localhost", "127.0.0.1", "::1"})
_MAX_CACHED = 256


def split_host(header: str) -> str:
    """The host part of a Host header, lower-case, without port, brackets or a final dot."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    if header.count(":") == 1:
        header = header.split(":", 1)[0]
    return header.rstrip(".")


def is_local_address(ip: str) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.bind((str(address), 0))
    except OSError:
        return False
    return True


class HostPolicy:
    def __init__(self, web_config: Callable[[], WebConfig], local: Callable[[str], bool] = is_local_address) -> None:
        self._web_config = web_config
        self._is_local = local
        name = socket.gethostname().lower()
        self._machine = frozenset({name, f"{name}.local"})
        self._ips: dict[str, bool] = {}
        self._lock = threading.Lock()

    def allowed(self, header: str) -> bool:
        host = split_host(header)
        if not host:
            return False
        web = self._web_config()
        if host in _FIXED or host in self._machine or host in web.names or host == web.listen.host.lower():
            return True
        return self._local_ip(host)

    def _local_ip(self, host: str) -> bool:
        with self._lock:
            known = self._ips.get(host)
        if known is not None:
            return known
        answer = self._is_local(host)
        with self._lock:
            if len(self._ips) >= _MAX_CACHED:
                self._ips.clear()
            self._ips[host] = answer
        return answer
