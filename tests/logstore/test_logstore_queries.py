"""The settings page's queries: totals, series, tops, search, why blocked."""

from __future__ import annotations

import itertools

import pytest

from guardian.logstore import LogQueries, LogUnavailableError

HOUR = 3600
DAY = 86_400


@pytest.fixture
def filled(store, make_record, flushed, clock):
    now = clock.now  # 2026-11-25 12:00 UTC
    records = [
        make_record(started=now - 30 * 60, host="ads.example", action="blocked", status=403,
                    rule="||ads.example^", list_id="ads", device="kid-tablet", profile="child"),
        make_record(started=now - 20 * 60, host="ads.example", action="blocked", status=403, device="dad-laptop"),
        make_record(started=now - 2 * HOUR, host="games.example", action="blocked", schedule="bedtime",
                    status=403, device="kid-tablet"),
        make_record(started=now - 3 * HOUR, host="news.example", device="dad-laptop", bytes_to_client=700),
        make_record(started=now - 3 * HOUR + 1, host="news.example", action="cached", device="dad-laptop"),
        make_record(started=now - 26 * HOUR, host="wiki.example", device=None, action="error",
                    error_kind="dns", status=502),
    ]
    for rec in records:
        store.record(rec)
    flushed(store, len(records))
    return store.queries


def test_totals_and_share_blocked(filled, clock):
    day = filled.totals(clock.now - DAY, clock.now)
    assert (day.requests, day.blocked, day.allowed, day.cached, day.errors) == (5, 3, 1, 1, 0)
    assert day.share_blocked == pytest.approx(0.6)
    assert filled.totals(clock.now - 2 * DAY, clock.now).errors == 1
    assert filled.totals(clock.now - DAY, clock.now, device="kid-tablet").requests == 2
    assert filled.totals(clock.now + HOUR, clock.now + 2 * HOUR).share_blocked == 0.0


def test_hourly_series_is_zero_filled(filled, clock):
    points = filled.series(clock.now - 4 * HOUR, clock.now)
    assert [p.start for p in points] == [clock.now - h * HOUR for h in (4, 3, 2, 1)]
    assert [(p.requests, p.blocked) for p in points] == [(0, 0), (2, 0), (1, 1), (2, 2)]


def test_daily_series_follows_the_local_calendar(filled, clock):
    # Tokyo is UTC+9: 26 h ago (10:00 UTC the day before) is 19:00 on 24 November there,
    # everything else is on the 25th, and "now" is 21:00 on the 25th.
    points = filled.series(clock.now - 2 * DAY, clock.now, "day", "Asia/Tokyo")
    assert [p.start for p in points] == [clock.now - h * HOUR for h in (69, 45, 21)]
    assert [p.requests for p in points] == [0, 1, 5]


def test_day_buckets_across_a_daylight_saving_change(store):
    # Europe/London leaves summer time on 2026-10-25: that day has 25 hours.
    start = 1_792_796_400.0  # 2026-10-24 00:00 BST
    points = store.queries.series(start, start + 3 * DAY, "day", "Europe/London")
    lengths = [b.start - a.start for a, b in itertools.pairwise(points)]
    assert lengths == [DAY, DAY + HOUR]


def test_top_hosts_and_devices(filled, clock):
    since = clock.now - DAY
    assert [(h.host, h.requests) for h in filled.top_hosts(since, clock.now)] == [
        ("ads.example", 2), ("games.example", 1)]
    assert [(h.host, h.requests) for h in filled.top_hosts(since, clock.now, "allowed")] == [("news.example", 2)]
    assert [h.host for h in filled.top_hosts(since, clock.now, device="dad-laptop")] == ["ads.example"]
    assert filled.top_hosts(since, clock.now, limit=1)[0].host == "ads.example"
    devices = filled.top_devices(clock.now - 2 * DAY, clock.now)
    assert [(d.device, d.requests, d.blocked) for d in devices] == [
        ("dad-laptop", 3, 1), ("kid-tablet", 2, 2), (None, 1, 0)]
    assert devices[0].bytes_to_client == 700 + 5000 * 2


def test_search_filters_and_pages(filled, clock):
    # Newest logged first.
    assert [r.host for r in filled.search(host="EXAMPLE", action="blocked").records] == [
        "games.example", "ads.example", "ads.example"]
    assert [r.device for r in filled.search(device="kid-tablet").records] == ["kid-tablet"] * 2
    assert len(filled.search(since=clock.now - HOUR).records) == 2
    assert len(filled.search(until=clock.now - 25 * HOUR).records) == 1
    assert filled.search(host="%").records == []  # LIKE wildcards are literal text

    first = filled.search(limit=4)
    assert first.next_before_id is not None
    rest = filled.search(limit=4, before_id=first.next_before_id)
    assert rest.next_before_id is None
    ids = [r.id for r in first.records + rest.records]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 6


def test_why_blocked(filled):
    by_rule, _, by_schedule = filled.search(action="blocked").records[::-1]
    explanation = filled.why_blocked(by_rule.id)
    assert explanation.record.rule == "||ads.example^"
    assert explanation.summary == (
        "ads.example was blocked for kid-tablet (profile child): rule ||ads.example^ from list ads.")
    assert "schedule bedtime" in filled.why_blocked(by_schedule.id).summary
    allowed = filled.search(action="allowed").records[0]
    assert "was not blocked" in filled.why_blocked(allowed.id).summary
    assert filled.why_blocked(999_999) is None


def test_one_devices_week(filled, clock):
    since, until = clock.now - 7 * DAY, clock.now
    assert filled.totals(since, until, "kid-tablet").requests == 2
    series = filled.series(since, until, "day", "UTC", "kid-tablet")
    assert len(series) == 8 and series[-1].blocked == 2
    assert [h.host for h in filled.top_hosts(since, until, "blocked", "kid-tablet")] == ["ads.example", "games.example"]
    assert [r.device for r in filled.search(since, until, device="kid-tablet").records] == ["kid-tablet"] * 2


def test_missing_database_is_reported_not_created(tmp_path):
    path = tmp_path / "nothing-here.db"
    with pytest.raises(LogUnavailableError, match="no log database"):
        LogQueries(path).totals(0, 1)
    assert not path.exists()


def test_unnamed_devices_are_counted_by_address(store, make_record, flushed, clock):
    now = clock.now
    records = [make_record(started=now - 60, client_addr="192.168.1.50", device=None),
               make_record(started=now - 50, client_addr="192.168.1.50", device=None, action="blocked", status=403),
               make_record(started=now - 40, client_addr="192.168.1.51", device=None),
               make_record(started=now - 30, client_addr="192.168.1.52", device="kid-tablet"),
               make_record(started=now - 2 * DAY, client_addr="192.168.1.51", device=None)]
    for rec in records:
        store.record(rec)
    flushed(store, len(records))
    assert store.queries.unnamed_by_address(now - DAY, now) == {"192.168.1.50": 2, "192.168.1.51": 1}
