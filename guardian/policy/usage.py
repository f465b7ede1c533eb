"""Limits and their use today, as parents ask about them: per device, in minutes.

Used by `guardian usage`, `guardian allow --service` (through the control socket when
the service runs, so the running meter knows at once), and the settings page.
"""

from __future__ import annotations

import time
from typing import Any

from .decide import Policy
from .limits import UsageMeter


def usage_rows(policy: Policy, device: str | None = None, now: float | None = None) -> list[dict[str, Any]]:
    """One row per (device, limit in force today): minutes allowed (with bonus), used, left.
    A shared limit appears once per device of the profile, with the profile's common use."""
    meter = policy.usage
    now = meter.clock() if now is None else now
    day, weekday = meter.day_of(now)
    rows = []
    for entry in policy.config.devices:
        if device is not None and entry.name != device:
            continue
        rules = policy.service_rules.get(entry.profile)
        if rules is None:
            continue
        for limit in rules.all_limits:
            minutes = limit.minutes[weekday]
            if minutes is None:
                continue
            who = limit.who(entry.profile, entry.name, "")
            bonus = meter.bonus(day, who, limit.name)
            used = meter.used(day, who, limit.name)
            names = sorted(policy.services.services[s].name for s in limit.services)
            rows.append({"device": entry.name, "profile": entry.profile, "limit": limit.name,
                         "services": names, "shared": limit.shared, "day": day,
                         "minutes": minutes + bonus, "bonus": bonus, "used_minutes": used,
                         "left_minutes": max(0, minutes + bonus - used)})
    return rows


def add_minutes(policy: Policy, device: str, service: str, minutes: int, now: float | None = None) -> dict[str, Any]:
    """Give a device `minutes` more today on every limit covering `service` (a reward)."""
    meter: UsageMeter = policy.usage
    now = time.time() if now is None else now
    entry = next((d for d in policy.config.devices if d.name == device), None)
    if entry is None:
        return {"ok": False, "error": f"no device is named {device!r}"}
    if service not in policy.services.services:
        return {"ok": False, "error": f"no service has the id {service!r} (see guardian services list)"}
    if not 1 <= minutes <= 1440:
        return {"ok": False, "error": "minutes must be from 1 to 1440"}
    rules = policy.service_rules.get(entry.profile)
    _, weekday = meter.day_of(now)
    limits = [lim for lim in (rules.limits_for((service,)) if rules else ()) if lim.minutes[weekday] is not None]
    name = policy.services.services[service].name
    if not limits:
        return {"ok": False, "error": f"{name} has no time limit today for {device}"}
    for limit in limits:
        meter.add_bonus(limit.who(entry.profile, entry.name, ""), limit.name, minutes, now)
    rows = [r for r in usage_rows(policy, device, now) if r["limit"] in {lim.name for lim in limits}]
    return {"ok": True, "rows": rows,
            "message": f"{device} has {minutes} more minutes of {name} today"}
