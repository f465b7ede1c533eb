"""Daily time limits: "YouTube one hour a day", counted in whole minutes of use.

A minute counts towards a limit when the device, in that minute, made a plain-HTTP
request or opened a new tunnel (CONNECT) to a host of a limited service, or moved at
least `TUNNEL_MINUTE_BYTES` through a tunnel to one that was already open. A video
stream moves megabytes a minute; a chat app's idle keep-alive or a background poll
every few minutes moves a few hundred bytes, so it does not burn the hour.

Strategy: `UsageMeter` keeps the counted minutes of each (local day, who, limit) as a
set of UTC minute numbers in memory; the request path only adds to a set (and, once
per new minute, to a pending list under a lock). A scheduler job calls `flush()` at
least once a minute to write the pending minutes to `usage.db` (logstore/usage.py), so
a power cut loses at most the last minute. The local day of a minute is cached per UTC
minute, so a midnight, a daylight-saving change or a zone change all work from the
wall clock: a day is simply the minutes whose local date is that day.
"""

from __future__ import annotations

import logging
import threading
import time
import zoneinfo
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import NamedTuple

from guardian.logstore.usage import Key, UsageStore

log = logging.getLogger(__name__)

TUNNEL_MINUTE_BYTES = 64 * 1024  # bytes in one minute through an open tunnel that make it count


class Limit(NamedTuple):
    """A compiled `[[profiles.limits]]` name: minutes per weekday (None: no limit that day)."""

    name: str
    services: frozenset[str]
    minutes: tuple[int | None, ...]  # Monday first
    shared: bool

    def who(self, profile: str, device: str | None, client_ip: str) -> str:
        if self.shared:
            return f"profile:{profile}"
        return f"device:{device}" if device is not None else f"ip:{client_ip}"


def allowance_words(minutes: int) -> str:
    """'hour is' / '90 minutes are' / '2 hours are': what "today's … used up" says."""
    if minutes == 60:
        return "hour is"
    if minutes % 60 == 0 and minutes:
        return f"{minutes // 60} hours are"
    return "minute is" if minutes == 1 else f"{minutes} minutes are"


def used_up_reason(service_name: str, minutes: int) -> str:
    if minutes == 0:
        return f"{service_name}: there is no time for it today. It comes back tomorrow at 00:00."
    return (f"{service_name}: today's {allowance_words(minutes)} used up. It comes back tomorrow at 00:00. "
            "Ask a parent for more time.")


