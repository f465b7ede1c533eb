"""Which device is asking: configured devices by IP, network or MAC, and devices seen.

Strategy: a request carries only the client's IP address. `DeviceDirectory` answers in
the order the configuration promises: an exact IP, then the most specific network (CIDR)
containing it, then the MAC address the kernel's neighbour table gives for the IP. The
first two depend only on the configuration, so each IP's answer is worked out once and
kept in a dict; the MAC step reads `NeighbourTable`, a cached copy of `/proc/net/arp`
(IPv4) and `ip neigh` (IPv6, or IPv4 where /proc is missing). Requests only read that
copy; the service's scheduler re-reads it (`refresh_if_due`, every few seconds) when it
is older than `max_age` or a lookup missed, a miss at most every `min_interval` seconds,
so neither a file read nor a process ever runs on the request path. `ip neigh` costs a
process, so it is asked only once an IPv6 client has been seen (or when /proc/net/arp
cannot be read); only devices configured by MAC ever need the table.

Devices that match nothing are remembered by `SeenDevices`: the request path only
stores the IP and the time in a dict; `flush()` (called from a timer, off the request
path) looks up their MAC addresses (refreshing the table first), merges them into `<data_dir>/devices_seen.json` and
writes it atomically.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

from guardian.config import normalise_mac
from guardian.fsutil import atomic_write_text

log = logging.getLogger(__name__)

T = TypeVar("T")

ARP_PATH = Path("/proc/net/arp")
IP_NEIGH = ("ip", "neigh", "show")
SEEN_FILE = "devices_seen.json"
_ZERO_MAC = "00:00:00:00:00:00"
# A long-running proxy meets only so many client addresses; past this the cache starts over.
_MAX_CACHED_IPS = 4096
_MAX_SEEN = 1000


def parse_proc_arp(text: str) -> dict[str, str]:
    """`/proc/net/arp` as {ip: mac}; incomplete entries (flags 0x0, zero MAC) are left out."""
    table: dict[str, str] = {}
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 4 or fields[2] == "0x0":
            continue
        mac = normalise_mac(fields[3])
        if mac and mac != _ZERO_MAC:
            table[fields[0]] = mac
    return table


def parse_ip_neigh(text: str) -> dict[str, str]:
    """`ip neigh show` output as {ip: mac}; FAILED and INCOMPLETE entries have no lladdr."""
    table: dict[str, str] = {}
    for line in text.splitlines():
        fields = line.split()
        if "lladdr" not in fields:
            continue
        at = fields.index("lladdr")
        if at + 1 < len(fields) and fields[-1] not in ("FAILED", "INCOMPLETE"):
            mac = normalise_mac(fields[at + 1])
            if mac and mac != _ZERO_MAC:
                table[normal_ip(fields[0])] = mac
    return table


def normal_ip(ip: str) -> str:
    """The canonical text of an address; IPv4-mapped IPv6 (a dual-stack listener) as IPv4."""
    if ip.startswith("::ffff:") and "." in ip:
        return ip[7:]
    if ":" in ip:
        try:
            return str(ipaddress.ip_address(ip.split("%", 1)[0]))
        except ValueError:
            return ip
    return ip


class NeighbourTable:
    """The kernel's IP -> MAC table, cached. Shared by every Policy snapshot.

    Requests only read the last snapshot (`mac_for`: a dict lookup) and note what they
    missed; the scheduler calls `refresh_if_due` every few seconds, which re-reads the
    table when a lookup missed (at most every `min_interval`), when the copy is older than
    `max_age` and someone asks, or when the first IPv6 client means `ip neigh` is now
    needed. Neither a file read nor a process ever runs in a request thread."""

    def __init__(
        self,
        arp_path: Path | None = ARP_PATH,
        ip_command: Sequence[str] | None = IP_NEIGH,
        *,
        max_age: float = 30.0,
        min_interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._arp_path = arp_path
        self._ip_command = tuple(ip_command) if ip_command else None
        self._max_age = max_age
        self._min_interval = min_interval
        self._clock = clock
        self._table: dict[str, str] = {}
        self._loaded = float("-inf")
        self._want_ipv6 = False
        # Set by requests, cleared by a refresh; plain flags, as a lost update only delays a refresh.
        self._asked = False
        self._missed = False
        self._lock = threading.Lock()

    def mac_for(self, ip: str) -> str | None:
        """The MAC address in the last snapshot (request path: no I/O)."""
        self._asked = True
        if ":" in ip and not self._want_ipv6:
            # The first IPv6 client: from now on every refresh also asks `ip neigh`.
            self._want_ipv6 = True
            self._missed = True
        mac = self._table.get(ip)
        if mac is None:
            self._missed = True
        return mac

    def entries(self) -> list[tuple[str, str]]:
        """(IP, MAC) pairs of the last snapshot: `guardian check --client NAME` for a device known by MAC."""
        return list(self._table.items())

    def refresh_if_due(self) -> None:
        """Scheduler: re-read the table when a request needs a newer copy."""
        age = self._clock() - self._loaded
        if (self._missed and age >= self._min_interval) or (self._asked and age > self._max_age):
            self.refresh()

    def refresh(self) -> None:
        """Read /proc/net/arp (and `ip neigh` when needed) into a new snapshot."""
        with self._lock:
            self._asked = self._missed = False
            table: dict[str, str] = {}
            have_proc = False
            if self._arp_path is not None:
                try:
                    table.update(parse_proc_arp(self._arp_path.read_text()))
                    have_proc = True
                except OSError:
                    pass
            # /proc/net/arp knows IPv4 only; the `ip` command costs a process, so only when needed.
            if self._ip_command and (self._want_ipv6 or not have_proc):
                table.update(self._run_ip())
            self._table = table
            self._loaded = self._clock()

    def _run_ip(self) -> dict[str, str]:
        assert self._ip_command is not None
        try:
            done = subprocess.run(self._ip_command, capture_output=True, text=True, timeout=2.0, check=False)
        except (OSError, subprocess.SubprocessError) as exc:
            log.debug("cannot read the neighbour table with %s: %s", self._ip_command[0], exc)
            return {}
        return parse_ip_neigh(done.stdout) if done.returncode == 0 else {}


class DeviceDirectory(Generic[T]):
    """Maps a client IP to the value configured for its device (exact IP, CIDR, MAC)."""

    def __init__(self, entries: Iterable[tuple[Sequence[str], T]], neighbours: NeighbourTable | None) -> None:
        self._exact: dict[str, T] = {}
        self._by_mac: dict[str, T] = {}
        networks: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, T]] = []
        for matches, value in entries:
            for item in matches:
                mac = normalise_mac(item)
                if mac:
                    self._by_mac[mac] = value
                elif "/" in item:
                    networks.append((ipaddress.ip_network(item, strict=False), value))
                else:
                    self._exact[str(ipaddress.ip_address(item))] = value
        # Most specific first, so the first network containing the address is the answer.
        networks.sort(key=lambda pair: pair[0].prefixlen, reverse=True)
        self._networks = tuple(networks)
        self._neighbours = neighbours if self._by_mac else None
        # ip -> (value,) or () when neither IP nor network matches; answers never change.
        self._static: dict[str, tuple[T, ...]] = {}

    def identify(self, ip: str) -> T | None:
        found = self._static.get(ip)
        if found is None:
            found = self._static_lookup(ip)
        if found:
            return found[0]
        if self._neighbours is not None:
            mac = self._neighbours.mac_for(ip)
            if mac is not None:
                return self._by_mac.get(mac)
        return None

    def _static_lookup(self, ip: str) -> tuple[T, ...]:
        normal = normal_ip(ip)
        found: tuple[T, ...] = ()
        if normal in self._exact:
            found = (self._exact[normal],)
        elif self._networks:
            try:
                address = ipaddress.ip_address(normal)
            except ValueError:
                address = None
            if address is not None:
                for network, value in self._networks:
                    if address.version == network.version and address in network:
                        found = (value,)
                        break
        if len(self._static) >= _MAX_CACHED_IPS:
            self._static = {}
        self._static[ip] = found
        return found


class SeenDevices:
    """Devices that asked but are not configured, kept in `<data_dir>/devices_seen.json`.

    File format: {"version": 1, "devices": [{"mac": "aa:..."|null, "ip": "...",
    "first_seen": ISO 8601, "last_seen": ISO 8601}, ...]}, most recently seen first.
    """

    def __init__(self, path: Path, neighbours: NeighbourTable | None = None) -> None:
        self.path = Path(path)
        self._neighbours = neighbours
        self._pending: dict[str, float] = {}
        self._records: list[dict[str, Any]] | None = None  # loaded on the first flush
        self._lock = threading.Lock()
        self._pending_lock = threading.Lock()

    @classmethod
    def for_data_dir(cls, data_dir: Path, neighbours: NeighbourTable | None = None) -> SeenDevices:
        return cls(Path(data_dir) / SEEN_FILE, neighbours)

    def note(self, ip: str, when: float) -> None:
        """Request path: one dict store under an uncontended lock, nothing else."""
        with self._pending_lock:  # else a store racing flush's swap lands in the dict flush took
            self._pending[ip] = when

    def take_pending(self) -> dict[str, float]:
        """Addresses noted since the last call (a worker process sends them to the
        supervisor, which alone writes the file)."""
        with self._pending_lock:
            pending, self._pending = self._pending, {}
        return pending

    def flush(self) -> None:
        """Merge what was noted since the last flush into the file (atomically)."""
        with self._lock:
            with self._pending_lock:
                if not self._pending:
                    return
                pending, self._pending = self._pending, {}
            if self._neighbours is not None:
                self._neighbours.refresh()  # off the request path: the freshest MACs for the file
            records = self._load()
            for ip, when in pending.items():
                self._merge(records, ip, self._neighbours.mac_for(ip) if self._neighbours else None, when)
            records.sort(key=lambda r: r["last_seen"], reverse=True)
            del records[_MAX_SEEN:]
            atomic_write_text(self.path, json.dumps({"version": 1, "devices": records}, indent=2) + "\n")

    def devices(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(record) for record in self._load()]

    def _load(self) -> list[dict[str, Any]]:
        if self._records is None:
            try:
                self._records = list(json.loads(self.path.read_text(encoding="utf-8"))["devices"])
            except FileNotFoundError:
                self._records = []
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("%s: unreadable, starting a new list of seen devices: %s", self.path, exc)
                self._records = []
        return self._records

    @staticmethod
    def _merge(records: list[dict[str, Any]], ip: str, mac: str | None, when: float) -> None:
        stamp = datetime.fromtimestamp(when, UTC).isoformat(timespec="seconds")
        for record in records:
            # The MAC is the device; an address alone identifies it only while it has no MAC.
            if (mac and record.get("mac") == mac) or (record.get("ip") == ip and not record.get("mac")):
                record["ip"] = ip
                record["mac"] = mac or record.get("mac")
                record["last_seen"] = max(record["last_seen"], stamp)
                return
        records.append({"mac": mac, "ip": ip, "first_seen": stamp, "last_seen": stamp})
