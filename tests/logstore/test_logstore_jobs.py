"""The APScheduler jobs `guardian serve` runs for the log store."""

from __future__ import annotations

import sqlite3

from apscheduler.schedulers.background import BackgroundScheduler

from guardian.logstore import register_jobs
from guardian.logstore.jobs import RETENTION_JOB_ID, ROLLUP_JOB_ID


def _rolled_id(path):
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT value FROM meta WHERE key = 'rolled_id'").fetchone()[0]
    finally:
        conn.close()


def test_jobs_are_registered_and_run(store, make_record, flushed, clock):
    scheduler = BackgroundScheduler(timezone="UTC")
    register_jobs(scheduler, store, rollup_minutes=5, retention_minutes=60)
    register_jobs(scheduler, store)  # registering again replaces, does not duplicate
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {ROLLUP_JOB_ID, RETENTION_JOB_ID}
    assert jobs[ROLLUP_JOB_ID].trigger.interval.total_seconds() == 300
    assert jobs[RETENTION_JOB_ID].trigger.interval.total_seconds() == 3600

    store.record(make_record(started=clock.now - 40 * 86_400))
    flushed(store, 1)
    assert jobs[ROLLUP_JOB_ID].func() == 1
    assert jobs[RETENTION_JOB_ID].func().expired == 1


def test_jobs_run_in_a_started_scheduler(store, make_record, flushed, wait):
    scheduler = BackgroundScheduler(timezone="UTC")
    register_jobs(scheduler, store, rollup_minutes=0.002)  # every 0.12 s
    store.record(make_record())
    flushed(store, 1)
    scheduler.start()
    try:
        wait(lambda: _rolled_id(store.path) == 1)
    finally:
        scheduler.shutdown(wait=True)
