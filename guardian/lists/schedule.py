"""When lists are refreshed: APScheduler jobs for `[refresh]` and per-list `refresh` keys.

Strategy:
- Every installation picks one random point of the refresh window once and remembers it
  (`<data_dir>/lists/_refresh-slot.json`, a fraction of the window), so households do
  not all hit the list servers in the same second, and the time does not move at every
  restart. The fraction survives a change of window: the slot moves proportionally.
- `daily` is a cron trigger at that slot in the configured time zone; so is `every Nh`
  when N divides 24 (the slot and every N hours from it, the same wall-clock times every
  day, DST or not). Other intervals (`every 5h`, `every 48h`) are interval triggers
  anchored at the slot, counting real hours. `off` schedules nothing; `guardian lists
  update` still works.
- Lists with the same effective schedule share one job; which lists belong to it is
  read from `get_config()` when the job runs, so a reload that only edits lists needs no
  re-registration. A reload that changes a schedule or the window calls
  `register_refresh_job` again; it replaces the jobs it made before.
- An in-memory job store forgets runs missed while the Pi was off, so on registration
  each list's last attempt (`checked_at`) is compared with the schedule's most recent
  slot; lists that missed it (or were never fetched) get a one-off catch-up run shortly
  after start rather than at the next night. A reload keeps a pending catch-up's time and
  does not announce it again; a list never fetched is new, not late, so it is not logged as
  missed; and when the catch-up runs, a list fetched meanwhile (an "update now") is skipped.
"""

from __future__ import annotations

import json
import logging
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from apscheduler.job import Job
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from guardian.config import Config, ListConfig
from guardian.fsutil import atomic_write_text

from .catalog import is_builtin
from .refresh import RefreshSummary, refresh_lists
from .store import ListStore, utcnow

log = logging.getLogger(__name__)

JOB_PREFIX = "guardian-lists:"
SLOT_FILE = "_refresh-slot.json"
CATCH_UP_DELAY = 120.0  # seconds after start: let the network and the proxy settle first
# An anchor for `every Nh` in the past, so the phase of the interval never changes.
_INTERVAL_ANCHOR = date(2024, 1, 1)

Refresh = Callable[..., RefreshSummary]


def slot_fraction(store: ListStore) -> float:
    """This installation's place in the refresh window, in [0, 1); chosen on first use."""
    path = store.root / SLOT_FILE
    try:
        value = float(json.loads(path.read_text(encoding="utf-8"))["fraction"])
        if 0.0 <= value < 1.0:
            return value
    except (OSError, ValueError, KeyError, TypeError):
        pass  # missing or damaged: choose again, once
    value = random.random()
    try:
        atomic_write_text(path, json.dumps({"fraction": value}) + "\n")
    except OSError as exc:
        log.warning("cannot remember the refresh slot in %s: %s", path, exc)
    return value


