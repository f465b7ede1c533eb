"""Request log and household statistics, stored in SQLite (`<data_dir>/guardian.db`).

Strategy:
- The proxy calls `LogStore.record(rec)`, which only queues the record (bounded queue,
  put_nowait; full means dropped and counted). One writer thread writes batches of up
  to 500 records or 1 s, one transaction each, in WAL mode with synchronous=FULL: a crash
  or power cut loses at most the batch being collected. (writer.py, store.py)
- Privacy level "full" / "host" / "none" is applied per record when queued. (privacy.py)
- Raw rows are rolled up by id into hourly per-device and per-host counts, kept a year;
  raw rows go after keep_days or when the database passes max_mb, never before they
  are rolled up. (rollup.py, retention.py, jobs.py)
- Queries add roll-ups for whole hours to the raw rows not yet rolled up, so long
  periods stay fast and exact after raw rows expire. (queries.py, timebuckets.py)
- A damaged database, or one from a newer schema, is moved aside with the date in its
  name and a new one created; older schemas migrate forward. (database.py, schema.py)
- `guardian stats` / `guardian log` output. (commands.py)
"""

from guardian.logstore.jobs import register_jobs
from guardian.logstore.queries import LogQueries, LogUnavailableError
from guardian.logstore.retention import RetentionResult
from guardian.logstore.store import LogStore

__all__ = ["LogQueries", "LogStore", "LogUnavailableError", "RetentionResult", "register_jobs"]
