"""The configuration model: one TOML file, loaded, validated and saved atomically.

Strategy: the file is parsed with `tomllib` (syntax errors carry their line), then each
table is checked by a small function that knows its keys. Any unknown key, wrong type or
bad value raises `ConfigError` naming the dotted key path, so Guardian never starts
half-configured. The result is a tree of frozen dataclasses shared read-only by every
thread; a reload builds a new tree and swaps one reference.

Where to find the file: an explicit `--config`, then `$GUARDIAN_CONFIG`, then
`./guardian.toml`, then `/etc/guardian/guardian.toml`, else the embedded development
defaults (`guardian/default.toml`: loopback only, data in `./.guardian-data`).
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
import zoneinfo
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from guardian.tls.bypass import DEFAULT_BYPASS

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

CONFIG_ENV = "GUARDIAN_CONFIG"
SEARCH_PATHS = (Path("guardian.toml"), Path("/etc/guardian/guardian.toml"))
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
LIST_FORMATS = ("auto", "abp", "hosts", "domains")
YOUTUBE_MODES = ("off", "moderate", "strict")
PAC_FALLBACKS = ("none", "direct")
INSPECT_MODES = ("off", "hosts", "all")
LOG_DETAILS = ("full", "host", "none")
REFERER_POLICIES = ("full", "origin", "none")
THIRD_PARTY_COOKIES = ("allow", "block")
MAX_WORKERS = 64
AUTO_MAX_WORKERS = 4  # proxy processes "auto" starts at most
MIB_PER_AUTO_WORKER = 192  # "auto" starts at most one worker per this much memory: two on a Pi Zero 2 W
_REFRESH_RE = re.compile(r"^(daily|off|every (\d+)h)$")
_TIME_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")
_LIST_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_MAC_RE = re.compile(r"^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$")


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the key."""


@dataclass(frozen=True, slots=True)
class Address:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    listen: Address = Address("0.0.0.0", 3128)
    allowed_clients: tuple[IPNetwork, ...] = tuple(
        ipaddress.ip_network(n)
        for n in (
            "127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12",
            "192.168.0.0/16", "fc00::/7", "fe80::/10",
        )
    )
    connect_ports: tuple[int | str, ...] = (443,)  # ports, or "LOW-HIGH" ranges
    deny_destinations: tuple[IPNetwork, ...] = tuple(
        ipaddress.ip_network(n)
        for n in ("127.0.0.0/8", "::1/128", "0.0.0.0/8", "169.254.0.0/16", "fe80::/10")
    )
    deny_own_addresses: bool = True
    forwarded_for: bool = False
    head_timeout: float = 10.0
    idle_timeout: float = 120.0
    connect_timeout: float = 10.0
    response_timeout: float = 60.0
    tunnel_idle_timeout: float = 600.0
    max_connections: int = 4096
    max_connections_per_client: int = 512
    access_log: bool = True
    access_log_max_mb: int = 16
    access_log_keep: int = 4
    workers: int | str = "auto"  # proxy processes; "auto": see worker_count()


@dataclass(frozen=True, slots=True)
class WebConfig:
    listen: Address = Address("0.0.0.0", 8080)
    names: tuple[str, ...] = ("guardian", "guardian.lan")


@dataclass(frozen=True, slots=True)
class RefreshConfig:
    schedule: str = "daily"  # daily | every Nh | off
    window: tuple[str, str] = ("03:00", "05:00")
    max_rules_per_list: int = 4_000_000  # a bigger download is refused; the last good copy stays
    memory_budget_mb: int = 128  # all enabled lists together; fits a Pi Zero 2 W (512 MB)


@dataclass(frozen=True, slots=True)
class ListConfig:
    id: str
    name: str
    url: str
    format: str = "auto"
    enabled: bool = True
    refresh: str | None = None  # per-list override of [refresh] schedule


@dataclass(frozen=True, slots=True)
class ScheduleConfig:
    name: str
    days: tuple[str, ...]
    start: str  # "HH:MM", the TOML key is `from`
    end: str  # "HH:MM", the TOML key is `to`; earlier than start means overnight
    block_all: bool
    block: tuple[str, ...] = ()
    block_file_types: tuple[str, ...] = ()
    block_services: tuple[str, ...] = ()  # service ids or groups blocked in this window


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """A household's `[[services]]` entry: a new service, or more hosts for a catalog one."""

    id: str
    name: str = ""
    group: str = ""
    hosts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ProfileServicesConfig:
    """A profile's `[profiles.services]`: service ids or group names."""

    block: tuple[str, ...] = ()
    allow_only_during: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (service or group, schedule names)
    allow_rules_win: bool = False  # a parent's `allow` rule lifts a service block for that host


@dataclass(frozen=True, slots=True)
class LimitConfig:
    """A `[[profiles.limits]]` entry: minutes a day for some services or groups."""

    name: str  # usage is kept per name; entries sharing a name cover different days
    services: tuple[str, ...]
    minutes: int
    days: tuple[str, ...] = DAYS
    shared: bool = False  # one allowance for the whole profile instead of one per device


# Sign-in providers whose cookies a third-party request needs, or signing in breaks.
DEFAULT_COOKIE_EXCEPTIONS = (
    "accounts.google.com", "login.microsoftonline.com", "login.live.com", "appleid.apple.com",
    "facebook.com", "github.com", "auth0.com", "okta.com", "paypal.com", "stripe.com",
)


@dataclass(frozen=True, slots=True)
class PrivacyConfig:
    strip_tracking_parameters: bool = True
    referer: str = "origin"
    global_privacy_control: bool = True
    third_party_cookies: str = "allow"
    cookie_exceptions: tuple[str, ...] = DEFAULT_COOKIE_EXCEPTIONS


