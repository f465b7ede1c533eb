"""The one writer thread: drains the record queue into SQLite in batches.

A batch is closed when it holds `batch_size` records or `flush_interval` seconds after
its first record arrived, whichever comes first, and is written as one transaction
(one fsync). So a crash loses at most the batch being collected, and an idle proxy
causes no disk writes at all.

Identical blocked requests (the same device asking for the same blocked URL again and
again, as a stuck app or a flood does) are written as one row with a `times` count:
within a batch, and onto the previous batch's row while it is younger than
`COLLAPSE_SECONDS` and not yet rolled up (a rolled-up row must not change, or the
hourly counts would miss the difference).

After every batch (three PRAGMAs) the writer checks the database against its size cap
(`max_mb`) and trims the oldest raw rows as soon as it is over, so a flood cannot fill
the disk between two hourly retention runs: it can overshoot by one batch at most.

A batch that cannot be written (disk full, damaged file) is logged and counted as
dropped; the thread keeps going so that the proxy never notices.
"""

from __future__ import annotations

import functools
import itertools
import logging
import sqlite3
import threading
import time
from collections.abc import Callable

from guardian.logstore.database import transaction
from guardian.logstore.fairqueue import FairQueue
from guardian.logstore.privacy import PLAIN_COLUMNS, ROW_COLUMNS, Detail, has_no_words, plain_row, to_row
from guardian.logstore.retention import trim_to_size, used_bytes
from guardian.records import RequestRecord

log = logging.getLogger(__name__)

Entry = tuple[RequestRecord, Detail]

_INSERT = (
    f"INSERT INTO requests({', '.join(ROW_COLUMNS)}) VALUES ({', '.join('?' * len(ROW_COLUMNS))})"
)
# Rows go in up to 40 to a statement: one SQLite step (and one GIL release and
# re-acquisition, which a busy proxy's threads pay for) per 40 rows instead of per row. 40
# rows of 22 columns stay under 999 variables, the limit of SQLite before 3.32.
_ROWS_PER_INSERT = 40
# The words of a row (reason, rule, list, schedule, error kind) are None for most requests
# (allowed, nothing to say). Binding a parameter costs the sqlite3 module about 50-90 ns, so
# such records become `plain_row`s, written by a statement that leaves the words NULL and
# `times` at its default and binds the other 16 values.
_PLAIN_WIDTH = len(PLAIN_COLUMNS)
_ROW = f"({', '.join('?' * len(ROW_COLUMNS))})"
_PLAIN_ROW = f"({', '.join('?' * _PLAIN_WIDTH)})"


@functools.cache
def _insert_statement(rows: int, plain: bool) -> str:
    """INSERT for `rows` rows (1 to _ROWS_PER_INSERT); at most 80 texts, each prepared once
    and kept by the connection's statement cache."""
    columns, values = (PLAIN_COLUMNS, _PLAIN_ROW) if plain else (ROW_COLUMNS, _ROW)
    return f"INSERT INTO requests({', '.join(columns)}) VALUES " + ", ".join([values] * rows)


_ADD_REPEATS = """UPDATE requests SET times = times + ?, bytes_from_client = bytes_from_client + ?,
    bytes_to_client = bytes_to_client + ?
    WHERE id = ? AND id > (SELECT value FROM meta WHERE key = 'rolled_id')"""
COLLAPSE_SECONDS = 60.0
_STARTED, _FROM_CLIENT, _TO_CLIENT, _ACTION, _TIMES = (
    ROW_COLUMNS.index(name) for name in ("started", "bytes_from_client", "bytes_to_client", "action", "times"))
# Plain rows are told from blocked ones by the same index.
assert PLAIN_COLUMNS.index("action") == _ACTION
# What makes two blocked requests "the same": everything but when, how long and how many bytes.
_SAME = tuple(i for i, name in enumerate(ROW_COLUMNS)
              if name not in ("started", "duration_ms", "bytes_from_client", "bytes_to_client", "times"))
_MAX_OPEN_ROWS = 1000


def insert_rows(conn: sqlite3.Connection, rows: list[tuple[object, ...]]) -> None:
    """Insert `rows` (`to_row`'s or `plain_row`'s) in order: each run of one kind in
    statements of up to _ROWS_PER_INSERT rows."""
    start, count = 0, len(rows)
    while start < count:
        width = len(rows[start])
        end = start + 1
        while end < count and end - start < _ROWS_PER_INSERT and len(rows[end]) == width:
            end += 1
        chunk = rows[start:end]
        conn.execute(_insert_statement(len(chunk), width == _PLAIN_WIDTH),
                     tuple(itertools.chain.from_iterable(chunk)))
        start = end


def row_of(rec: RequestRecord, detail: Detail) -> tuple[object, ...]:
    """The row the writer keeps for a record: the short one when it has no words."""
    return plain_row(rec, detail) if has_no_words(rec) else to_row(rec, detail)


