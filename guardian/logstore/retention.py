"""Retention: raw rows by age and by database size, roll-ups after a year.

Every pass rolls up first and only ever deletes raw rows with id <= rolled_id, so no
request leaves the statistics when its raw row goes. Deletes run in chunks, each its
own short transaction, so the writer thread is never held up for long.

Size is measured as the pages in use (page_count - freelist_count): that is what the
rows take, whatever free space the file still holds. After deleting, the freed pages
go back to the operating system (incremental vacuum) so the file shrinks too.
"""

from __future__ import annotations

import math
import sqlite3
import threading
from dataclasses import dataclass

from guardian.logstore.database import transaction
from guardian.logstore.rollup import roll_up, rolled_id

DAY = 86_400
ROLLUP_KEEP_DAYS = 365
_CHUNK = 20_000
# Delete down to this share of the cap, so the next few batches do not put the database
# straight back over it.
_SIZE_HEADROOM = 0.9
# Deleting rows frees whole pages only roughly in proportion; a few rounds converge.
_SIZE_ROUNDS = 5


@dataclass(frozen=True, slots=True)
class RetentionResult:
    expired: int  # raw rows older than keep_days
    over_size: int  # raw rows deleted to get under max_mb
    expired_hours: int  # roll-up rows older than a year


def used_bytes(conn: sqlite3.Connection) -> int:
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    return page_size * (pages - free)


def _delete_raw(conn: sqlite3.Connection, write_lock: threading.Lock, where: str, params: tuple) -> int:
    total = 0
    while True:
        with write_lock, transaction(conn):
            deleted = conn.execute(
                f"DELETE FROM requests WHERE id IN (SELECT id FROM requests WHERE {where} AND id <= ? "
                f"LIMIT {_CHUNK})",
                (*params, rolled_id(conn)),
            ).rowcount
        total += deleted
        if deleted < _CHUNK:
            return total


def _enforce_size(conn: sqlite3.Connection, write_lock: threading.Lock, max_bytes: int) -> int:
    removed = 0
    for _ in range(_SIZE_ROUNDS):
        used = used_bytes(conn)
        if used <= max_bytes:
            break
        rows = conn.execute("SELECT COUNT(*) FROM requests").fetchone()[0]
        if not rows:
            break  # only roll-ups left; they are small and shrink by age alone
        # Raw rows are most of the file, so remove the share of them that we are over.
        share = 1 - (max_bytes * _SIZE_HEADROOM) / used
        n = min(rows, max(1, math.ceil(rows * share)))
        cut = conn.execute("SELECT id FROM requests ORDER BY id LIMIT 1 OFFSET ?", (n - 1,)).fetchone()[0]
        removed += _delete_raw(conn, write_lock, "id <= ?", (cut,))
    return removed


def trim_to_size(conn: sqlite3.Connection, write_lock: threading.Lock, max_bytes: int) -> int:
    """Between retention runs: roll up, then drop the oldest raw rows until under the cap."""
    roll_up(conn, write_lock)
    removed = _enforce_size(conn, write_lock, max_bytes)
    with write_lock:
        conn.executescript("PRAGMA incremental_vacuum")
    return removed


def apply_retention(
    conn: sqlite3.Connection, write_lock: threading.Lock, now: float, keep_days: int, max_bytes: int
) -> RetentionResult:
    roll_up(conn, write_lock)
    expired = _delete_raw(conn, write_lock, "started < ?", (now - keep_days * DAY,))
    over_size = _enforce_size(conn, write_lock, max_bytes)
    hour_cutoff = now - ROLLUP_KEEP_DAYS * DAY
    with write_lock, transaction(conn):
        expired_hours = conn.execute("DELETE FROM hourly_devices WHERE hour < ?", (hour_cutoff,)).rowcount
        expired_hours += conn.execute("DELETE FROM hourly_hosts WHERE hour < ?", (hour_cutoff,)).rowcount
    with write_lock:
        # executescript, not execute: each step of this pragma frees one page, and
        # execute() stops after the first step because the pragma returns no rows.
        conn.executescript("PRAGMA incremental_vacuum")
        # PASSIVE never waits for readers; whatever it cannot copy now goes next time.
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    return RetentionResult(expired, over_size, expired_hours)