@dataclass(frozen=True, slots=True)
class ProfileConfig:
    name: str
    lists: tuple[str, ...] = ()
    block: tuple[str, ...] = ()
    allow: tuple[str, ...] = ()
    safe_search: bool = False
    youtube: str = "off"
    schedules: tuple[ScheduleConfig, ...] = ()
    block_file_types: tuple[str, ...] = ()
    privacy: PrivacyConfig | None = None  # None: the household's [privacy]
    pac_fallback: str = "none"  # when Guardian does not answer: "none" (no internet) or "direct"
    services: ProfileServicesConfig = field(default_factory=ProfileServicesConfig)
    limits: tuple[LimitConfig, ...] = ()
    https_block_page: bool = True  # a blocked HTTPS site shows the block page (needs the CA trusted)
    inspect_https: str = "off"  # off | hosts | all
    inspect_hosts: tuple[str, ...] = ()  # with inspect_https = "hosts": these hosts and their subdomains


@dataclass(frozen=True, slots=True)
class DeviceConfig:
    name: str
    match: tuple[str, ...]
    profile: str = "default"


@dataclass(frozen=True, slots=True)
class CacheConfig:
    enabled: bool = True
    max_bytes: int = 64 * 2**20
    max_object_bytes: int = 4 * 2**20
    content_types: tuple[str, ...] = (
        "image/*", "text/css", "text/javascript", "application/javascript",
        "application/x-javascript", "font/*", "application/font-woff", "application/font-woff2",
        "application/vnd.ms-fontobject", "audio/*", "video/*", "application/wasm",
    )


@dataclass(frozen=True, slots=True)
class HttpsConfig:
    name: str = ""  # the household's name on Guardian's certificate; "" means this machine's name
    bypass: tuple[str, ...] = DEFAULT_BYPASS  # never decrypted: host patterns, subdomains included
    leaf_cache_size: int = 1000  # certificates for sites kept in memory
    extra_ca_file: str = ""  # more authorities to trust for websites, besides the system's


@dataclass(frozen=True, slots=True)
class LogConfig:
    enabled: bool = True
    detail: str = "full"
    keep_days: int = 30
    max_mb: int = 200


@dataclass(frozen=True, slots=True)
class Config:
    data_dir: Path = Path("/var/lib/guardian")
    timezone: str = ""  # IANA name; "" means the system's
    proxy: ProxyConfig = field(default_factory=ProxyConfig)
    web: WebConfig = field(default_factory=WebConfig)
    refresh: RefreshConfig = field(default_factory=RefreshConfig)
    lists: tuple[ListConfig, ...] = ()
    profiles: tuple[ProfileConfig, ...] = (ProfileConfig(name="default"),)
    devices: tuple[DeviceConfig, ...] = ()
    cache: CacheConfig = field(default_factory=CacheConfig)
    log: LogConfig = field(default_factory=LogConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    services: tuple[ServiceConfig, ...] = ()
    https: HttpsConfig = field(default_factory=HttpsConfig)
    source: str = "<defaults>"  # where it was loaded from, for messages

    def profile(self, name: str) -> ProfileConfig:
        for profile in self.profiles:
            if profile.name == name:
                return profile
        raise KeyError(name)

    def privacy_for(self, profile: ProfileConfig) -> PrivacyConfig:
        return profile.privacy or self.privacy

    def list_by_id(self, list_id: str) -> ListConfig:
        for entry in self.lists:
            if entry.id == list_id:
                return entry
        raise KeyError(list_id)

    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone or system_timezone())


def system_timezone() -> str:
    """The machine's IANA zone name, or UTC when it cannot be told."""
    tz = os.environ.get("TZ", "").lstrip(":")
    if tz and _valid_zone(tz):
        return tz
    try:
        name = Path("/etc/timezone").read_text().strip()
        if _valid_zone(name):
            return name
    except OSError:
        pass
    try:
        target = os.readlink("/etc/localtime")
        if "zoneinfo/" in target:
            name = target.split("zoneinfo/", 1)[1]
            if _valid_zone(name):
                return name
    except OSError:
        pass
    return "UTC"


def _valid_zone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


# ---------------------------------------------------------------- finding and loading