def _same_key(row: tuple[object, ...]) -> tuple[object, ...]:
    return tuple(row[i] for i in _SAME)


def collapse(rows: list[tuple[object, ...]]) -> list[tuple[object, ...]]:
    """Identical blocked rows of one batch as one row each, counted in `times`."""
    out: list[tuple[object, ...]] = []
    first: dict[tuple[object, ...], int] = {}
    for row in rows:
        if row[_ACTION] != "blocked":
            out.append(row)
            continue
        key = _same_key(row)
        i = first.get(key)
        # A row is to_row()'s tuple: started and the counts are numbers there.
        if i is None or row[_STARTED] - out[i][_STARTED] >= COLLAPSE_SECONDS:  # type: ignore[operator]
            first[key] = len(out)
            out.append(row)
            continue
        merged = list(out[i])
        merged[_TIMES] += row[_TIMES]  # type: ignore[operator]
        merged[_FROM_CLIENT] += row[_FROM_CLIENT]  # type: ignore[operator]
        merged[_TO_CLIENT] += row[_TO_CLIENT]  # type: ignore[operator]
        out[i] = tuple(merged)
    return out


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
        records: FairQueue[Entry],
        conn: sqlite3.Connection,
        write_lock: threading.Lock,
        drops: DropCounter,
        batch_size: int,
        flush_interval: float,
        max_bytes: Callable[[], int],
        size_check_interval: float = 0.0,  # 0: after every batch
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
        self._max_bytes = max_bytes
        self._size_check_interval = size_check_interval
        self._size_checked = time.monotonic()
        # The newest row written for each kind of blocked request: key -> (id, started)
        self._open_rows: dict[tuple[object, ...], tuple[int, float]] = {}

    def run(self) -> None:
        stopping = False
        while not stopping:
            batch, stopping = self._collect()
            self._write(batch)
            self._keep_under_cap()

    # While collecting, the writer naps and drains rather than waiting on the queue: a
    # waiting thread is woken by every put, and each wake-up costs a busy proxy a GIL
    # hand-off per request.
    NAP_SECONDS = 0.05

    def _collect(self) -> tuple[list[Entry], bool]:
        if not self._records.wait():  # idle: sleep until there is something to do
            return [], True
        batch: list[Entry] = []
        deadline = time.monotonic() + self._flush_interval
        while True:
            batch += self._records.take(self._batch_size - len(batch))
            if self._records.stopped:
                # close(): write what is queued, in batches, then end
                return batch, not len(self._records)
            remaining = deadline - time.monotonic()
            if len(batch) >= self._batch_size or remaining <= 0:
                return batch, False
            time.sleep(min(self.NAP_SECONDS, remaining))

    def _write(self, batch: list[Entry]) -> None:
        dropped = self._drops.unpersisted()
        if not batch and not dropped:
            return
        try:
            rows = collapse([row_of(rec, detail) for rec, detail in batch])
            with self._write_lock, transaction(self._conn) as conn:
                plain: list[tuple[object, ...]] = []  # written in runs, keeping the order of the log
                for row in rows:
                    if row[_ACTION] == "blocked":
                        insert_rows(conn, plain)
                        plain.clear()
                        self._write_blocked(conn, row)
                    else:
                        plain.append(row)
                insert_rows(conn, plain)
                if dropped:
                    conn.execute(
                        "UPDATE meta SET value = value + ? WHERE key = 'dropped_total'", (dropped,)
                    )
        except Exception:
            log.exception("could not write %d log records; counting them as dropped", len(batch))
            self._drops.add(len(batch))
            self._open_rows.clear()
            return
        self._drops.mark_persisted(dropped)

    def _write_blocked(self, conn: sqlite3.Connection, row: tuple[object, ...]) -> None:
        key = _same_key(row)
        started: float = row[_STARTED]  # type: ignore[assignment]  # to_row() puts a float there
        previous = self._open_rows.get(key)
        if previous is not None and started - previous[1] < COLLAPSE_SECONDS:
            added = conn.execute(_ADD_REPEATS, (row[_TIMES], row[_FROM_CLIENT], row[_TO_CLIENT], previous[0]))
            if added.rowcount == 1:
                return
        row_id = conn.execute(_INSERT, row).lastrowid
        if len(self._open_rows) >= _MAX_OPEN_ROWS:
            self._open_rows.clear()
        self._open_rows[key] = (row_id, started)  # type: ignore[assignment]  # an INSERT always sets lastrowid

    def _keep_under_cap(self) -> None:
        now = time.monotonic()
        if now - self._size_checked < self._size_check_interval:
            return
        self._size_checked = now
        try:
            with self._write_lock:
                used = used_bytes(self._conn)
            limit = self._max_bytes()
            if used > limit:
                removed = trim_to_size(self._conn, self._write_lock, limit)
                log.warning("the request log reached its size cap; removed the %d oldest records", removed)
        except Exception:
            log.exception("could not keep the request log under its size cap")
