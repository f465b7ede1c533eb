"""What every connection handler shares: settings, the decider, the recorder, the pool.

`ProxyContext.settings` is swapped as a whole on reload (SIGHUP), so a handler reads
it once per request and sees one consistent configuration.
"""

from __future__ import annotations

import hashlib
import ipaddress
import socket
import threading
from dataclasses import dataclass, field

from guardian.cache import Cache
from guardian.config import Address, ProxyConfig, WebConfig, port_ranges
from guardian.proxy.connections import ConnectionRegistry
from guardian.proxy.hooks import AllowAll, Decider, Recorder
from guardian.proxy.upstream import DestinationPolicy, Resolver, UpstreamPool, resolve
from guardian.records import RequestRecord


class NullRecorder:
    def record(self, record: RequestRecord) -> None:
        pass


class FanOutRecorder:
    """Hands each record to several recorders (the access log and the log store)."""

    def __init__(self, *recorders: Recorder) -> None:
        self.recorders = list(recorders)

    def record(self, record: RequestRecord) -> None:
        for recorder in self.recorders:
            recorder.record(record)


@dataclass(frozen=True, slots=True)
class ProxySettings:
    """The parts of the configuration the core needs, precomputed for the hot path."""

    proxy: ProxyConfig
    web: WebConfig
    destinations: DestinationPolicy
    via_name: str
    web_connect: Address | None  # where the settings page really listens, None when off
    connect_ranges: tuple[tuple[int, int], ...]

    @classmethod
    def build(cls, proxy: ProxyConfig, web: WebConfig, web_enabled: bool = True) -> ProxySettings:
        own_ports = {proxy.listen.port}
        destinations = DestinationPolicy(proxy.deny_destinations, own_ports, proxy.deny_own_addresses)
        # A per-installation token in Via, so a request that comes back to us is recognised.
        seed = f"{socket.gethostname()}:{proxy.listen}".encode()
        via_name = "guardian-" + hashlib.sha256(seed).hexdigest()[:8]
        web_connect = None
        if web_enabled:
            host = web.listen.host
            if host in ("0.0.0.0", ""):
                host = "127.0.0.1"
            elif host == "::":
                host = "::1"
            web_connect = Address(host, web.listen.port)
        return cls(proxy, web, destinations, via_name, web_connect, port_ranges(proxy.connect_ports))

    def connect_allowed(self, port: int) -> bool:
        return any(low <= port <= high for low, high in self.connect_ranges)

    def client_allowed(self, ip: str) -> bool:
        try:
            address = ipaddress.ip_address(ip.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        return any(address.version == net.version and address in net for net in self.proxy.allowed_clients)

    def settings_page_target(self, host: str, port: int) -> Address | None:
        """The settings page's own address when a request names it, else None."""
        if self.web_connect is None:
            return None
        if host in self.web.names and port in (80, self.web.listen.port):
            return self.web_connect
        if port == self.web.listen.port:
            try:
                ip = ipaddress.ip_address(host)
            except ValueError:
                return None
            listen_host = self.web.listen.host
            if str(ip) == listen_host or (listen_host in ("0.0.0.0", "::") and self.destinations.is_local(ip)):
                return self.web_connect
        return None


@dataclass
class ProxyContext:
    settings: ProxySettings
    decider: Decider = field(default_factory=AllowAll)
    recorder: Recorder = field(default_factory=NullRecorder)
    pool: UpstreamPool = field(default_factory=UpstreamPool)
    cache: Cache | None = None
    resolver: Resolver = resolve  # name -> addresses; tests put a resolver they control here
    stopping: threading.Event = field(default_factory=threading.Event)  # no new requests
    force_close: threading.Event = field(default_factory=threading.Event)  # grace is over: end tunnels too
    connections: ConnectionRegistry = field(default_factory=ConnectionRegistry)  # re-decided while open
