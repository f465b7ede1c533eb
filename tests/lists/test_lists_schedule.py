"""The refresh schedule: the per-installation slot, triggers in the configured zone, catch-up."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from guardian.lists import ListStore, RefreshSummary
from guardian.lists.refresh import UPDATED, ListResult
from guardian.lists.schedule import (
    SLOT_FILE,
    make_trigger,
    previous_slot,
    register_refresh_job,
    slot_fraction,
    slot_time,
)
from guardian.lists.store import ListMeta

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


@pytest.mark.parametrize(("window", "fraction", "expected"), [
    (("03:00", "05:00"), 0.0, time(3, 0)),
    (("03:00", "05:00"), 0.5, time(4, 0)),
    (("03:00", "05:00"), 0.9999, time(4, 59, 59)),
    (("23:00", "01:00"), 0.75, time(0, 30)),  # a window across midnight
    (("22:00", "24:00"), 0.5, time(23, 0)),
])
def test_slot_time_lies_inside_the_window(window, fraction, expected):
    assert slot_time(window, fraction) == expected


def test_the_slot_is_chosen_once_per_installation(tmp_path):
    store = ListStore(tmp_path / "lists")
    first = slot_fraction(store)
    assert 0.0 <= first < 1.0 and (store.root / SLOT_FILE).is_file()
    assert slot_fraction(ListStore(tmp_path / "lists")) == first
    (store.root / SLOT_FILE).write_text("garbage")
    assert 0.0 <= slot_fraction(store) < 1.0  # a damaged file is replaced, not fatal


def test_daily_runs_at_the_slot_in_the_configured_zone():
    trigger = make_trigger("daily", ("03:00", "05:00"), NEW_YORK, 0.25)
    now = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)  # 08:00 in New York
    fire = trigger.get_next_fire_time(None, now)
    assert fire.astimezone(NEW_YORK).replace(tzinfo=None) == datetime(2024, 6, 2, 3, 30)
    assert fire.astimezone(UTC) == datetime(2024, 6, 2, 7, 30, tzinfo=UTC)
    # Across the autumn DST change the wall-clock time stays inside the window.
    after = trigger.get_next_fire_time(None, datetime(2024, 11, 3, 12, 0, tzinfo=UTC))
    assert after.astimezone(NEW_YORK).replace(tzinfo=None) == datetime(2024, 11, 4, 3, 30)
    assert previous_slot("daily", ("03:00", "05:00"), NEW_YORK, 0.25, now) == fire - timedelta(days=1)


def test_every_n_hours_is_anchored_at_the_slot():
    trigger = make_trigger("every 6h", ("03:00", "05:00"), BERLIN, 0.5)
    now = datetime(2024, 1, 10, 12, 0, tzinfo=BERLIN)
    fire = trigger.get_next_fire_time(None, now)
    assert fire.astimezone(BERLIN).time() == time(16, 0)  # 04:00, 10:00, 16:00, 22:00
    assert trigger.get_next_fire_time(fire, fire) - fire == timedelta(hours=6)
    assert previous_slot("every 6h", ("03:00", "05:00"), BERLIN, 0.5, now) == fire - timedelta(hours=6)


def test_off_has_no_trigger():
    assert make_trigger("off", ("03:00", "05:00"), BERLIN, 0.5) is None


class FakeRefresh:
    """Records what the jobs ask to refresh; says every list changed."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, config, store, ids) -> RefreshSummary:
        self.calls.append(list(ids))
        return RefreshSummary(tuple(ListResult(i, UPDATED, "updated") for i in ids))


@pytest.fixture
def scheduler():
    sched = BackgroundScheduler(timezone=UTC)
    sched.start(paused=True)  # next run times are computed, nothing fires
    yield sched
    sched.shutdown(wait=False)


def _checked(store: ListStore, list_id: str, when: datetime) -> None:
    store.save_meta(ListMeta(list_id, "http://x.example/", status="ok", checked_at=when))


def _setup(tmp_path, kit, extra: str = "", lists=None):
    lists = lists or [("starter", "builtin:starter", "domains"), ("a", "http://a.example/a.txt", "abp"),
                      ("b", "http://b.example/b.txt", "hosts")]
    config = kit.make_config(tmp_path, lists, extra)
    store = ListStore.for_data_dir(tmp_path)
    store.root.mkdir(parents=True, exist_ok=True)
    (store.root / SLOT_FILE).write_text('{"fraction": 0.5}')  # 04:00
    return config, store


