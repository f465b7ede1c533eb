"""Scheduled upkeep of the log store for `guardian serve` (APScheduler 3.x).

Roll-ups run often so the unrolled raw tail that dashboard queries scan stays small;
retention runs hourly because keep_days and max_mb need no finer grain.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the scheduler is the service's; a proxy worker imports the log store without it
    from apscheduler.schedulers.base import BaseScheduler

    from guardian.logstore.store import LogStore

ROLLUP_JOB_ID = "logstore-rollup"
RETENTION_JOB_ID = "logstore-retention"


def register_jobs(
    scheduler: BaseScheduler, store: LogStore, rollup_minutes: float = 5, retention_minutes: float = 60
) -> None:
    # coalesce + max_instances=1: after a suspend or a slow run, do one catch-up run
    # rather than a pile of overlapping ones.
    common = {"trigger": "interval", "coalesce": True, "max_instances": 1, "replace_existing": True}
    scheduler.add_job(store.rollup, id=ROLLUP_JOB_ID, minutes=rollup_minutes, **common)
    scheduler.add_job(store.apply_retention, id=RETENTION_JOB_ID, minutes=retention_minutes, **common)
