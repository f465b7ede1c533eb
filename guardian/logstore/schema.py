"""Tables of the log database and the forward migrations between schema versions.

The schema version lives in `PRAGMA user_version`. `MIGRATIONS` maps each version to
the statements that bring a database from the version before it; `database.migrate()`
runs the missing ones in order.

Tables:
- `requests`: one raw row per request or tunnel. AUTOINCREMENT keeps ids rising even
  after the newest rows are deleted, which the roll-up bookkeeping (`rolled_id`) and
  "why was this blocked" links both rely on.
- `hourly_devices` / `hourly_hosts`: counts per UTC hour per device (and per host and
  device). They outlive the raw rows and make long-range statistics cheap.
- `meta`: small counters (`rolled_id`, `dropped_total`).

Version 2 adds `requests.times`: how many identical blocked requests one row stands
for (see writer.py); every count of requests sums it.
"""

from __future__ import annotations

_COUNT_COLUMNS = """
    requests INTEGER NOT NULL,
    allowed INTEGER NOT NULL,
    blocked INTEGER NOT NULL,
    cached INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    bytes_to_client INTEGER NOT NULL,
    bytes_from_client INTEGER NOT NULL"""

_VERSION_1 = [
    """CREATE TABLE requests (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        started REAL NOT NULL,
        duration_ms REAL NOT NULL,
        client_addr TEXT,
        device TEXT,
        profile TEXT,
        method TEXT,
        scheme TEXT,
        host TEXT,
        port INTEGER,
        target TEXT,
        status INTEGER NOT NULL,
        bytes_from_client INTEGER NOT NULL,
        bytes_to_client INTEGER NOT NULL,
        action TEXT NOT NULL,
        reason TEXT,
        rule TEXT,
        list_id TEXT,
        schedule TEXT,
        error_kind TEXT,
        cache TEXT,
        detail TEXT NOT NULL
    )""",
    # Time ranges: edges of a period, retention, search. Device search walks (device, id).
    "CREATE INDEX requests_started ON requests(started)",
    "CREATE INDEX requests_device ON requests(device)",
    # device '' stands for "unknown device" so that it can sit in a primary key.
    f"""CREATE TABLE hourly_devices (
        hour INTEGER NOT NULL,
        device TEXT NOT NULL,{_COUNT_COLUMNS},
        PRIMARY KEY (hour, device)
    ) WITHOUT ROWID""",
    f"""CREATE TABLE hourly_hosts (
        hour INTEGER NOT NULL,
        host TEXT NOT NULL,
        device TEXT NOT NULL,{_COUNT_COLUMNS},
        PRIMARY KEY (hour, host, device)
    ) WITHOUT ROWID""",
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID",
    "INSERT INTO meta(key, value) VALUES ('rolled_id', 0), ('dropped_total', 0)",
]

# Version -> statements that upgrade a database from version - 1. Append, never edit.
_VERSION_2 = ["ALTER TABLE requests ADD COLUMN times INTEGER NOT NULL DEFAULT 1"]

MIGRATIONS: dict[int, list[str]] = {1: _VERSION_1, 2: _VERSION_2}
LATEST_VERSION = max(MIGRATIONS)


class NewerSchemaError(Exception):
    """The database was written by a newer Guardian; this one cannot read it."""

    def __init__(self, found: int, supported: int) -> None:
        super().__init__(f"log database schema version {found} is newer than supported {supported}")
        self.found = found
