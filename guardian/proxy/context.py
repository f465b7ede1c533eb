"""What every connection handler shares: settings, the decider, the recorder, the pool.

`ProxyContext.settings` is swapped as a whole on reload (SIGHUP), so a handler reads
it once per request and sees one consistent configuration.
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
import socket
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from guardian.cache import Cache
from guardian.config import ProxyConfig, port_ranges
from guardian.proxy.connections import ConnectionRegistry
from guardian.proxy.hooks import AllowAll, Decider, Recorder
from guardian.proxy.upstream import DestinationPolicy, Resolver, UpstreamPool, resolve
from guardian.records import RequestRecord

if TYPE_CHECKING:
    from guardian.tls.intercept import Interceptor


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
    destinations: DestinationPolicy
    via_name: str
    connect_ranges: tuple[tuple[int, int], ...]

    @classmethod
    def build(cls, proxy: ProxyConfig) -> ProxySettings:
        own_ports = {proxy.listen.port}
        destinations = DestinationPolicy(proxy.deny_destinations, own_ports, proxy.deny_own_addresses)
        # A per-installation token in Via, so a request that comes back to us is recognised.
        seed = f"{socket.gethostname()}:{proxy.listen}".encode()
        via_name = "guardian-" + hashlib.sha256(seed).hexdigest()[:8]
        return cls(proxy, destinations, via_name, port_ranges(proxy.connect_ports))

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
    # Signs the header naming the real device on requests to a trusted Verdict's address (Guardian's own).
    client_header_secret: str = field(default_factory=lambda: secrets.token_hex(16))
    tls: Interceptor | None = None  # Guardian's own TLS (block page on HTTPS); None without a usable CA
    connections: ConnectionRegistry = field(default_factory=ConnectionRegistry)  # re-decided while open
