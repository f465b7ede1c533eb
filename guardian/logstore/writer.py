"""The one writer thread: drains the record queue into SQLite in batches.

A batch is closed when it holds `batch_size` records or `flush_interval` seconds after
its first record arrived, whichever comes first, and is written as one transaction
(one fsync). So a crash loses at most the batch being collected, and an idle proxy
causes no disk writes at all.

A batch that cannot be written (disk full, damaged file) is logged and counted as
dropped; the thread keeps going so that the proxy never notices.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time

from guardian.logstore.database import transaction
from guardian.logstore.privacy import ROW_COLUMNS, Detail, to_row
from guardian.records import RequestRecord

log = logging.getLogger(__name__)

STOP = object()  # queued by close(): write what is left, then end the thread

_INSERT = (
    f"INSERT INTO requests({', '.join(ROW_COLUMNS)}) VALUES ({', '.join('?' * len(ROW_COLUMNS))})"
)


class DropCounter:
    """Records that never reached the disk, and how many of those are already saved in
    `meta.dropped_total`. Incremented from proxy threads, so it takes a lock; that lock
    is only touched when something is dropped, never on the normal path."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0
        self._persisted = 0

    def add(self, n: int = 1) -> None:
        with self._lock:
            self.count += n

    def unpersisted(self) -> int:
        with self._lock:
            return self.count - self._persisted

    def mark_persisted(self, n: int) -> None:
        with self._lock:
            self._persisted += n


class BatchWriter(threading.Thread):
    def __init__(
        self,
        records: queue.Queue[object],
        conn: sqlite3.Connection,
        write_lock: threading.Lock,
        drops: DropCounter,
        batch_size: int,
        flush_interval: float,
    ) -> None:
        # Daemon so a forgotten close() cannot hang interpreter exit; close() is still
        # what guarantees the last batch is written.
        super().__init__(name="logstore-writer", daemon=True)
        self._records = records
        self._conn = conn
        self._write_lock = write_lock
        self._drops = drops
        self._batch_size = batch_size
        self._flush_interval = flush_interval

    def run(self) -> None:
        stopping = False
        while not stopping:
            batch, stopping = self._collect()
            self._write(batch)

    # While collecting, the writer naps and drains rather than waiting on the queue: a
    # waiting thread is woken by every put, and each wake-up costs a busy proxy a GIL
    # hand-off per request.
    NAP_SECONDS = 0.05

    def _collect(self) -> tuple[list[tuple[RequestRecord, Detail]], bool]:
        first = self._records.get()  # idle: sleep until there is something to do
        if first is STOP:
            return [], True
        batch = [first]
        deadline = time.monotonic() + self._flush_interval
        while True:
            try:
                while len(batch) < self._batch_size:
                    item = self._records.get_nowait()
                    if item is STOP:
                        return batch, True
                    batch.append(item)
            except queue.Empty:
                pass
            remaining = deadline - time.monotonic()
            if len(batch) >= self._batch_size or remaining <= 0:
                return batch, False  # type: ignore[return-value]
            time.sleep(min(self.NAP_SECONDS, remaining))

    def _write(self, batch: list[tuple[RequestRecord, Detail]]) -> None:
        dropped = self._drops.unpersisted()
        if not batch and not dropped:
            return
        try:
            rows = [to_row(rec, detail) for rec, detail in batch]
            with self._write_lock, transaction(self._conn) as conn:
                conn.executemany(_INSERT, rows)
                if dropped:
                    conn.execute(
                        "UPDATE meta SET value = value + ? WHERE key = 'dropped_total'", (dropped,)
                    )
        except Exception:
            log.exception("could not write %d log records; counting them as dropped", len(batch))
            self._drops.add(len(batch))
            return
        self._drops.mark_persisted(dropped)