class UsageMeter:
    """Counted minutes per (day, who, limit), in memory, flushed to the usage store."""

    def __init__(self, zone: zoneinfo.ZoneInfo, store: UsageStore | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.zone = zone
        self.store = store
        self.clock = clock
        self._lock = threading.Lock()
        self._day_cache: tuple[int, str, int] = (-1, "", 0)  # (UTC minute, local day, weekday)
        self._pending: list[tuple[str, str, str, int]] = []
        self._counted: dict[Key, set[int]] = {}
        self._bonus: dict[Key, int] = {}
        self._listeners: list[Callable[[], None]] = []
        if store is not None:
            yesterday = (datetime.fromtimestamp(clock(), zone).date() - timedelta(days=1)).isoformat()
            self._counted, self._bonus = store.load(yesterday)

    # ------------------------------------------------------------ days

    def set_zone(self, zone: zoneinfo.ZoneInfo) -> None:
        """A new configured zone (reload): days are counted in it from now on."""
        self.zone = zone
        self._day_cache = (-1, "", 0)

    def day_of(self, timestamp: float) -> tuple[str, int]:
        """(local date 'YYYY-MM-DD', weekday 0=Monday) of the minute holding `timestamp`."""
        minute = int(timestamp // 60)
        cached = self._day_cache
        if cached[0] == minute:
            return cached[1], cached[2]
        local = datetime.fromtimestamp(minute * 60, self.zone)
        day, weekday = local.date().isoformat(), local.weekday()
        self._day_cache = (minute, day, weekday)
        return day, weekday

    # ------------------------------------------------------------ counting (request path)

    def note(self, who: str, limit: str, timestamp: float) -> None:
        """Count the minute of `timestamp` for `who` against `limit` (once, however often)."""
        day, _ = self.day_of(timestamp)
        minute = int(timestamp // 60)
        key = (day, who, limit)
        minutes = self._counted.get(key)
        if minutes is not None and minute in minutes:
            return
        with self._lock:
            minutes = self._counted.setdefault(key, set())
            if minute in minutes:
                return
            minutes.add(minute)
            self._pending.append((day, who, limit, minute))

    def used(self, day: str, who: str, limit: str) -> int:
        minutes = self._counted.get((day, who, limit))
        return len(minutes) if minutes else 0

    def counted(self, day: str, who: str, limit: str, minute: int) -> bool:
        minutes = self._counted.get((day, who, limit))
        return minutes is not None and minute in minutes

    def bonus(self, day: str, who: str, limit: str) -> int:
        return self._bonus.get((day, who, limit), 0)

    # ------------------------------------------------------------ parents

    def add_bonus(self, who: str, limit: str, minutes: int, timestamp: float | None = None) -> int:
        """Give `minutes` more today (a reward); written at once. Returns today's bonus."""
        day, _ = self.day_of(self.clock() if timestamp is None else timestamp)
        with self._lock:
            total = self._bonus.get((day, who, limit), 0) + minutes
            if self.store is not None:
                total = self.store.add_bonus(day, who, limit, minutes)
            self._bonus[(day, who, limit)] = total
        self.changed()
        return total

    def on_change(self, listener: Callable[[], None]) -> None:
        """Called after bonus minutes change (open connections may be allowed again)."""
        self._listeners.append(listener)

    def changed(self) -> None:
        for listener in self._listeners:
            listener()

    def today(self, timestamp: float | None = None) -> dict[tuple[str, str], tuple[int, int]]:
        """(who, limit) -> (used, bonus) for the local day of `timestamp`."""
        day, _ = self.day_of(self.clock() if timestamp is None else timestamp)
        result = {(who, name): (len(minutes), self._bonus.get((d, who, name), 0))
                  for (d, who, name), minutes in list(self._counted.items()) if d == day}
        for (d, who, name), extra in list(self._bonus.items()):
            if d == day and (who, name) not in result:
                result[(who, name)] = (0, extra)
        return result

    # ------------------------------------------------------------ several worker processes

    def take_pending(self) -> list[tuple[str, str, str, int]]:
        """The minutes counted here since the last call, (day, who, limit, minute); a
        worker process sends them to the supervisor instead of writing usage.db itself."""
        with self._lock:
            pending, self._pending = self._pending, []
        return pending

    def merge(self, rows: list[tuple[str, str, str, int]], *, keep: bool = False) -> None:
        """Minutes another process counted: every worker then judges a limit on the
        household's whole use. `keep` (the supervisor) also queues them for the next
        flush to usage.db; a minute counted twice is one minute."""
        with self._lock:
            for day, who, limit, minute in rows:
                minutes = self._counted.setdefault((day, who, limit), set())
                if minute not in minutes:
                    minutes.add(minute)
                    if keep:
                        self._pending.append((day, who, limit, minute))

    def snapshot(self) -> tuple[dict[Key, set[int]], dict[Key, int]]:
        """Counted and bonus minutes held now (a worker started later begins with them)."""
        with self._lock:
            return {key: set(minutes) for key, minutes in self._counted.items()}, dict(self._bonus)

    def set_bonus(self, day: str, who: str, limit: str, total: int) -> None:
        """A bonus the supervisor granted (its total for the day); wakes the listeners."""
        with self._lock:
            self._bonus[(day, who, limit)] = total
        self.changed()

    # ------------------------------------------------------------ the flush job

    def flush(self) -> int:
        """Write the minutes counted since the last flush; drop days older than yesterday
        from memory. Returns how many minutes were written."""
        with self._lock:
            pending, self._pending = self._pending, []
        if self.store is not None and pending:
            try:
                self.store.write_minutes(pending)
            except Exception:
                log.exception("usage could not be written; keeping it for the next flush")
                with self._lock:
                    self._pending[:0] = pending
                return 0
        today, _ = self.day_of(self.clock())
        yesterday = (datetime.fromisoformat(today) - timedelta(days=1)).date().isoformat()
        with self._lock:
            for key in [k for k in self._counted if k[0] < yesterday]:
                del self._counted[key]
            for key in [k for k in self._bonus if k[0] < yesterday]:
                del self._bonus[key]
        if self.store is not None:
            self.store.prune(today)
        return len(pending)
