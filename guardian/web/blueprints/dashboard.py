"""The start page: today in numbers, the last 24 hours and 7 days as charts, top lists."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, render_template

from guardian.logstore import LogUnavailableError

from ..allowances import EXTEND_CHOICES, running
from ..charts import bar_chart
from ..listinfo import rule_counts
from ..state import services
from .screen_time import time_today, top_services

bp = Blueprint("dashboard", __name__)


def start_of_today() -> float:
    zone = services().config.zone()
    now = datetime.now(zone)
    return now.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def _list_rules() -> tuple[int, int]:
    enabled = [entry for entry in services().config.lists if entry.enabled]
    counts = rule_counts()
    return len(enabled), sum(counts.get(entry.id) or 0 for entry in enabled)


def _cache_ratio() -> float | None:
    cache = services().cache
    if cache is None:
        return None
    stats = cache.stats()
    asked = stats["hits"] + stats["misses"] + stats["revalidations"]
    return (stats["hits"] + stats["revalidations"]) / asked if asked else None


def _log_figures() -> dict[str, Any]:
    queries = services().log_queries
    if queries is None:
        return {"log_error": "The request log is turned off, so there are no figures."}
    zone = services().config.zone()
    now = time.time()
    today = start_of_today()
    week_start = (datetime.fromtimestamp(today, zone) - timedelta(days=6)).timestamp()
    try:
        hourly = queries.series(now - 24 * 3600, now, "hour", zone)
        daily = queries.series(week_start, now, "day", zone)
        return {
            "totals": queries.totals(today, now),
            "devices_active": len(queries.top_devices(today, now, limit=1000)),
            "day_chart": bar_chart(hourly, [datetime.fromtimestamp(p.start, zone).strftime("%H") for p in hourly],
                                   "Requests per hour, last 24 hours (blocked in red)"),
            "week_chart": bar_chart(daily, [datetime.fromtimestamp(p.start, zone).strftime("%a") for p in daily],
                                    "Requests per day, last 7 days (blocked in red)"),
            "top_blocked": queries.top_hosts(today, now, "blocked", limit=10),
            "top_devices": queries.top_devices(today, now, limit=10),
            "recent": queries.search(action="blocked", limit=10).records,
            "top_services": top_services(queries, today, now),
        }
    except LogUnavailableError as exc:
        return {"log_error": f"The request log cannot be read: {exc}"}


@bp.get("/")
def index() -> str:
    lists, rules = _list_rules()
    return render_template("dashboard/index.html", title="Today", lists=lists, rules=rules,
                           cache_ratio=_cache_ratio(), running=running(), extend_choices=EXTEND_CHOICES,
                           time_today=time_today(),
                           **_log_figures())
