"""Hourly roll-ups: per-device and per-host counts folded out of the raw rows.

Roll-ups go by record id, not by time: each run adds every row with an id above
`meta.rolled_id` into the hourly tables (bucketed by the row's own start time, in UTC
hours) and moves `rolled_id` up, in the same transaction. Ids only grow, so nothing is
counted twice or missed, including tunnels that are logged hours after they started.

That gives queries an exact rule for combining the two stores: the counts for whole
hours are the roll-up rows plus the raw rows with id > rolled_id (see queries.py).
"""

from __future__ import annotations

import sqlite3
import threading

from guardian.logstore.database import transaction

# Ids per transaction, so that catching up on a large backlog never holds the write
# lock (and so the writer thread) for more than a fraction of a second at a time.
_CHUNK = 50_000

# A row stands for `times` identical requests (collapsed repeats of a block).
_COUNTS = """SUM(times), SUM((action = 'allowed') * times), SUM((action = 'blocked') * times),
    SUM((action = 'cached') * times), SUM((action = 'error') * times), SUM(bytes_to_client),
    SUM(bytes_from_client)"""

_ADD_COUNTS = """requests = requests + excluded.requests, allowed = allowed + excluded.allowed,
    blocked = blocked + excluded.blocked, cached = cached + excluded.cached,
    errors = errors + excluded.errors, bytes_to_client = bytes_to_client + excluded.bytes_to_client,
    bytes_from_client = bytes_from_client + excluded.bytes_from_client"""

# CAST(x AS INTEGER) truncates, which is floor for the positive times we store.
_HOUR = "CAST(started / 3600 AS INTEGER) * 3600"

_ROLL_DEVICES = f"""
INSERT INTO hourly_devices
SELECT {_HOUR}, COALESCE(device, ''), {_COUNTS}
FROM requests WHERE id > ? AND id <= ? GROUP BY 1, 2
ON CONFLICT (hour, device) DO UPDATE SET {_ADD_COUNTS}"""

# Rows without a host (detail "none") are in hourly_devices only.
_ROLL_HOSTS = f"""
INSERT INTO hourly_hosts
SELECT {_HOUR}, host, COALESCE(device, ''), {_COUNTS}
FROM requests WHERE id > ? AND id <= ? AND host IS NOT NULL GROUP BY 1, 2, 3
ON CONFLICT (hour, host, device) DO UPDATE SET {_ADD_COUNTS}"""


def rolled_id(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT value FROM meta WHERE key = 'rolled_id'").fetchone()[0]


def roll_up(conn: sqlite3.Connection, write_lock: threading.Lock) -> int:
    """Fold all not yet rolled-up raw rows into the hourly tables; return how many."""
    total = 0
    while True:
        # rolled_id is re-read inside each transaction, so two overlapping runs (the
        # scheduler job and a retention pass) cannot count the same rows twice.
        with write_lock, transaction(conn):
            done = rolled_id(conn)
            newest = conn.execute("SELECT COALESCE(MAX(id), 0) FROM requests").fetchone()[0]
            if done >= newest:
                return total
            upto = min(done + _CHUNK, newest)
            conn.execute(_ROLL_DEVICES, (done, upto))
            conn.execute(_ROLL_HOSTS, (done, upto))
            total += conn.execute(
                "SELECT COUNT(*) FROM requests WHERE id > ? AND id <= ?", (done, upto)
            ).fetchone()[0]
            conn.execute("UPDATE meta SET value = ? WHERE key = 'rolled_id'", (upto,))