def test_nightly_job_in_the_window_and_no_catch_up_when_current(tmp_path, kit, scheduler):
    config, store = _setup(tmp_path, kit)
    now = datetime(2024, 6, 1, 10, 0, tzinfo=BERLIN)
    for list_id in ("a", "b"):
        _checked(store, list_id, datetime(2024, 6, 1, 4, 0, 5, tzinfo=BERLIN))  # this night's run happened
    jobs = register_refresh_job(scheduler, lambda: config, store, lambda: None, now=lambda: now)
    assert [job.id for job in jobs] == ["guardian-lists:daily"]
    assert jobs[0].trigger.get_next_fire_time(None, now) == datetime(2024, 6, 2, 4, 0, tzinfo=BERLIN)
    assert jobs[0].next_run_time.astimezone(BERLIN).time() == time(4, 0)  # as the scheduler's own clock sees it


def test_a_missed_run_is_caught_up_soon_after_start(tmp_path, kit, scheduler):
    config, store = _setup(tmp_path, kit)
    now = datetime(2024, 6, 1, 10, 0, tzinfo=BERLIN)  # the Pi was off at 04:00 today
    _checked(store, "a", datetime(2024, 5, 31, 4, 0, 5, tzinfo=BERLIN))
    _checked(store, "b", datetime(2024, 6, 1, 4, 0, 5, tzinfo=BERLIN))
    updates: list[str] = []
    fake = FakeRefresh()
    jobs = register_refresh_job(scheduler, lambda: config, store, lambda: updates.append("rebuilt"),
                                now=lambda: now, catch_up_delay=60, refresh=fake)
    catch_up = scheduler.get_job("guardian-lists:catch-up:daily")
    assert catch_up in jobs
    assert catch_up.next_run_time == now + timedelta(seconds=60)  # today, not at the next night
    catch_up.func()
    assert fake.calls == [["a"]] and updates == ["rebuilt"]  # only the list that missed, then a rebuild
    scheduler.get_job("guardian-lists:daily").func()
    assert fake.calls[-1] == ["a", "b"]  # built-in lists are never fetched


def test_first_start_fetches_every_subscribed_list(tmp_path, kit, scheduler):
    config, store = _setup(tmp_path, kit)
    fake = FakeRefresh()
    register_refresh_job(scheduler, lambda: config, store, lambda: None, refresh=fake)
    scheduler.get_job("guardian-lists:catch-up:daily").func()
    assert fake.calls == [["a", "b"]]


def test_per_list_schedules_and_off(tmp_path, kit, scheduler):
    config, store = _setup(tmp_path, kit, extra='[refresh]\nschedule = "off"\nwindow = "01:00-02:00"\n')
    config = replace(config, lists=(*config.lists[:2], replace(config.lists[2], refresh="every 6h")))
    now = datetime(2024, 6, 1, 10, 0, tzinfo=BERLIN)
    _checked(store, "b", datetime(2024, 6, 1, 7, 31, tzinfo=BERLIN))  # the 07:30 run happened
    jobs = register_refresh_job(scheduler, lambda: config, store, lambda: None, now=lambda: now)
    assert [job.id for job in jobs] == ["guardian-lists:every 6h"]  # "a" is off: only a manual update
    # 01:30 and every 6 hours from it, in summer time as in winter time
    assert jobs[0].trigger.get_next_fire_time(None, now) == datetime(2024, 6, 1, 13, 30, tzinfo=BERLIN)
    winter = datetime(2024, 1, 10, 10, 0, tzinfo=BERLIN)
    assert jobs[0].trigger.get_next_fire_time(None, winter) == datetime(2024, 1, 10, 13, 30, tzinfo=BERLIN)


def test_intervals_that_do_not_divide_a_day_count_real_hours():
    trigger = make_trigger("every 5h", ("03:00", "05:00"), BERLIN, 0.0)
    now = datetime(2024, 6, 1, 10, 0, tzinfo=BERLIN)
    fire = trigger.get_next_fire_time(None, now)
    assert trigger.get_next_fire_time(fire, fire) - fire == timedelta(hours=5)
    assert previous_slot("every 5h", ("03:00", "05:00"), BERLIN, 0.0, now) == fire - timedelta(hours=5)


def test_registering_again_replaces_the_jobs(tmp_path, kit, scheduler):
    config, store = _setup(tmp_path, kit)
    now = datetime(2024, 6, 1, 10, 0, tzinfo=BERLIN)
    register_refresh_job(scheduler, lambda: config, store, lambda: None, now=lambda: now)
    for list_id in ("a", "b"):
        _checked(store, list_id, now)
    register_refresh_job(scheduler, lambda: config, store, lambda: None, now=lambda: now)
    assert [job.id for job in scheduler.get_jobs()] == ["guardian-lists:daily"]


def test_a_job_reads_the_configuration_in_force_when_it_fires(tmp_path, kit, scheduler):
    config, store = _setup(tmp_path, kit)
    current = {"config": config}
    fake = FakeRefresh()
    register_refresh_job(scheduler, lambda: current["config"], store, lambda: None, refresh=fake)
    current["config"], _ = _setup(tmp_path, kit, lists=[("c", "http://c.example/c.txt", "abp")])
    scheduler.get_job("guardian-lists:daily").func()
    assert fake.calls == [["c"]]
