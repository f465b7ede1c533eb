"""Would a change a parent is about to make change anything? Asked of the real policy.

"Always allow tiktok.com" during bedtime used to answer "now always allowed" while the
schedule kept blocking it. Instead of guessing from the rules, these functions build a
small policy from the configuration as it would be (the profile's own rules, schedules
and services; the lists leave out, since an allow rule beats them anyway), put a probe
device on the profile, and ask `explain` what it would decide, at the moment that
matters: when the logged request happened, inside each schedule, or at a time no
schedule runs.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any

from guardian.config import DAYS, Config, DeviceConfig, ProfileConfig, ScheduleConfig
from guardian.policy import Policy
from guardian.policy.parent_rules import normalise_rule

PROBE_IP = "192.0.2.254"  # TEST-NET-1: never a real device
_WEEK_HOURS = 7 * 24


def _probe_policy(config: Config, profile: str, allow: tuple[str, ...] | None = None) -> Policy:
    def trimmed(p: ProfileConfig) -> ProfileConfig:
        changed = dataclasses.replace(p, lists=())
        if p.name == profile and allow is not None:
            changed = dataclasses.replace(changed, allow=allow)
        return changed

    probe = dataclasses.replace(
        config, profiles=tuple(trimmed(p) for p in config.profiles),
        devices=(DeviceConfig(name="probe", match=(PROBE_IP,), profile=profile),))
    return Policy(probe, {})


def _decide(policy: Policy, target: str, at: datetime | None) -> dict[str, Any]:
    return policy.explain(target, PROBE_IP, at=at)


def site_of(rule: str) -> str | None:
    """The site a host-like allow rule names (`tiktok.com`, `||tiktok.com^`); None for others."""
    typed = normalise_rule(rule, "allow", confirmed=True, probe=False)
    return typed.host if typed.path is None and not typed.error else None


def _next_start(schedule: ScheduleConfig, zone: Any) -> datetime:
    """A naive local time inside the schedule: its next start on one of its days."""
    now = datetime.now(zone).replace(tzinfo=None, second=0, microsecond=0)
    hour, minute = (int(x) for x in schedule.start.split(":")) if schedule.start != "24:00" else (0, 0)
    for days in range(8):
        day = now + timedelta(days=days)
        if DAYS[day.weekday()] in schedule.days:
            return day.replace(hour=hour, minute=minute) + timedelta(minutes=1)
    return now


def _quiet_time(policy: Policy, target: str, zone: Any) -> datetime | None:
    """A naive local time this week when no schedule decides about `target`."""
    start = datetime.now(zone).replace(tzinfo=None, minute=30, second=0, microsecond=0)
    for hours in range(_WEEK_HOURS):
        at = start + timedelta(hours=hours)
        if _decide(policy, target, at)["schedule"] is None:
            return at
    return None


def allow_rule_conflicts(config: Config, profile_name: str, rule: str) -> list[str]:
    """Why an allow rule (added or already there) does not do all it seems to, in words."""
    host = site_of(rule)
    try:
        profile = config.profile(profile_name)
    except KeyError:
        return []
    if host is None:
        return []
    zone = config.zone()
    allow = tuple(dict.fromkeys((*profile.allow, rule)))
    with_rule = _probe_policy(config, profile_name, allow)
    without = _probe_policy(config, profile_name, tuple(r for r in profile.allow if r != rule))
    found: list[str] = []
    quiet = _quiet_time(without, host, zone)
    if quiet is not None:
        before = _decide(without, host, quiet)
        if before["action"] == "block" and before["list"] == "custom" and before["rule"]:
            found.append(f"It undoes your own block rule {before['rule']}: removing that rule does the same, "
                         "more plainly.")
        after = _decide(with_rule, host, quiet)
        if after["action"] == "block":
            found.append(f"{host} stays blocked: {after['reason']}.")
    for schedule in profile.schedules:
        during = _decide(with_rule, host, _next_start(schedule, zone))
        if during["action"] == "block" and during["schedule"] == schedule.name:
            found.append(f"During {schedule.name} ({schedule.start} to {schedule.end}) {host} is still blocked: "
                         "schedules come before always-allowed sites.")
    return found


def always_allow_helps(config: Config, profile_name: str, host: str, target: str, at: datetime) -> bool:
    """Would an allow rule for `host` have let this request (at `at`) through?"""
    try:
        profile = config.profile(profile_name)
    except KeyError:
        return False
    policy = _probe_policy(config, profile_name, tuple(dict.fromkeys((*profile.allow, host))))
    return _decide(policy, target, at)["action"] == "allow"


def own_block_rule(config: Config, profile_name: str, target: str, at: datetime) -> str | None:
    """The parent's own block rule that blocked this request, when that is what did."""
    try:
        config.profile(profile_name)
    except KeyError:
        return None
    verdict = _decide(_probe_policy(config, profile_name), target, at)
    if verdict["action"] == "block" and verdict["list"] == "custom" and not verdict["schedule"]:
        return verdict["rule"]
    return None