def slot_time(window: tuple[str, str], fraction: float) -> time:
    """The time of day `fraction` of the way through `window` ("HH:MM", may cross midnight)."""
    start = _minutes(window[0])
    length = (_minutes(window[1]) - start) % 1440 or 1440
    seconds = (start * 60 + int(fraction * length * 60)) % 86400
    return time(seconds // 3600, seconds // 60 % 60, seconds % 60)


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def interval_hours(schedule: str) -> int | None:
    """N of `every Nh`; None for `daily` and `off`."""
    return int(schedule.split()[1][:-1]) if schedule.startswith("every ") else None


def _times_of_day(schedule: str, at: time) -> list[time] | None:
    """The wall-clock times of a `daily` or `every Nh` schedule with N dividing 24; None for
    other intervals, which cannot keep the same times every day."""
    hours = interval_hours(schedule)
    if hours is None:
        return [at]
    if 24 % hours:
        return None
    return sorted(time((at.hour + k * hours) % 24, at.minute, at.second) for k in range(24 // hours))


def make_trigger(schedule: str, window: tuple[str, str], zone: ZoneInfo, fraction: float) -> BaseTrigger | None:
    if schedule == "off":
        return None
    at = slot_time(window, fraction)
    times = _times_of_day(schedule, at)
    if times is not None:
        return CronTrigger(hour=",".join(str(t.hour) for t in times), minute=at.minute, second=at.second, timezone=zone)
    hours = interval_hours(schedule)
    return IntervalTrigger(hours=hours, start_date=datetime.combine(_INTERVAL_ANCHOR, at, tzinfo=zone),
                           timezone=zone)


def previous_slot(
    schedule: str, window: tuple[str, str], zone: ZoneInfo, fraction: float, now: datetime
) -> datetime | None:
    """The most recent time at or before `now` when `schedule` should have run."""
    if schedule == "off":
        return None
    at = slot_time(window, fraction)
    times = _times_of_day(schedule, at)
    if times is not None:
        today = now.astimezone(zone).date()
        return max(slot for day in (today - timedelta(days=1), today) for t in times
                   if (slot := datetime.combine(day, t, tzinfo=zone)) <= now)
    # Real seconds, exactly as IntervalTrigger counts them.
    anchor = datetime.combine(_INTERVAL_ANCHOR, at, tzinfo=zone).timestamp()
    length = (interval_hours(schedule) or 24) * 3600
    return datetime.fromtimestamp(anchor + math.floor((now.timestamp() - anchor) / length) * length, tz=zone)


def effective_schedule(entry: ListConfig, config: Config) -> str:
    return entry.refresh or config.refresh.schedule


def scheduled_lists(config: Config, schedule: str) -> list[str]:
    """Ids of the enabled, downloadable lists that follow `schedule`."""
    return [e.id for e in config.lists
            if e.enabled and not is_builtin(e.url) and effective_schedule(e, config) == schedule]


@dataclass
class _RefreshJob:
    """One scheduled (or catch-up) run; reads the configuration in force when it fires."""

    get_config: Callable[[], Config]
    store: ListStore
    on_updated: Callable[[], None]
    refresh: Refresh
    schedule: str
    only: tuple[str, ...] | None = None  # a catch-up run refreshes just the lists that missed a slot
    slot: datetime | None = None  # the slot they missed: one fetched since (an update now) is left alone

    def __call__(self) -> None:
        config = self.get_config()
        ids = scheduled_lists(config, self.schedule)
        if self.only is not None:
            ids = [i for i in ids if i in self.only and _missed(self.store, i, self.slot)]
        if not ids:
            return
        summary = self.refresh(config, self.store, ids)
        if summary.changed:
            self.on_updated()


def register_refresh_job(
    scheduler: BaseScheduler,
    get_config: Callable[[], Config],
    store: ListStore,
    on_updated: Callable[[], None],
    *,
    now: Callable[[], datetime] = utcnow,
    catch_up_delay: float = CATCH_UP_DELAY,
    refresh: Refresh = refresh_lists,
) -> list[Job]:
    """(Re)place the refresh jobs on `scheduler`; returns the jobs added.

    `on_updated()` is called from the scheduler's thread after a run that changed a stored
    list; it should rebuild the engine from `texts_for` and swap it in.
    """
    # A reload re-registers: catch-ups already due keep their time and are not announced again.
    pending: dict[str, tuple[set[str], datetime]] = {}
    for job in scheduler.get_jobs():
        if job.id.startswith(JOB_PREFIX):
            if isinstance(job.func, _RefreshJob) and job.func.only is not None and job.next_run_time is not None:
                pending[job.func.schedule] = (set(job.func.only), job.next_run_time)
            scheduler.remove_job(job.id)
    config = get_config()
    zone = config.zone()
    fraction = slot_fraction(store)
    started = now()
    jobs: list[Job] = []
    schedules = dict.fromkeys(effective_schedule(e, config) for e in config.lists
                              if e.enabled and not is_builtin(e.url))
    for schedule in schedules:
        trigger = make_trigger(schedule, config.refresh.window, zone, fraction)
        if trigger is None:
            continue
        job = _RefreshJob(get_config, store, on_updated, refresh, schedule)
        jobs.append(scheduler.add_job(
            job, trigger, id=f"{JOB_PREFIX}{schedule}", name=f"refresh lists ({schedule})",
            coalesce=True, max_instances=1, misfire_grace_time=None, replace_existing=True,
        ))
        slot = previous_slot(schedule, config.refresh.window, zone, fraction, started)
        missed = tuple(i for i in scheduled_lists(config, schedule) if _missed(store, i, slot))
        if missed:
            already, run_at = pending.get(schedule, (set(), started + timedelta(seconds=catch_up_delay)))
            # Said once, and only of lists that were fetched before: one never fetched is new, not late.
            late = [i for i in missed if i not in already and _fetched_before(store, i)]
            if late:
                wait = max(0.0, (run_at - started).total_seconds())
                log.info("lists %s missed the %s refresh; catching up in %.0f s", ", ".join(late), schedule, wait)
            jobs.append(scheduler.add_job(
                _RefreshJob(get_config, store, on_updated, refresh, schedule, missed, slot),
                DateTrigger(run_date=run_at.astimezone(zone), timezone=zone),
                id=f"{JOB_PREFIX}catch-up:{schedule}", name=f"catch up on missed list refresh ({schedule})",
                misfire_grace_time=None, replace_existing=True,
            ))
    return jobs


def _fetched_before(store: ListStore, list_id: str) -> bool:
    meta = store.load_meta(list_id)
    return meta is not None and meta.checked_at is not None


def _missed(store: ListStore, list_id: str, slot: datetime | None) -> bool:
    meta = store.load_meta(list_id)
    if meta is None or meta.checked_at is None:
        return True  # never tried: the first start fetches the lists it subscribes to
    return slot is not None and meta.checked_at < slot.astimezone(UTC)