def find_config_path(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The file every `guardian` command acts on; None means the embedded defaults."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    for candidate in SEARCH_PATHS:
        if candidate.is_file():
            return candidate
    return None


def default_config_text() -> str:
    return resources.files("guardian").joinpath("default.toml").read_text(encoding="utf-8")


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Load and validate the configuration at `path` (found as documented when None)."""
    found = find_config_path(path)
    if found is None:
        return parse_config(default_config_text(), source="<embedded defaults>")
    try:
        text = Path(found).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{found}: no such configuration file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{found}: cannot read: {exc}") from None
    return parse_config(text, source=str(found), relative_to=Path(found).parent)


def parse_config(text: str, source: str = "<string>", relative_to: Path | None = None) -> Config:
    """Parse and validate; a relative data_dir is taken from `relative_to` (the file's directory),
    so every command and the service find the same data whatever directory they run in."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    try:
        config = _build_config(raw, source)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    if relative_to is not None and not config.data_dir.is_absolute():
        config = replace(config, data_dir=Path(os.path.abspath(relative_to / config.data_dir)))
    return config


def validate_raw(raw: dict[str, Any]) -> Config:
    """Validate parsed TOML; the ConfigError names the key but no file (config_problems uses it)."""
    return _build_config(raw, "<check>")


# ---------------------------------------------------------------- validation helpers


def _check_keys(table: Any, path: str, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: expected a table")
    for key in table:
        if key not in allowed:
            where = f"{path}.{key}" if path else key
            raise ConfigError(f"{where}: unknown key (allowed here: {', '.join(sorted(allowed))})")
    return table


def _typed(value: Any, kind: type | tuple[type, ...], path: str, what: str) -> Any:
    # bool is an int in Python; a TOML `true` must not pass as a number
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise ConfigError(f"{path}: expected {what}, got a boolean")
    if not isinstance(value, kind):
        raise ConfigError(f"{path}: expected {what}, got {type(value).__name__} {value!r}")
    return value


def _string(value: Any, path: str) -> str:
    return _typed(value, str, path, "a string")


def _bool(value: Any, path: str) -> bool:
    return _typed(value, bool, path, "true or false")


def _int(value: Any, path: str, low: int, high: int) -> int:
    _typed(value, int, path, "a whole number")
    if not low <= value <= high:
        raise ConfigError(f"{path}: {value} is out of range ({low} to {high})")
    return value


def _seconds(value: Any, path: str) -> float:
    _typed(value, (int, float), path, "a number of seconds")
    if not 0 < value <= 86400:
        raise ConfigError(f"{path}: {value} must be above 0 and at most 86400 seconds")
    return float(value)


def _entry(table: Any, path: str, allowed: set[str], required: tuple[str, ...]) -> dict[str, Any]:
    """One table of an array ([[lists]], [[profiles]], ...): known keys, required ones present."""
    _check_keys(table, path, allowed)
    for key in required:
        if key not in table:
            raise ConfigError(f"{path}.{key}: missing")
    return table


def _unique_name(table: dict[str, Any], path: str, seen: dict[str, str], what: str) -> str:
    """The entry's `name`: a non-empty string no other entry of its array uses, whatever its
    capitals (`seen` maps each name so far, case-folded, to its spelling): "Kids" and "kids"
    would be one name to a parent reading a page or typing a command."""
    name = _string(table["name"], f"{path}.name").strip()
    if not name:
        raise ConfigError(f"{path}.name: must not be empty")
    other = seen.get(name.casefold())
    if other == name:
        raise ConfigError(f"{path}.name: {name!r} is used by another {what}")
    if other is not None:
        raise ConfigError(f"{path}.name: {name!r} differs from {other!r}, another {what}, only in capital letters; "
                          "names must differ by more than that")
    seen[name.casefold()] = name
    return name


def _strings(value: Any, path: str) -> tuple[str, ...]:
    _typed(value, list, path, "a list of strings")
    return tuple(_string(item, f"{path}[{i}]") for i, item in enumerate(value))


def _choice(value: Any, path: str, choices: tuple[str, ...]) -> str:
    _string(value, path)
    if value not in choices:
        raise ConfigError(f"{path}: {value!r} is not one of {', '.join(choices)}")
    return value


def parse_address(value: str, path: str = "address") -> Address:
    """'HOST:PORT' or '[IPv6]:PORT' into an Address, with a message naming `path`."""
    m = re.fullmatch(r"\[([0-9a-fA-F:.]+)\]:(\d{1,5})|([^:\[\]]+):(\d{1,5})", value or "")
    if not m:
        raise ConfigError(f"{path}: {value!r} is not HOST:PORT (IPv6 as [addr]:port)")
    host = m.group(1) or m.group(3)
    port = int(m.group(2) or m.group(4))
    if not 0 < port < 65536:
        raise ConfigError(f"{path}: port {port} is out of range (1 to 65535)")
    try:
        host = str(ipaddress.ip_address(host))
    except ValueError:
        if not re.fullmatch(r"[A-Za-z0-9.-]+", host) or m.group(1):
            raise ConfigError(f"{path}: {host!r} is not an IP address or host name") from None
    return Address(host, port)


def _networks(value: Any, path: str) -> tuple[IPNetwork, ...]:
    nets = []
    for i, item in enumerate(_strings(value, path)):
        try:
            nets.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigError(f"{path}[{i}]: {item!r} is not an IP network or address") from None
    return tuple(nets)


def parse_clock(value: Any, path: str, *, end: bool = False) -> str:
    """'HH:MM' on the 24-hour clock; 24:00 only as the `end` of a window (midnight, the day's end)."""
    _string(value, path)
    if not _TIME_RE.match(value):
        raise ConfigError(f"{path}: {value!r} is not a time of day as HH:MM on the 24-hour clock, like 21:00")
    if value == "24:00" and not end:
        raise ConfigError(f"{path}: a window cannot start at 24:00; write 00:00")
    return value


_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def parse_day(value: str) -> str | None:
    """A day as the configuration stores it ('sat') from 'sat', 'Sat', 'SAT' or 'Saturday'; None if not a day."""
    lowered = value.strip().lower()
    if lowered in DAYS:
        return lowered
    return DAYS[_DAY_NAMES.index(lowered)] if lowered in _DAY_NAMES else None


def _days(value: Any, path: str) -> tuple[str, ...]:
    days = []
    for j, day in enumerate(_strings(value, path)):
        normal = parse_day(day)
        if normal is None:
            raise ConfigError(f"{path}[{j}]: {day!r} is not a day ({', '.join(DAYS)})")
        days.append(normal)
    return tuple(days)


def normalise_mac(value: str) -> str | None:
    """'AA-BB-…' or 'aa:bb:…' as 'aa:bb:cc:dd:ee:ff'; None when it is not a MAC address."""
    lowered = value.strip().lower()
    if not _MAC_RE.match(lowered):
        return None
    return lowered.replace("-", ":")


def check_device_match(item: str, path: str) -> str:
    """An IP address, a CIDR network or a MAC address; returns its normal form."""
    mac = normalise_mac(item)
    if mac:
        return mac
    try:
        if "/" in item:
            return str(ipaddress.ip_network(item, strict=False))
        return str(ipaddress.ip_address(item))
    except ValueError:
        raise ConfigError(f"{path}: {item!r} is not an IP address, a network (CIDR) or a MAC address") from None


# ---------------------------------------------------------------- the tables


def _build_config(raw: dict[str, Any], source: str) -> Config:
    _check_keys(raw, "", {
        "data_dir", "timezone", "proxy", "web", "refresh", "lists", "profiles", "devices", "cache", "log",
        "privacy", "services", "https",
    })
    defaults = Config()
    data_dir = Path(_string(raw.get("data_dir", str(defaults.data_dir)), "data_dir"))
    if not str(data_dir):
        raise ConfigError("data_dir: must not be empty")
    timezone = _string(raw.get("timezone", ""), "timezone")
    if timezone and not _valid_zone(timezone):
        raise ConfigError(f"timezone: {timezone!r} is not an IANA time zone name (like Europe/London)")
    lists = _lists(raw.get("lists", []))
    list_ids = {entry.id for entry in lists}
    privacy = _privacy(raw.get("privacy", {}), "privacy", PrivacyConfig())
    services, service_ids = _services(raw.get("services", []))
    profiles = _profiles(raw.get("profiles", []), list_ids, lists, privacy)
    _check_service_references(profiles, service_ids)
    devices = _devices(raw.get("devices", []), {p.name for p in profiles})
    return Config(
        data_dir=data_dir,
        timezone=timezone,
        proxy=_proxy(raw.get("proxy", {})),
        web=_web(raw.get("web", {})),
        refresh=_refresh(raw.get("refresh", {})),
        lists=lists,
        profiles=profiles,
        devices=devices,
        cache=_cache(raw.get("cache", {})),
        log=_log(raw.get("log", {})),
        privacy=privacy,
        services=services,
        https=_https(raw.get("https", {})),
        source=source,
    )


def _proxy(table: Any) -> ProxyConfig:
    p = "proxy"
    _check_keys(table, p, set(ProxyConfig.__slots__))
    d = ProxyConfig()
    ports = tuple(
        _port_entry(v, f"{p}.connect_ports[{i}]")
        for i, v in enumerate(_typed(table.get("connect_ports", list(d.connect_ports)), list, f"{p}.connect_ports",
                                     "a list of ports or \"LOW-HIGH\" ranges"))
    )
    return ProxyConfig(
        listen=parse_address(_string(table["listen"], f"{p}.listen"), f"{p}.listen") if "listen" in table else d.listen,
        allowed_clients=_networks(table["allowed_clients"], f"{p}.allowed_clients")
        if "allowed_clients" in table else d.allowed_clients,
        connect_ports=ports,
        deny_destinations=_networks(table["deny_destinations"], f"{p}.deny_destinations")
        if "deny_destinations" in table else d.deny_destinations,
        deny_own_addresses=_bool(table.get("deny_own_addresses", d.deny_own_addresses), f"{p}.deny_own_addresses"),
        forwarded_for=_bool(table.get("forwarded_for", d.forwarded_for), f"{p}.forwarded_for"),
        head_timeout=_seconds(table.get("head_timeout", d.head_timeout), f"{p}.head_timeout"),
        idle_timeout=_seconds(table.get("idle_timeout", d.idle_timeout), f"{p}.idle_timeout"),
        connect_timeout=_seconds(table.get("connect_timeout", d.connect_timeout), f"{p}.connect_timeout"),
        response_timeout=_seconds(table.get("response_timeout", d.response_timeout), f"{p}.response_timeout"),
        tunnel_idle_timeout=_seconds(table.get("tunnel_idle_timeout", d.tunnel_idle_timeout),
                                     f"{p}.tunnel_idle_timeout"),
        max_connections=_int(table.get("max_connections", d.max_connections), f"{p}.max_connections", 16, 100_000),
        max_connections_per_client=_int(table.get("max_connections_per_client", d.max_connections_per_client),
                                        f"{p}.max_connections_per_client", 1, 100_000),
        access_log=_bool(table.get("access_log", d.access_log), f"{p}.access_log"),
        access_log_max_mb=_int(table.get("access_log_max_mb", d.access_log_max_mb), f"{p}.access_log_max_mb",
                               1, 10_000),
        access_log_keep=_int(table.get("access_log_keep", d.access_log_keep), f"{p}.access_log_keep", 0, 100),
        workers=_workers(table.get("workers", d.workers), f"{p}.workers"),
    )


def _workers(value: Any, path: str) -> int | str:
    if value == "auto":
        return value
    if isinstance(value, str):
        raise ConfigError(f'{path}: must be "auto" or a whole number from 1 to {MAX_WORKERS}, not {value!r}')
    return _int(value, path, 1, MAX_WORKERS)


def worker_count(proxy: ProxyConfig) -> int:
    """How many proxy processes to run. "auto": one per core this process may use, at
    most AUTO_MAX_WORKERS, and no more than the memory allows (each extra worker costs
    12 to 47 MiB; docs/benchmarks.md): a Pi Zero 2 W (512 MB) runs two."""
    if proxy.workers != "auto":
        return int(proxy.workers)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores, AUTO_MAX_WORKERS, _memory_mib() // MIB_PER_AUTO_WORKER))


def _memory_mib() -> int:
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _port_entry(value: Any, path: str) -> int | str:
    if isinstance(value, str):
        m = re.fullmatch(r"(\d{1,5})-(\d{1,5})", value)
        if not m or not 1 <= int(m.group(1)) <= int(m.group(2)) <= 65535:
            raise ConfigError(f"{path}: {value!r} is not a port range like \"8000-8999\" (1 to 65535)")
        return value
    return _int(value, path, 1, 65535)


def port_ranges(entries: tuple[int | str, ...]) -> tuple[tuple[int, int], ...]:
    """connect_ports entries as inclusive (low, high) ranges."""
    ranges = []
    for entry in entries:
        if isinstance(entry, int):
            ranges.append((entry, entry))
        else:
            low, high = entry.split("-")
            ranges.append((int(low), int(high)))
    return tuple(ranges)


def _web(table: Any) -> WebConfig:
    _check_keys(table, "web", {"listen", "names"})
    d = WebConfig()
    names = _strings(table["names"], "web.names") if "names" in table else d.names
    for i, name in enumerate(names):
        if not re.fullmatch(r"[A-Za-z0-9.-]+", name):
            raise ConfigError(f"web.names[{i}]: {name!r} is not a host name")
    return WebConfig(
        listen=parse_address(_string(table["listen"], "web.listen"), "web.listen") if "listen" in table else d.listen,
        names=tuple(n.lower() for n in names),
    )


def check_refresh(value: Any, path: str) -> str:
    _string(value, path)
    m = _REFRESH_RE.match(value)
    if not m or (m.group(2) and not 1 <= int(m.group(2)) <= 168):
        raise ConfigError(f"{path}: {value!r} is not 'daily', 'every Nh' (N from 1 to 168) or 'off'")
    return value


def _refresh(table: Any) -> RefreshConfig:
    _check_keys(table, "refresh", {"schedule", "window", "max_rules_per_list", "memory_budget_mb"})
    d = RefreshConfig()
    schedule = check_refresh(table.get("schedule", d.schedule), "refresh.schedule")
    window = d.window
    if "window" in table:
        text = _string(table["window"], "refresh.window")
        parts = text.split("-")
        if len(parts) != 2:
            raise ConfigError(f"refresh.window: {text!r} is not a window like 03:00-05:00")
        start = parse_clock(parts[0].strip(), "refresh.window")
        end = parse_clock(parts[1].strip(), "refresh.window", end=True)
        if start == end:
            raise ConfigError("refresh.window: start and end are the same time")
        window = (start, end)
    max_rules = _int(table.get("max_rules_per_list", d.max_rules_per_list), "refresh.max_rules_per_list",
                     1_000, 10_000_000)
    budget = _int(table.get("memory_budget_mb", d.memory_budget_mb), "refresh.memory_budget_mb", 8, 65536)
    return RefreshConfig(schedule=schedule, window=window, max_rules_per_list=max_rules, memory_budget_mb=budget)


def _lists(value: Any) -> tuple[ListConfig, ...]:
    _typed(value, list, "lists", "an array of [[lists]] tables")
    seen: set[str] = set()
    entries = []
    for i, table in enumerate(value):
        p = f"lists[{i}]"
        _entry(table, p, {"id", "name", "url", "format", "enabled", "refresh"}, ("id", "url"))
        list_id = _string(table["id"], f"{p}.id")
        if not _LIST_ID_RE.match(list_id):
            raise ConfigError(f"{p}.id: {list_id!r} must be lower-case letters, digits, '-' or '_'")
        if list_id in seen:
            raise ConfigError(f"{p}.id: {list_id!r} is used by another list")
        if list_id == "custom":
            raise ConfigError(f"{p}.id: 'custom' is reserved for the parents' own rules")
        seen.add(list_id)
        url = _string(table["url"], f"{p}.url")
        if not url.strip():
            raise ConfigError(f"{p}.url: must not be empty")
        if ("://" in url and not url.startswith(("http://", "https://", "file://"))) or (
            ":" in url.split("/", 1)[0] and "://" not in url and not url.startswith("builtin:")
        ):
            raise ConfigError(f"{p}.url: {url!r}: only http, https, file and builtin: URLs or local paths")
        entries.append(ListConfig(
            id=list_id,
            name=_string(table.get("name", list_id), f"{p}.name"),
            url=url,
            format=_choice(table.get("format", "auto"), f"{p}.format", LIST_FORMATS),
            enabled=_bool(table.get("enabled", True), f"{p}.enabled"),
            refresh=check_refresh(table["refresh"], f"{p}.refresh") if "refresh" in table else None,
        ))
    return tuple(entries)


def _rules(value: Any, path: str, kind: str) -> tuple[str, ...]:
    """A parents' rule list, kept as written; a rule that can never match, or an allow
    rule covering a whole top-level domain, is refused (policy.parent_rules reads them)."""
    rules = _strings(value, path)
    if not rules:
        return rules
    from guardian.policy.parent_rules import normalise_rule  # the policy package imports this module

    for i, text in enumerate(rules):
        typed = normalise_rule(text, kind, confirmed=True, probe=False)
        if typed.error and not typed.unusable:
            raise ConfigError(f"{path}[{i}]: {typed.error}")
    return rules


def _schedules(value: Any, path: str) -> tuple[ScheduleConfig, ...]:
    _typed(value, list, path, "an array of [[profiles.schedules]] tables")
    seen: dict[str, str] = {}
    result = []
    for i, table in enumerate(value):
        p = f"{path}[{i}]"
        _entry(table, p, {"name", "days", "from", "to", "block", "block_file_types", "block_services"},
               ("name", "from", "to"))
        name = _unique_name(table, p, seen, "schedule of this profile")
        days = _days(table.get("days", list(DAYS)), f"{p}.days")
        start = parse_clock(table["from"], f"{p}.from")
        end = parse_clock(table["to"], f"{p}.to", end=True)
        if start == end:
            raise ConfigError(f"{p}.to: the window from {start} to {end} is empty")
        file_types = _file_types(table.get("block_file_types", []), f"{p}.block_file_types")
        # A schedule that only blocks file kinds or services blocks nothing else unless it says so.
        block = table.get("block", [] if file_types or "block_services" in table else "all")
        rules: tuple[str, ...] = ()
        if block == "all":
            block_all = True
        elif isinstance(block, list):
            block_all, rules = False, _rules(block, f"{p}.block", "block")
        else:
            raise ConfigError(f"{p}.block: expected \"all\" or a list of rules")
        result.append(ScheduleConfig(name=name, days=tuple(dict.fromkeys(days)), start=start, end=end,
                                     block_all=block_all, block=rules, block_file_types=file_types,
                                     block_services=_strings(table.get("block_services", []), f"{p}.block_services")))
    return tuple(result)


def _file_types(value: Any, path: str) -> tuple[str, ...]:
    from guardian.filekinds import check_file_kind, file_groups  # the groups are data in lists/

    kinds = _strings(value, path)
    for i, kind in enumerate(kinds):
        problem = check_file_kind(kind)
        if problem:
            raise ConfigError(f"{path}[{i}]: {problem}")
    return tuple(dict.fromkeys(k if k in file_groups() else k.lower().lstrip(".") for k in kinds))


def _privacy(table: Any, path: str, defaults: PrivacyConfig) -> PrivacyConfig:
    _check_keys(table, path, set(PrivacyConfig.__slots__))
    exceptions = defaults.cookie_exceptions
    if "cookie_exceptions" in table:
        exceptions = tuple(h.lower().strip(".") for h in _strings(table["cookie_exceptions"],
                                                                 f"{path}.cookie_exceptions"))
        for i, host in enumerate(exceptions):
            if not re.fullmatch(r"([a-z0-9-]+\.)+[a-z][a-z0-9-]*", host):
                raise ConfigError(f"{path}.cookie_exceptions[{i}]: {host!r} is not a host name")
    return PrivacyConfig(
        strip_tracking_parameters=_bool(table.get("strip_tracking_parameters", defaults.strip_tracking_parameters),
                                        f"{path}.strip_tracking_parameters"),
        referer=_choice(table.get("referer", defaults.referer), f"{path}.referer", REFERER_POLICIES),
        global_privacy_control=_bool(table.get("global_privacy_control", defaults.global_privacy_control),
                                     f"{path}.global_privacy_control"),
        third_party_cookies=_choice(table.get("third_party_cookies", defaults.third_party_cookies),
                                    f"{path}.third_party_cookies", THIRD_PARTY_COOKIES),
        cookie_exceptions=exceptions,
    )


def _profiles(value: Any, list_ids: set[str], lists: tuple[ListConfig, ...],
              household_privacy: PrivacyConfig) -> tuple[ProfileConfig, ...]:
    _typed(value, list, "profiles", "an array of [[profiles]] tables")
    seen: dict[str, str] = {}
    result = []
    for i, table in enumerate(value):
        p = f"profiles[{i}]"
        _entry(table, p, {"name", "lists", "block", "allow", "safe_search", "youtube", "schedules",
                          "block_file_types", "privacy", "pac_fallback", "services", "limits",
                          "https_block_page", "inspect_https", "inspect_hosts"}, ("name",))
        name = _unique_name(table, p, seen, "profile")
        if name != "default" and name.casefold() == "default":
            raise ConfigError(f"{p}.name: {name!r} differs from 'default', the profile every unnamed device uses, "
                              "only in capital letters; choose another name")
        profile_lists = _strings(table.get("lists", []), f"{p}.lists")
        for j, list_id in enumerate(profile_lists):
            if list_id not in list_ids:
                raise ConfigError(f"{p}.lists[{j}]: no list has the id {list_id!r}")
        result.append(ProfileConfig(
            name=name,
            lists=tuple(dict.fromkeys(profile_lists)),
            block=_rules(table.get("block", []), f"{p}.block", "block"),
            allow=_rules(table.get("allow", []), f"{p}.allow", "allow"),
            safe_search=_bool(table.get("safe_search", False), f"{p}.safe_search"),
            youtube=_choice(table.get("youtube", "off"), f"{p}.youtube", YOUTUBE_MODES),
            schedules=_schedules(table.get("schedules", []), f"{p}.schedules"),
            block_file_types=_file_types(table.get("block_file_types", []), f"{p}.block_file_types"),
            privacy=_privacy(table["privacy"], f"{p}.privacy", household_privacy) if "privacy" in table else None,
            pac_fallback=_choice(table.get("pac_fallback", "none"), f"{p}.pac_fallback", PAC_FALLBACKS),
            services=_profile_services(table.get("services", {}), f"{p}.services"),
            limits=_limits(table.get("limits", []), f"{p}.limits"),
            https_block_page=_bool(table.get("https_block_page", True), f"{p}.https_block_page"),
            inspect_https=_choice(table.get("inspect_https", "off"), f"{p}.inspect_https", INSPECT_MODES),
            inspect_hosts=_host_patterns(table.get("inspect_hosts", []), f"{p}.inspect_hosts"),
        ))
    if "default" not in seen:
        # The default profile always exists; left out of the file, it takes every enabled list.
        result.insert(0, ProfileConfig(name="default", lists=tuple(e.id for e in lists if e.enabled)))
    return tuple(result)


def _services(value: Any) -> tuple[tuple[ServiceConfig, ...], set[str]]:
    """The household's `[[services]]`, checked against the shipped catalog; also every id
    and group a profile may name."""
    from guardian.service_catalog import GROUPS, CatalogError, default_catalog, merge

    _typed(value, list, "services", "an array of [[services]] tables")
    entries = []
    for i, table in enumerate(value):
        p = f"services[{i}]"
        _entry(table, p, {"id", "name", "group", "hosts"}, ("id",))
        entries.append(ServiceConfig(
            id=_string(table["id"], f"{p}.id"), name=_string(table.get("name", ""), f"{p}.name"),
            group=_string(table.get("group", ""), f"{p}.group"), hosts=_strings(table.get("hosts", []), f"{p}.hosts"),
        ))
    try:
        merged = merge(default_catalog(), [household_service_table(e) for e in entries])
    except CatalogError as exc:
        raise ConfigError(str(exc)) from None
    return tuple(entries), set(merged) | set(GROUPS)


def household_service_table(entry: ServiceConfig) -> dict[str, Any]:
    """A `[[services]]` entry as the catalog's merge() takes it (keys left out when not given)."""
    table: dict[str, Any] = {"id": entry.id, "hosts": list(entry.hosts)}
    if entry.name:
        table["name"] = entry.name
    if entry.group:
        table["group"] = entry.group
    return table


def _profile_services(table: Any, path: str) -> ProfileServicesConfig:
    _check_keys(table, path, {"block", "allow_only_during", "allow_rules_win"})
    during = table.get("allow_only_during", {})
    _typed(during, dict, f"{path}.allow_only_during", 'a table like { roblox = ["Saturday games"] }')
    return ProfileServicesConfig(
        block=_strings(table.get("block", []), f"{path}.block"),
        allow_only_during=tuple((key, _strings(names, f"{path}.allow_only_during.{key}"))
                                for key, names in during.items()),
        allow_rules_win=_bool(table.get("allow_rules_win", False), f"{path}.allow_rules_win"),
    )


def _limits(value: Any, path: str) -> tuple[LimitConfig, ...]:
    _typed(value, list, path, "an array of [[profiles.limits]] tables")
    result: list[LimitConfig] = []
    for i, table in enumerate(value):
        p = f"{path}[{i}]"
        _entry(table, p, {"name", "services", "minutes", "days", "shared"}, ("services", "minutes"))
        services = tuple(dict.fromkeys(_strings(table["services"], f"{p}.services")))
        if not services:
            raise ConfigError(f"{p}.services: name at least one service or group")
        days = _days(table.get("days", list(DAYS)), f"{p}.days")
        name = _string(table.get("name", ", ".join(services)), f"{p}.name").strip()
        if not name:
            raise ConfigError(f"{p}.name: must not be empty")
        limit = LimitConfig(name=name, services=services, minutes=_int(table["minutes"], f"{p}.minutes", 0, 1440),
                            days=tuple(dict.fromkeys(days)),
                            shared=_bool(table.get("shared", False), f"{p}.shared"))
        for other in result:
            if other.name.casefold() == name.casefold() and other.name != name:
                raise ConfigError(f"{p}.name: {name!r} differs from {other.name!r}, another limit, only in capital "
                                  "letters; give both the same spelling to make them one limit")
            if other.name != name:
                continue
            if set(other.days) & set(limit.days):
                raise ConfigError(f"{p}.days: the limit {name!r} already has minutes for "
                                  f"{', '.join(d for d in DAYS if d in other.days and d in limit.days)}")
            if (set(other.services), other.shared) != (set(services), limit.shared):
                raise ConfigError(f"{p}: limits named {name!r} must cover the same services, shared alike")
        result.append(limit)
    return tuple(result)


def _check_service_references(profiles: tuple[ProfileConfig, ...], known: set[str]) -> None:
    """Every service id or group a profile names exists; windows name the profile's schedules."""
    def check(items: tuple[str, ...], path: str) -> None:
        for j, item in enumerate(items):
            if item not in known:
                raise ConfigError(f"{path}[{j}]: no service or group is called {item!r} "
                                  "(see `guardian services list`)")

    for i, profile in enumerate(profiles):
        p = f"profiles[{i}]"
        check(profile.services.block, f"{p}.services.block")
        schedule_names = {s.name for s in profile.schedules}
        for key, windows in profile.services.allow_only_during:
            check((key,), f"{p}.services.allow_only_during")
            for j, window in enumerate(windows):
                if window not in schedule_names:
                    raise ConfigError(f"{p}.services.allow_only_during.{key}[{j}]: the profile has no schedule "
                                      f"named {window!r}")
        for j, schedule in enumerate(profile.schedules):
            check(schedule.block_services, f"{p}.schedules[{j}].block_services")
        for j, limit in enumerate(profile.limits):
            check(limit.services, f"{p}.limits[{j}].services")


def _devices(value: Any, profile_names: set[str]) -> tuple[DeviceConfig, ...]:
    _typed(value, list, "devices", "an array of [[devices]] tables")
    seen_names: dict[str, str] = {}
    seen_matches: dict[str, str] = {}
    result = []
    for i, table in enumerate(value):
        p = f"devices[{i}]"
        _entry(table, p, {"name", "match", "profile"}, ("name", "match"))
        name = _unique_name(table, p, seen_names, "device")
        matches = []
        for j, item in enumerate(_strings(table["match"], f"{p}.match")):
            normal = check_device_match(item, f"{p}.match[{j}]")
            if normal in seen_matches:
                raise ConfigError(f"{p}.match[{j}]: {item!r} already identifies device {seen_matches[normal]!r}")
            seen_matches[normal] = name
            matches.append(normal)
        if not matches:
            raise ConfigError(f"{p}.match: give at least one IP address, network or MAC address")
        profile = _string(table.get("profile", "default"), f"{p}.profile")
        if profile not in profile_names:
            raise ConfigError(f"{p}.profile: no profile is named {profile!r}")
        result.append(DeviceConfig(name=name, match=tuple(matches), profile=profile))
    return tuple(result)


def _cache(table: Any) -> CacheConfig:
    _check_keys(table, "cache", {"enabled", "max_bytes", "max_object_bytes", "content_types"})
    d = CacheConfig()
    max_bytes = _int(table.get("max_bytes", d.max_bytes), "cache.max_bytes", 0, 2**40)
    max_object = _int(table.get("max_object_bytes", d.max_object_bytes), "cache.max_object_bytes", 0, 2**40)
    if max_object > max_bytes:
        raise ConfigError("cache.max_object_bytes: larger than cache.max_bytes")
    return CacheConfig(
        enabled=_bool(table.get("enabled", d.enabled), "cache.enabled"),
        max_bytes=max_bytes,
        max_object_bytes=max_object,
        content_types=tuple(t.lower() for t in _strings(table["content_types"], "cache.content_types"))
        if "content_types" in table else d.content_types,
    )


def _host_patterns(value: Any, path: str) -> tuple[str, ...]:
    """Host names standing for themselves and their subdomains ("youtube.com"); a leading
    "*." or "." is accepted and dropped, as it means the same."""
    result = []
    for i, item in enumerate(_strings(value, path)):
        name = item.strip().lower().removeprefix("*.").lstrip(".").rstrip(".")
        if not re.fullmatch(r"[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*", name):
            raise ConfigError(f"{path}[{i}]: {item!r} is not a host name like \"example.com\"")
        result.append(name)
    return tuple(dict.fromkeys(result))


def _https(table: Any) -> HttpsConfig:
    _check_keys(table, "https", set(HttpsConfig.__slots__))
    d = HttpsConfig()
    name = _string(table.get("name", d.name), "https.name").strip()
    if len(name) > 48 or not name.isprintable():
        raise ConfigError("https.name: at most 48 printable characters")
    return HttpsConfig(
        name=name,
        bypass=_host_patterns(table["bypass"], "https.bypass") if "bypass" in table else d.bypass,
        leaf_cache_size=_int(table.get("leaf_cache_size", d.leaf_cache_size), "https.leaf_cache_size", 16, 100_000),
        extra_ca_file=_string(table.get("extra_ca_file", d.extra_ca_file), "https.extra_ca_file"),
    )


def _log(table: Any) -> LogConfig:
    _check_keys(table, "log", {"enabled", "detail", "keep_days", "max_mb"})
    d = LogConfig()
    return LogConfig(
        enabled=_bool(table.get("enabled", d.enabled), "log.enabled"),
        detail=_choice(table.get("detail", d.detail), "log.detail", LOG_DETAILS),
        keep_days=_int(table.get("keep_days", d.keep_days), "log.keep_days", 1, 3650),
        max_mb=_int(table.get("max_mb", d.max_mb), "log.max_mb", 1, 1_000_000),
    )


# ---------------------------------------------------------------- printing


def to_toml_dict(config: Config) -> dict[str, Any]:
    """The effective configuration as plain TOML values (every default filled in)."""
    p = config.proxy
    return {
        "data_dir": str(config.data_dir),
        "timezone": config.timezone or system_timezone(),
        "proxy": {
            "listen": str(p.listen),
            "allowed_clients": [str(n) for n in p.allowed_clients],
            "connect_ports": list(p.connect_ports),
            "deny_destinations": [str(n) for n in p.deny_destinations],
            "deny_own_addresses": p.deny_own_addresses,
            "forwarded_for": p.forwarded_for,
            "head_timeout": p.head_timeout,
            "idle_timeout": p.idle_timeout,
            "connect_timeout": p.connect_timeout,
            "response_timeout": p.response_timeout,
            "tunnel_idle_timeout": p.tunnel_idle_timeout,
            "max_connections": p.max_connections,
            "max_connections_per_client": p.max_connections_per_client,
            "access_log": p.access_log,
            "access_log_max_mb": p.access_log_max_mb,
            "access_log_keep": p.access_log_keep,
            "workers": p.workers,
        },
        "web": {"listen": str(config.web.listen), "names": list(config.web.names)},
        "refresh": {"schedule": config.refresh.schedule, "window": "-".join(config.refresh.window),
                    "max_rules_per_list": config.refresh.max_rules_per_list,
                    "memory_budget_mb": config.refresh.memory_budget_mb},
        "cache": {
            "enabled": config.cache.enabled,
            "max_bytes": config.cache.max_bytes,
            "max_object_bytes": config.cache.max_object_bytes,
            "content_types": list(config.cache.content_types),
        },
        "log": {
            "enabled": config.log.enabled,
            "detail": config.log.detail,
            "keep_days": config.log.keep_days,
            "max_mb": config.log.max_mb,
        },
        "privacy": _privacy_dict(config.privacy),
        "https": {
            "name": config.https.name,
            "bypass": list(config.https.bypass),
            "leaf_cache_size": config.https.leaf_cache_size,
            "extra_ca_file": config.https.extra_ca_file,
        },
        "lists": [
            {"id": e.id, "name": e.name, "url": e.url, "format": e.format, "enabled": e.enabled}
            | ({"refresh": e.refresh} if e.refresh else {})
            for e in config.lists
        ],
        "profiles": [
            {
                "name": pr.name, "lists": list(pr.lists), "block": list(pr.block), "allow": list(pr.allow),
                "safe_search": pr.safe_search, "youtube": pr.youtube, "pac_fallback": pr.pac_fallback,
                "block_file_types": list(pr.block_file_types),
                "https_block_page": pr.https_block_page, "inspect_https": pr.inspect_https,
                "inspect_hosts": list(pr.inspect_hosts),
                "schedules": [
                    {"name": s.name, "days": list(s.days), "from": s.start, "to": s.end,
                     "block": "all" if s.block_all else list(s.block)}
                    | ({"block_file_types": list(s.block_file_types)} if s.block_file_types else {})
                    | ({"block_services": list(s.block_services)} if s.block_services else {})
                    for s in pr.schedules
                ],
                "services": {"block": list(pr.services.block),
                             "allow_only_during": {k: list(v) for k, v in pr.services.allow_only_during},
                             "allow_rules_win": pr.services.allow_rules_win},
                "limits": [{"name": lim.name, "services": list(lim.services), "minutes": lim.minutes,
                            "days": list(lim.days), "shared": lim.shared} for lim in pr.limits],
            } | ({"privacy": _privacy_dict(pr.privacy)} if pr.privacy else {})
            for pr in config.profiles
        ],
        "devices": [{"name": d.name, "match": list(d.match), "profile": d.profile} for d in config.devices],
        "services": [household_service_table(s) for s in config.services],
    }


def _privacy_dict(privacy: PrivacyConfig) -> dict[str, Any]:
    return {
        "strip_tracking_parameters": privacy.strip_tracking_parameters,
        "referer": privacy.referer,
        "global_privacy_control": privacy.global_privacy_control,
        "third_party_cookies": privacy.third_party_cookies,
        "cookie_exceptions": list(privacy.cookie_exceptions),
    }


def describe(config: Config) -> str:
    """The effective configuration as TOML, for `guardian config check`."""
    import tomlkit

    return f"# effective configuration from {config.source}\n" + tomlkit.dumps(to_toml_dict(config))
