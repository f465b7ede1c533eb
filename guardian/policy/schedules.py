"""When a schedule is active, in the configured IANA time zone.

Strategy: a schedule is wall-clock time ("21:00 to 07:00 on Sundays"), so it is compiled
once into intervals of *local minute of the week* (Monday 00:00 is 0, the week has
10080 minutes). A window starts on the day it names and, when `to` is not later than
`from`, ends on the next day; a window running past Sunday midnight is split in two at
the week's wrap. Overlapping and touching intervals are merged, so "until when" is simply
the end of the interval that contains the moment.

Asking at an instant converts it to local wall-clock time with `zoneinfo`; that is where
daylight saving is handled: on the night the clocks go forward a 21:00-07:00 window lasts
an hour less, on the night they go back an hour more, and the repeated hour is inside
the window both times. `ZoneClock` caches that conversion per UTC minute (every zone in
use today is offset by whole minutes), so requests in the same minute convert once.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime
from typing import NamedTuple

from guardian.config import DAYS, ScheduleConfig

WEEK = 7 * 1440
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def clock_minutes(text: str) -> int:
    """'HH:MM' (00:00 to 24:00) as minutes since midnight."""
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def week_intervals(schedule: ScheduleConfig) -> tuple[tuple[int, int], ...]:
    """The schedule's windows as sorted, merged [start, end) minute-of-week intervals."""
    start, end = clock_minutes(schedule.start), clock_minutes(schedule.end)
    if end <= start:
        end += 1440  # overnight: ends on the next day
    raw: list[tuple[int, int]] = []
    for day in schedule.days:
        base = DAYS.index(day) * 1440
        lo, hi = base + start, base + end
        if hi > WEEK:
            raw += [(lo, WEEK), (0, hi - WEEK)]
        else:
            raw.append((lo, hi))
    raw.sort()
    merged: list[tuple[int, int]] = []
    for lo, hi in raw:
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return tuple(merged)


def local_minute_of_week(local: datetime) -> int:
    return local.weekday() * 1440 + local.hour * 60 + local.minute


class Window(NamedTuple):
    """A compiled schedule: the intervals plus the answers the block page needs."""

    name: str
    intervals: tuple[tuple[int, int], ...]

    def active(self, minute: int) -> bool:
        # A plain loop: any() with a generator costs more, and this runs per request.
        for lo, hi in self.intervals:  # noqa: SIM110
            if lo <= minute < hi:
                return True
        return False

    def ends_at(self, minute: int) -> int | None:
        """Minutes from `minute` until the active period containing it ends; None when
        the schedule covers the whole week (or is not active)."""
        intervals = self.intervals
        for lo, hi in intervals:
            if lo <= minute < hi:
                if intervals[0] == (0, WEEK):
                    return None
                end = hi
                # The period may carry on past Sunday midnight into the first interval.
                if hi == WEEK and intervals[0][0] == 0:
                    end = WEEK + intervals[0][1]
                return end - minute
        return None


def compile_window(schedule: ScheduleConfig) -> Window:
    return Window(schedule.name, week_intervals(schedule))


class ZoneClock:
    """Local minute of the week for a Unix time, cached per UTC minute."""

    def __init__(self, zone: zoneinfo.ZoneInfo) -> None:
        self.zone = zone
        self._cached: tuple[int, int] = (-1, 0)  # (UTC minute, local minute of week), swapped whole

    def minute_of_week(self, timestamp: float) -> int:
        key = int(timestamp // 60)
        cached = self._cached
        if cached[0] == key:
            return cached[1]
        minute = local_minute_of_week(datetime.fromtimestamp(key * 60, self.zone))
        self._cached = (key, minute)
        return minute


def until_text(minute: int, minutes_left: int | None) -> str:
    """'until 07:00', 'until midnight', or 'until Monday 07:00' when more than a day away."""
    if minutes_left is None:
        return "all week"
    end = (minute + minutes_left) % WEEK
    clock = end % 1440
    when = "midnight" if clock == 0 else f"{clock // 60:02d}:{clock % 60:02d}"
    if minutes_left > 1440:
        # Midnight belongs to the day it ends, as people say it ("until Monday midnight").
        day = DAY_NAMES[(end // 1440 - (1 if clock == 0 else 0)) % 7]
        return f"until {day} {when}"
    return f"until {when}"
