"""`LogStore`: the one object the rest of Guardian holds for the request log.

Hot path: `record()` puts the record and the current privacy level on a bounded queue
shared fairly by devices and returns; when the queue is full a record of the device
with the most queued is dropped and counted (fairqueue.py).
The proxy never waits on the disk. Everything else (writing, roll-ups, retention)
happens on other threads over the store's single write connection, which a lock
hands between the writer thread and whoever runs the scheduled jobs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from guardian.logstore.database import open_database
from guardian.logstore.fairqueue import FairQueue
from guardian.logstore.privacy import Detail, check_detail
from guardian.logstore.queries import LogQueries
from guardian.logstore.retention import RetentionResult, apply_retention
from guardian.logstore.rollup import roll_up
from guardian.logstore.writer import BatchWriter, DropCounter, Entry
from guardian.records import RequestRecord

MB = 1024 * 1024


class LogStore:
    def __init__(
        self,
        path: Path,
        detail: str = "full",
        keep_days: int = 30,
        max_mb: float = 200,
        queue_size: int = 10_000,
        clock: Callable[[], float] = time.time,
        *,
        batch_size: int = 500,
        flush_interval: float = 1.0,
        size_check_interval: float = 0.0,
    ) -> None:
        self.path = path
        self.keep_days = keep_days
        self.max_mb = max_mb
        self._detail: Detail = check_detail(detail)
        self._clock = clock
        self._queue: FairQueue[Entry] = FairQueue(queue_size)
        self._drops = DropCounter()
        self._write_lock = threading.Lock()
        self._closed = False
        self._conn = open_database(path, clock)
        # Catch up before serving: queries are only fast while the unrolled tail is small.
        roll_up(self._conn, self._write_lock)
        self._writer = BatchWriter(
            self._queue, self._conn, self._write_lock, self._drops, batch_size, flush_interval,
            lambda: int(self.max_mb * MB), size_check_interval,
        )
        self._writer.start()
        self.queries = LogQueries(path, clock)

    @property
    def detail(self) -> Detail:
        return self._detail

    @detail.setter
    def detail(self, value: str) -> None:
        self._detail = check_detail(value)

    @property
    def dropped(self) -> int:
        """Records lost since this store was opened (full queue, failed writes)."""
        return self._drops.count

    def count_dropped(self, n: int) -> None:
        """Records lost before they reached this store (a worker process's full queue or
        crash); counted with the store's own drops, saved in `meta.dropped_total`."""
        self._drops.add(n)

    def record(self, rec: RequestRecord) -> None:
        if self._closed:
            self._drops.add()
            return
        if self._queue.put(rec.client_addr or "", (rec, self._detail)):
            self._drops.add()

    def rollup(self) -> int:
        """Fold new raw rows into the hourly roll-ups; returns how many were folded.

        Takes no time argument: roll-ups go by record id (see rollup.py), so the clock
        does not matter to them.
        """
        return roll_up(self._conn, self._write_lock)

    def apply_retention(self, now: float | None = None) -> RetentionResult:
        return apply_retention(
            self._conn, self._write_lock, self._clock() if now is None else now,
            self.keep_days, int(self.max_mb * MB),
        )

    def close(self) -> None:
        """Write everything queued so far, then close the database. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._queue.stop()
        self._writer.join()
        with self._write_lock:
            self._conn.close()

    def __enter__(self) -> LogStore:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
