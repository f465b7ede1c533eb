"""What every template can use: times in the household's zone, sizes, the config version."""

from __future__ import annotations

from datetime import datetime

from flask import Flask, g

from guardian.config import system_timezone
from guardian.sizes import size_text

from .security import logged_in
from .state import services

NAV = (
    ("dashboard.index", "Home"), ("devices.index", "Devices"), ("profiles.index", "Profiles"),
    ("lists.index", "Lists"), ("log.index", "Log"), ("tester.index", "Tester"),
    ("settings.index", "Settings"), ("guide.index", "Set up"),
)


RESTART_LABELS = {
    "proxy.listen": "the proxy's address", "web.listen": "this settings page's address",
    "data_dir": "where Guardian keeps its data", "proxy.access_log": "the access log on or off",
    "proxy.access_log_max_mb": "the access log's size", "proxy.access_log_keep": "how many old access logs are kept",
    "log.enabled": "the request log on or off",
}


def local_time(value: float | datetime | str | None, fmt: str = "%a %d %b %H:%M") -> str:
    """A Unix time, an aware datetime or an ISO 8601 text, in the household's zone."""
    if value is None:
        return "never"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    zone = services().config.zone()
    moment = value.astimezone(zone) if isinstance(value, datetime) else datetime.fromtimestamp(value, zone)
    return moment.strftime(fmt)


UTC_NAMES = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Etc/Zulu", "Zulu",
                       "Etc/GMT", "GMT", "Etc/GMT0", "GMT0", "Etc/Greenwich", "Greenwich"})


def zone_info() -> dict[str, object]:
    """The zone schedules run in, where it comes from, the time there now, and whether it
    is UTC (most likely a Pi nobody set a zone on, not a household that lives on UTC)."""
    config = services().config
    name = config.timezone or system_timezone()
    return {"name": name, "configured": bool(config.timezone), "is_utc": name in UTC_NAMES,
            "now": datetime.now(config.zone()).strftime("%A %H:%M")}


def size(value: int | None) -> str:
    return size_text(value or 0)


def plural(count: int | None, noun: str, many: str | None = None) -> str:
    """ "1 schedule", "2 schedules", "0 requests" (`many` for nouns that take more than an s)."""
    number = count or 0
    return f"{number} {noun if number == 1 else (many or noun + 's')}"


def config_version() -> str:
    """The configuration's version, read once per request so every form on a page carries
    the version the whole page was rendered from."""
    if "config_version" not in g:
        g.config_version = services().config_version()
    return g.config_version


def register_filters(app: Flask) -> None:
    app.jinja_env.filters["local_time"] = local_time
    app.jinja_env.filters["size"] = size
    app.jinja_env.filters["plural"] = plural

    @app.context_processor
    def common() -> dict:
        return {"nav": NAV, "signed_in": logged_in(), "config_version": config_version,
                "config_problems": lambda: services().config_problems,
                "restart_changes": lambda: services().restart_changes, "restart_labels": RESTART_LABELS,
                "can_restart": lambda: services().can_restart(), "zone_info": zone_info}
