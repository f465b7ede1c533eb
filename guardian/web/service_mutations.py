"""Configuration edits for services and limits (the pattern of mutations.py: each takes
the TOML document, changes it in place, and raises ConfigError for an impossible edit)."""

from __future__ import annotations

import tomlkit
from tomlkit import TOMLDocument
from tomlkit.items import Table

from guardian.config import Config, ConfigError

from .mutations import profile


def _services_table(table: Table) -> Table:
    if "services" not in table:
        table["services"] = tomlkit.table()
    return table["services"]


def set_service_blocked(doc: TOMLDocument, name: str, service: str, blocked: bool, config: Config) -> None:
    services = _services_table(profile(doc, name, config))
    block = services.get("block")
    if block is None:
        block = services["block"] = tomlkit.array()
    if blocked and service not in block:
        block.append(service)
    elif not blocked:
        if service not in block:
            raise ConfigError(f"{service!r} is not blocked for {name!r}")
        del block[list(block).index(service)]


def add_limit(doc: TOMLDocument, name: str, entries: list[dict], config: Config) -> None:
    """One new limit: its `[[profiles.limits]]` entries share a name and cover different
    days (weekdays and weekends with their own minutes)."""
    table = profile(doc, name, config)
    limit_name = entries[0]["name"]
    if any(entry.name == limit_name for entry in config.profile(name).limits):
        raise ConfigError(f"the profile {name!r} already has a limit named {limit_name!r}")
    if "limits" not in table:
        table["limits"] = tomlkit.aot()
    for entry in entries:
        table["limits"].append(tomlkit.item(entry))


def remove_limit(doc: TOMLDocument, name: str, limit_name: str, config: Config) -> None:
    limits = profile(doc, name, config).get("limits")
    names = [str(entry.get("name", ", ".join(entry.get("services", [])))) for entry in (limits or [])]
    if limits is None or limit_name not in names:
        raise ConfigError(f"the profile {name!r} has no limit named {limit_name!r}")
    for index in sorted((i for i, n in enumerate(names) if n == limit_name), reverse=True):
        del limits[index]


def set_schedule_services(doc: TOMLDocument, name: str, schedule: str, service: str, blocked: bool,
                          config: Config) -> None:
    """Add `service` to (or take it from) the `block_services` of one of the profile's schedules."""
    schedules = profile(doc, name, config).get("schedules") or []
    table = next((s for s in schedules if s.get("name") == schedule), None)
    if table is None:
        raise ConfigError(f"the profile {name!r} has no schedule named {schedule!r}")
    if "block_services" not in table:
        if "block" not in table:
            # Until now the schedule blocked everything by default; it still does.
            table["block"] = "all"
        table["block_services"] = tomlkit.array()
    listed = table["block_services"]
    if blocked and service not in listed:
        listed.append(service)
    elif not blocked:
        if service not in listed:
            raise ConfigError(f"{service!r} is not blocked during {schedule!r}")
        del listed[list(listed).index(service)]


def set_allowed_windows(doc: TOMLDocument, name: str, service: str, windows: list[str], config: Config) -> None:
    """`services.allow_only_during` for one service: only in these schedules (none: no such rule)."""
    services = _services_table(profile(doc, name, config))
    during = services.get("allow_only_during")
    if during is None:
        during = services["allow_only_during"] = tomlkit.inline_table()
    if windows:
        during[service] = windows
    elif service in during:
        del during[service]
