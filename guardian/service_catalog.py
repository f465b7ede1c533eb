"""Services: "TikTok", "YouTube", "games" as parents say them, each a set of host names.

The catalog (`lists/services.toml`, shipped with Guardian) names each service's id,
display name, group and hosts; a household adds services or extends one by id with
`[[services]]` in the configuration (`merge`).

Strategy: a decision must find a request's service without looping over services, so
`ServiceIndex` maps every host of every service to the services claiming it, and a
lookup walks the request's host and its parent domains (www.youtube.com, youtube.com,
com): one dict lookup per label, well under a microsecond. The most specific host
wins, so a service may claim a subdomain of a domain nobody else claims.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import guardian

GROUPS = {
    "video": "Video", "social": "Social media", "chat": "Chat", "games": "Games", "music": "Music",
    "shopping": "Shopping", "ai": "AI assistants", "adult": "Adult", "gambling": "Gambling", "dating": "Dating",
    "app-stores": "App stores", "learning": "Learning", "reference": "Reference",
}
SERVICE_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,47}")
# A host name: labels of letters, digits and inner hyphens, at least two labels, lower case.
_HOST = re.compile(r"(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


class CatalogError(ValueError):
    """A services file that cannot be used; the message names the entry."""


@dataclass(frozen=True, slots=True)
class Service:
    id: str
    name: str
    group: str
    hosts: tuple[str, ...]
    shared: frozenset[str] = frozenset()  # hosts other services may claim too
    source: str = ""


def valid_host(host: str) -> bool:
    return _HOST.fullmatch(host) is not None


def catalog_path() -> Path:
    """`lists/services.toml` beside the package (as guardian.lists.catalog finds lists/).
    This module needs only the standard library: install.sh checks a configuration,
    and so the catalog, with the system's Python before any dependency is installed."""
    return Path(guardian.__file__).resolve().parent.parent / "lists" / "services.toml"


def load_catalog(path: Path | None = None) -> dict[str, Service]:
    """The shipped catalog, id -> Service, in file order; CatalogError when it is bad."""
    path = path or catalog_path()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CatalogError(f"{path}: {exc}") from None
    services: dict[str, Service] = {}
    for i, table in enumerate(raw.get("services", [])):
        service = parse_service(table, f"{path.name}: services[{i}]")
        if service.id in services:
            raise CatalogError(f"{path.name}: services[{i}].id: {service.id!r} is used by another service")
        services[service.id] = service
    check_claims(services.values())
    return services


def parse_service(table: Mapping[str, object], where: str, *, partial: bool = False) -> Service:
    """One entry. `partial` (a household extending a catalog service) makes name and group optional."""
    allowed = {"id", "name", "group", "hosts", "shared", "source"}
    unknown = set(table) - allowed
    if unknown:
        raise CatalogError(f"{where}.{sorted(unknown)[0]}: unknown key (allowed here: {', '.join(sorted(allowed))})")
    service_id = table.get("id")
    if not isinstance(service_id, str) or not SERVICE_ID.fullmatch(service_id):
        raise CatalogError(f"{where}.id: {service_id!r} must be lower-case letters, digits and '-'")
    name, group = table.get("name", "" if partial else None), table.get("group", "" if partial else None)
    if not isinstance(name, str) or (not partial and not name.strip()):
        raise CatalogError(f"{where}.name: give the name parents know the service by")
    if not isinstance(group, str) or (group and group not in GROUPS) or (not partial and not group):
        raise CatalogError(f"{where}.group: {group!r} is not one of {', '.join(GROUPS)}")
    hosts = _host_list(table.get("hosts", []), f"{where}.hosts")
    if not hosts and not partial:
        raise CatalogError(f"{where}.hosts: give at least one host name")
    shared = _host_list(table.get("shared", []), f"{where}.shared")
    for host in shared:
        if host not in hosts:
            raise CatalogError(f"{where}.shared: {host!r} is not one of the service's hosts")
    source = table.get("source", "")
    if not isinstance(source, str):
        raise CatalogError(f"{where}.source: expected a string")
    return Service(service_id, name.strip(), group, hosts, frozenset(shared), source)


def _host_list(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise CatalogError(f"{where}: expected a list of host names")
    hosts = []
    for j, item in enumerate(value):
        host = item.strip().lower().rstrip(".") if isinstance(item, str) else None
        if host is None or not valid_host(host):
            raise CatalogError(f"{where}[{j}]: {item!r} is not a host name like example.com")
        hosts.append(host)
    return tuple(dict.fromkeys(hosts))


def check_claims(services: Iterable[Service]) -> None:
    """A host two services claim must be marked shared by both."""
    owner: dict[str, Service] = {}
    for service in services:
        for host in service.hosts:
            other = owner.get(host)
            if other is None:
                owner[host] = service
            elif host not in service.shared or host not in other.shared:
                raise CatalogError(f"host {host!r} is claimed by both {other.id!r} and {service.id!r}; "
                                   "mark it `shared` in both or keep it in one")


def merge(catalog: Mapping[str, Service], household: Iterable[Mapping[str, object]]) -> dict[str, Service]:
    """The catalog with the household's `[[services]]`: an existing id gains the hosts
    (and a new name or group if given), a new id is a new service. A household host is
    shared with whatever service already claims it: the household knows its own mind."""
    merged = dict(catalog)
    for i, table in enumerate(household):
        where = f"services[{i}]"
        existing = merged.get(str(table.get("id")))
        entry = parse_service(table, where, partial=existing is not None)
        if existing is None:
            merged[entry.id] = entry
            continue
        merged[entry.id] = Service(
            existing.id, entry.name or existing.name, entry.group or existing.group,
            tuple(dict.fromkeys(existing.hosts + entry.hosts)),
            existing.shared | entry.shared, existing.source,
        )
    return merged


class ServiceIndex:
    """host -> the services claiming it, looked up by walking parent domains."""

    __slots__ = ("_hosts", "services")

    def __init__(self, services: Mapping[str, Service]) -> None:
        self.services = dict(services)
        claims: dict[str, list[str]] = {}
        for service in services.values():
            for host in service.hosts:
                claims.setdefault(host, []).append(service.id)
        self._hosts: dict[str, tuple[str, ...]] = {host: tuple(ids) for host, ids in claims.items()}

    def lookup(self, host: str) -> tuple[str, ...] | None:
        """The ids of the services `host` belongs to (usually one), or None."""
        hosts = self._hosts
        name = host
        while True:
            found = hosts.get(name)
            if found is not None:
                return found
            dot = name.find(".")
            if dot < 0:
                return None
            name = name[dot + 1 :]

    def name_of(self, host: str) -> str | None:
        """'YouTube' for www.youtube.com: the first claiming service's name."""
        found = self.lookup(host)
        return self.services[found[0]].name if found else None

    def describe(self, host: str) -> str:
        """'YouTube (www.youtube.com)', or the host alone when no service claims it."""
        name = self.name_of(host)
        return f"{name} ({host})" if name else host

    def in_group(self, group: str) -> tuple[str, ...]:
        return tuple(s.id for s in self.services.values() if s.group == group)


_DEFAULT: dict[str, Service] | None = None


def default_catalog() -> dict[str, Service]:
    """The shipped catalog, read once per process (it changes only with Guardian)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = load_catalog()
    return _DEFAULT
