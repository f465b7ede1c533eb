"""One profile's rules about services: always blocked, blocked in schedules, allowed
only in named windows, and daily limits. Compiled once per policy build.

`ServiceRules.check()` answers for the services a host belongs to (usually one). A host
that several services share is blocked only when every one of them is; its use counts
towards the limits of each one that is still allowed. Precedence is in docs/policy.md;
decide.py calls this after pauses and schedules' own rules, before the parents' rules.
"""

from __future__ import annotations

from typing import NamedTuple

from guardian.config import DAYS, ProfileConfig
from guardian.service_catalog import GROUPS, ServiceIndex

from .limits import TUNNEL_MINUTE_BYTES, Limit, UsageMeter, used_up_reason
from .schedules import Window, compile_window, until_text

Count = tuple[str, str]  # (who, limit name)


class ServiceOutcome(NamedTuple):
    service: str  # the id of the first service the host belongs to, for messages
    reason: str | None  # set: blocked
    schedule: str | None
    counts: tuple[Count, ...]  # allowed: the limits this use counts against
    limit: tuple[str, str, int] | None  # (who, limit name, minutes allowed today incl. bonus) of the first limit


class Activity:
    """Verdict.activity for a limited service: counts the minute of a request, or of a
    tunnel minute that moved at least TUNNEL_MINUTE_BYTES."""

    __slots__ = ("counts", "meter")

    def __init__(self, meter: UsageMeter, counts: tuple[Count, ...]) -> None:
        self.meter = meter
        self.counts = counts

    def __call__(self, timestamp: float, tunnel_bytes: int | None = None) -> None:
        if tunnel_bytes is not None and tunnel_bytes < TUNNEL_MINUTE_BYTES:
            return
        for who, limit in self.counts:
            self.meter.note(who, limit, timestamp)


class _ScheduleBlock(NamedTuple):
    name: str
    label: str
    window: Window
    services: frozenset[str]


def _expand(items: tuple[str, ...], index: ServiceIndex) -> frozenset[str]:
    ids: set[str] = set()
    for item in items:
        ids.update(index.in_group(item) if item in GROUPS and item not in index.services else (item,))
    return frozenset(ids)


class ServiceRules:
    def __init__(self, profile: ProfileConfig, index: ServiceIndex, meter: UsageMeter) -> None:
        self.profile = profile.name
        self.label = profile.name[:1].upper() + profile.name[1:]
        self.index = index
        self.meter = meter
        self.allow_rules_win = profile.services.allow_rules_win
        self.blocked = _expand(profile.services.block, index)
        windows = {s.name: compile_window(s) for s in profile.schedules}
        self.schedule_blocks = tuple(
            _ScheduleBlock(s.name, s.name[:1].upper() + s.name[1:], windows[s.name], _expand(s.block_services, index))
            for s in profile.schedules if s.block_services
        )
        self.only_during: dict[str, tuple[tuple[Window, ...], str]] = {}
        for key, names in profile.services.allow_only_during:
            for service in _expand((key,), index):
                self.only_during[service] = (tuple(windows[n] for n in names), " or ".join(names))
        limits: dict[str, list[Limit]] = {}
        by_name: dict[str, Limit] = {}
        for entry in profile.limits:
            old = by_name.get(entry.name)
            minutes: list[int | None] = list(old.minutes) if old else [None] * 7
            for day in entry.days:
                minutes[DAYS.index(day)] = entry.minutes
            by_name[entry.name] = Limit(entry.name, _expand(entry.services, index), tuple(minutes), entry.shared)
        for limit in by_name.values():
            for service in limit.services:
                limits.setdefault(service, []).append(limit)
        self.limits: dict[str, tuple[Limit, ...]] = {k: tuple(v) for k, v in limits.items()}
        self.all_limits = tuple(by_name.values())
        # frozenset(): a frozenset | dict keys is a set at run time, whatever the stubs say
        self.mentioned = frozenset(self.blocked | self.only_during.keys() | self.limits.keys()
                                   | {s for b in self.schedule_blocks for s in b.services})

    @classmethod
    def build(cls, profile: ProfileConfig, index: ServiceIndex, meter: UsageMeter) -> ServiceRules | None:
        s = profile.services
        if not (s.block or s.allow_only_during or profile.limits or any(x.block_services for x in profile.schedules)):
            return None
        return cls(profile, index, meter)

    def check(self, services: tuple[str, ...], device: str | None, client_ip: str, minute_of_week: int,
              timestamp: float) -> ServiceOutcome | None:
        """None when none of `services` concerns this profile."""
        first_reason: tuple[str, str | None] | None = None
        counts: list[Count] = []
        shown_limit = None
        any_allowed = False
        mentioned = self.mentioned
        for service in services:
            if service not in mentioned:
                any_allowed = True
                continue
            name = self.index.services[service].name
            reason, schedule = self._block_reason(service, name, minute_of_week)
            if reason is None:
                limit_reason, service_counts, limit_info = self._limits(service, name, device, client_ip, timestamp)
                shown_limit = shown_limit or limit_info
                if limit_reason is None:
                    any_allowed = True
                    counts.extend(service_counts)
                    continue
                reason = limit_reason
            if first_reason is None:
                first_reason = (reason, schedule)
        if first_reason is None and not counts and shown_limit is None:
            return None
        if any_allowed or first_reason is None:
            return ServiceOutcome(services[0], None, None, tuple(dict.fromkeys(counts)), shown_limit)
        return ServiceOutcome(services[0], first_reason[0], first_reason[1], (), shown_limit)

    def _block_reason(self, service: str, name: str, minute: int) -> tuple[str | None, str | None]:
        if service in self.blocked:
            return f"{name} is blocked for {self.label}", None
        for block in self.schedule_blocks:
            if service in block.services and block.window.active(minute):
                return f"{name}: {block.label} {until_text(minute, block.window.ends_at(minute))}", block.name
        during = self.only_during.get(service)
        if during is not None:
            windows, names = during
            if not any(w.active(minute) for w in windows):
                return f"{name} is only allowed during {names}", None
        return None, None

    def _limits(self, service: str, name: str, device: str | None, client_ip: str,
                timestamp: float) -> tuple[str | None, list[Count], tuple[str, str, int] | None]:
        limits = self.limits.get(service)
        if not limits:
            return None, [], None
        meter = self.meter
        day, weekday = meter.day_of(timestamp)
        minute = int(timestamp // 60)
        counts: list[Count] = []
        shown = None
        for limit in limits:
            minutes = limit.minutes[weekday]
            if minutes is None:
                continue
            who = limit.who(self.profile, device, client_ip)
            allowed = minutes + meter.bonus(day, who, limit.name)
            shown = shown or (who, limit.name, allowed)
            # The minute that reaches the limit is used to its end.
            if meter.used(day, who, limit.name) >= allowed and not meter.counted(day, who, limit.name, minute):
                return used_up_reason(name, allowed), [], (who, limit.name, allowed)
            counts.append((who, limit.name))
        return None, counts, shown

    def limits_for(self, services: tuple[str, ...]) -> tuple[Limit, ...]:
        found: dict[str, Limit] = {}
        for service in services:
            for limit in self.limits.get(service, ()):
                found.setdefault(limit.name, limit)
        return tuple(found.values())
