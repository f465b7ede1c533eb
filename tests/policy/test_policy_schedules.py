"""Schedules on the wall clock of the configured zone: overnight, week wrap, DST, several windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from guardian.config import ScheduleConfig
from guardian.policy.schedules import ZoneClock, compile_window, local_minute_of_week, until_text, week_intervals

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")


def schedule(days: tuple[str, ...], start: str, end: str, name: str = "bedtime") -> ScheduleConfig:
    return ScheduleConfig(name=name, days=days, start=start, end=end, block_all=True)


def local(zone: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=zone)


def is_active(schedule: ScheduleConfig, at: datetime, zone: ZoneInfo) -> bool:
    """Whether `schedule` is active at the aware datetime `at`, as the policy asks it."""
    return compile_window(schedule).active(local_minute_of_week(at.astimezone(zone)))


def active_until(schedule: ScheduleConfig, at: datetime, zone: ZoneInfo) -> datetime | None:
    """When the active period containing `at` ends on the wall clock; None if not active."""
    here = at.astimezone(zone)
    minutes = compile_window(schedule).ends_at(local_minute_of_week(here))
    if minutes is None:
        return None
    wall = here.replace(second=0, microsecond=0, tzinfo=None) + timedelta(minutes=minutes)
    return wall.replace(tzinfo=zone)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


SUNDAY_NIGHT = schedule(("sun",), "21:00", "07:00")


@pytest.mark.parametrize(("at", "active"), [
    (local(LONDON, 2026, 11, 29, 20, 59), False),  # Sunday, before
    (local(LONDON, 2026, 11, 29, 21, 0), True),  # Sunday, the start
    (local(LONDON, 2026, 11, 29, 23, 59), True),
    (local(LONDON, 2026, 11, 30, 0, 0), True),  # Monday morning belongs to Sunday's window
    (local(LONDON, 2026, 11, 30, 6, 59), True),
    (local(LONDON, 2026, 11, 30, 7, 0), False),  # the end is exclusive
    (local(LONDON, 2026, 11, 30, 21, 30), False),  # Monday night: not a named day
    (local(LONDON, 2026, 11, 29, 6, 0), False),  # Sunday morning: Saturday is not named
])
def test_overnight_window_belongs_to_the_day_it_starts(at: datetime, active: bool) -> None:
    assert is_active(SUNDAY_NIGHT, at, LONDON) is active


def test_the_week_wraps_from_sunday_night_into_monday() -> None:
    assert week_intervals(SUNDAY_NIGHT) == ((0, 7 * 60), (6 * 1440 + 21 * 60, 7 * 1440))
    window = compile_window(SUNDAY_NIGHT)
    sunday_2200 = 6 * 1440 + 22 * 60
    assert window.ends_at(sunday_2200) == 9 * 60  # continues past the wrap to Monday 07:00
    assert until_text(sunday_2200, window.ends_at(sunday_2200)) == "until 07:00"


def test_an_instant_is_judged_in_the_configured_zone_not_utc() -> None:
    # 16:30 on a Sunday in New York is 21:30 in London.
    at = local(NEW_YORK, 2026, 12, 6, 16, 30)
    assert is_active(SUNDAY_NIGHT, at, LONDON)
    assert not is_active(SUNDAY_NIGHT, at, NEW_YORK)


def test_several_windows_and_days() -> None:
    school = schedule(("mon", "tue", "wed", "thu", "fri"), "16:00", "18:00", "homework")
    morning = schedule(("sat", "sun"), "06:00", "09:00", "lie-in")
    monday = local(LONDON, 2026, 11, 30, 17, 0)
    saturday = local(LONDON, 2026, 12, 5, 17, 0)
    assert is_active(school, monday, LONDON) and not is_active(school, saturday, LONDON)
    assert is_active(morning, local(LONDON, 2026, 12, 5, 8, 59), LONDON)
    assert not is_active(morning, local(LONDON, 2026, 12, 5, 9, 0), LONDON)
    assert len(week_intervals(school)) == 5


def test_to_24_00_means_until_midnight() -> None:
    evening = schedule(("fri",), "20:00", "24:00")
    assert is_active(evening, local(LONDON, 2026, 12, 4, 23, 59), LONDON)
    assert not is_active(evening, local(LONDON, 2026, 12, 5, 0, 0), LONDON)
    minute = 4 * 1440 + 22 * 60
    assert until_text(minute, compile_window(evening).ends_at(minute)) == "until midnight"


def test_touching_windows_merge_and_until_spans_them() -> None:
    weekend = schedule(("sat", "sun"), "00:00", "24:00", "weekend")
    assert week_intervals(weekend) == ((5 * 1440, 7 * 1440),)
    saturday_noon = 5 * 1440 + 12 * 60
    assert until_text(saturday_noon, compile_window(weekend).ends_at(saturday_noon)) == "until Sunday midnight"
    always = schedule(("mon", "tue", "wed", "thu", "fri", "sat", "sun"), "00:00", "24:00")
    assert compile_window(always).ends_at(100) is None
    assert until_text(100, None) == "all week"


# Europe/London 2026: clocks go forward on 29 March at 01:00 GMT, back on 25 October at 02:00 BST.
SATURDAY_NIGHT = schedule(("sat",), "21:00", "07:00")


@pytest.mark.parametrize(("at", "active"), [
    (utc(2026, 3, 28, 21, 0), True),  # 21:00 GMT Saturday
    (utc(2026, 3, 29, 0, 59), True),  # 00:59 GMT
    (utc(2026, 3, 29, 1, 0), True),  # 02:00 BST: the hour 01:00-02:00 never happens
    (utc(2026, 3, 29, 5, 59), True),  # 06:59 BST
    (utc(2026, 3, 29, 6, 0), False),  # 07:00 BST: ends at 07:00 local, an hour shorter night
    (utc(2026, 3, 29, 6, 30), False),  # 06:30 UTC would still be "night" if UTC were used
])
def test_london_spring_forward(at: datetime, active: bool) -> None:
    assert is_active(SATURDAY_NIGHT, at, LONDON) is active


@pytest.mark.parametrize(("at", "active"), [
    (utc(2026, 10, 24, 20, 0), True),  # 21:00 BST Saturday
    (utc(2026, 10, 25, 0, 30), True),  # 01:30 BST, the first time
    (utc(2026, 10, 25, 1, 30), True),  # 01:30 GMT, the second time
    (utc(2026, 10, 25, 6, 59), True),  # 06:59 GMT
    (utc(2026, 10, 25, 7, 0), False),  # 07:00 GMT: an hour longer night
])
def test_london_fall_back(at: datetime, active: bool) -> None:
    assert is_active(SATURDAY_NIGHT, at, LONDON) is active


# America/New_York 2026: forward on 8 March at 02:00 EST, back on 1 November at 02:00 EDT.
EARLY_SUNDAY = schedule(("sun",), "01:00", "04:00", "early")


@pytest.mark.parametrize(("at", "active"), [
    (utc(2026, 3, 8, 5, 59), False),  # 00:59 EST
    (utc(2026, 3, 8, 6, 30), True),  # 01:30 EST
    (utc(2026, 3, 8, 7, 0), True),  # 03:00 EDT (02:00 EST never shows on the clock)
    (utc(2026, 3, 8, 7, 59), True),  # 03:59 EDT
    (utc(2026, 3, 8, 8, 0), False),  # 04:00 EDT: two real hours after 01:00
])
def test_new_york_spring_forward(at: datetime, active: bool) -> None:
    assert is_active(EARLY_SUNDAY, at, NEW_YORK) is active


@pytest.mark.parametrize(("at", "active"), [
    (utc(2026, 11, 1, 5, 0), True),  # 01:00 EDT
    (utc(2026, 11, 1, 6, 30), True),  # 01:30 EST, the repeated hour
    (utc(2026, 11, 1, 8, 59), True),  # 03:59 EST
    (utc(2026, 11, 1, 9, 0), False),  # 04:00 EST: four real hours after 01:00 EDT
])
def test_new_york_fall_back(at: datetime, active: bool) -> None:
    assert is_active(EARLY_SUNDAY, at, NEW_YORK) is active


def test_active_until_is_the_local_end_of_the_window() -> None:
    until = active_until(SATURDAY_NIGHT, utc(2026, 3, 28, 23, 0), LONDON)
    assert until is not None
    assert (until.month, until.day, until.hour, until.minute) == (3, 29, 7, 0)
    assert until.utcoffset().total_seconds() == 3600  # BST by then
    assert active_until(SATURDAY_NIGHT, utc(2026, 3, 28, 12, 0), LONDON) is None


def test_until_text_names_the_day_when_more_than_a_day_away() -> None:
    long = schedule(("fri",), "18:00", "07:00")
    monday_morning = schedule(("fri", "sat", "sun"), "00:00", "24:00")
    friday_1900 = 4 * 1440 + 19 * 60
    assert until_text(friday_1900, compile_window(long).ends_at(friday_1900)) == "until 07:00"
    assert until_text(friday_1900, compile_window(monday_morning).ends_at(friday_1900)) == "until Sunday midnight"


def test_zone_clock_caches_per_minute_and_follows_dst() -> None:
    clock = ZoneClock(LONDON)
    before = utc(2026, 3, 29, 0, 59, 30).timestamp()
    after = utc(2026, 3, 29, 1, 0, 30).timestamp()
    sunday = 6 * 1440
    assert clock.minute_of_week(before) == sunday + 59
    assert clock.minute_of_week(before + 10) == sunday + 59
    assert clock.minute_of_week(after) == sunday + 2 * 60
