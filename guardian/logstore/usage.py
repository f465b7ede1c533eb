"""Time used against daily limits: `<data_dir>/usage.db`, one row per counted minute.

Strategy: a limit counts whole minutes, and a minute must count once however many
requests and tunnels it saw, across restarts too. So the table holds the minutes
themselves, keyed by (local day, who, limit, UTC minute), and a write is an
`INSERT OR IGNORE`: writing a minute twice is harmless, and "minutes used today" is a
count. Bonus minutes a parent grants ("30 more minutes today") sit beside them.

The file is separate from guardian.db because limits must work with the request log
switched off, and its schema is tiny and its own. Only the usage meter's flush job, a
parent's command and the settings page write it, never the request path.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable
from datetime import date, timedelta
from pathlib import Path

USAGE_FILE = "usage.db"
KEEP_DAYS = 62  # two months of history for the settings page; older days are pruned

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS usage_minutes (
        day TEXT NOT NULL,          -- local date in the configured zone, 2026-12-01
        who TEXT NOT NULL,          -- 'device:NAME', 'ip:ADDRESS' or 'profile:NAME' (shared limits)
        limit_name TEXT NOT NULL,
        minute INTEGER NOT NULL,    -- Unix time // 60
        PRIMARY KEY (day, who, limit_name, minute)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS usage_bonus (
        day TEXT NOT NULL,
        who TEXT NOT NULL,
        limit_name TEXT NOT NULL,
        minutes INTEGER NOT NULL,
        PRIMARY KEY (day, who, limit_name)
    ) WITHOUT ROWID""",
)

Key = tuple[str, str, str]  # (day, who, limit name)


class UsageStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():
            # Browsing times are private: 0600 whatever the umask.
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA busy_timeout = 5000")
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = FULL")
        for statement in _SCHEMA:
            self._conn.execute(statement)

    @classmethod
    def for_data_dir(cls, data_dir: Path) -> UsageStore:
        return cls(Path(data_dir) / USAGE_FILE)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def load(self, since_day: str) -> tuple[dict[Key, set[int]], dict[Key, int]]:
        """Counted minutes and bonus minutes of `since_day` and later."""
        minutes: dict[Key, set[int]] = {}
        bonus: dict[Key, int] = {}
        with self._lock:
            for day, who, name, minute in self._conn.execute(
                    "SELECT day, who, limit_name, minute FROM usage_minutes WHERE day >= ?", (since_day,)):
                minutes.setdefault((day, who, name), set()).add(minute)
            for day, who, name, extra in self._conn.execute(
                    "SELECT day, who, limit_name, minutes FROM usage_bonus WHERE day >= ?", (since_day,)):
                bonus[(day, who, name)] = extra
        return minutes, bonus

    def write_minutes(self, rows: Iterable[tuple[str, str, str, int]]) -> None:
        """Counted minutes, (day, who, limit, minute); one transaction, duplicates ignored."""
        rows = list(rows)
        if not rows:
            return
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(
                    "INSERT OR IGNORE INTO usage_minutes(day, who, limit_name, minute) VALUES (?, ?, ?, ?)", rows)
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    def add_bonus(self, day: str, who: str, limit_name: str, minutes: int) -> int:
        """Add bonus minutes for one day; returns the day's bonus total."""
        with self._lock:
            self._conn.execute(
                "INSERT INTO usage_bonus(day, who, limit_name, minutes) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(day, who, limit_name) DO UPDATE SET minutes = minutes + excluded.minutes",
                (day, who, limit_name, minutes))
            row = self._conn.execute("SELECT minutes FROM usage_bonus WHERE day = ? AND who = ? AND limit_name = ?",
                                     (day, who, limit_name)).fetchone()
        return int(row[0])

    def used(self, day: str) -> dict[tuple[str, str], int]:
        """(who, limit) -> minutes counted on `day` (what reached the disk)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT who, limit_name, COUNT(*) FROM usage_minutes WHERE day = ? GROUP BY who, limit_name",
                (day,)).fetchall()
        return {(who, name): count for who, name, count in rows}

    def prune(self, today: str) -> None:
        cutoff = (date.fromisoformat(today) - timedelta(days=KEEP_DAYS)).isoformat()
        with self._lock:
            self._conn.execute("DELETE FROM usage_minutes WHERE day < ?", (cutoff,))
            self._conn.execute("DELETE FROM usage_bonus WHERE day < ?", (cutoff,))
