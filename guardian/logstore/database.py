"""Opening the log database: connection settings, recovery from a bad file, migration.

`open_database()` is what lets Guardian always start. A file SQLite calls corrupt (or
not a database at all), or one whose schema version is newer than this code knows, is
renamed aside with the time in its name, together with its `-wal` and `-shm` files (a
stale WAL replayed into a fresh database would corrupt it again), and a new database is
created. Any other failure (permissions, a full disk, a lock held by another program)
is raised: renaming a healthy database because it was busy would lose the history.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from guardian.fsutil import private_dir, private_file
from guardian.logstore.schema import MIGRATIONS, NewerSchemaError

log = logging.getLogger(__name__)

# Only these mean the file itself is bad; everything else is a problem around it.
_BAD_FILE_ERRORS = ("SQLITE_CORRUPT", "SQLITE_NOTADB")
_BUSY_TIMEOUT_MS = 5000
# After a checkpoint the WAL is truncated back to this size rather than left at its peak.
_WAL_SIZE_LIMIT = 4 * 1024 * 1024


class DamagedDatabaseError(Exception):
    """SQLite opened the file but its integrity check found damage."""


def connect(path: Path, create: bool = True) -> sqlite3.Connection:
    """A connection with the settings every user of the database wants.

    Autocommit mode (isolation_level=None): callers write explicit BEGIN/COMMIT so that a
    batch is exactly one transaction. check_same_thread is off because the store hands its
    one write connection between the writer thread and the scheduler thread under a lock.
    With create=False a missing file is an error instead of a new empty database (readers
    must not leave empty files behind). Read-write even for readers: a read-only
    connection to a WAL database fails when the -shm file does not exist yet.
    """
    target = path if create else f"{path.resolve().as_uri()}?mode=rw"
    conn = sqlite3.connect(target, isolation_level=None, check_same_thread=False, uri=not create)
    conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction; IMMEDIATE takes the write lock up front instead of
    failing half-way through when another connection wrote first."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:  # SQLite may already have rolled back (e.g. disk full)
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def schema_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def migrate(conn: sqlite3.Connection, migrations: dict[int, list[str]] = MIGRATIONS) -> int:
    """Bring the database up to the newest version in `migrations`; return that version.

    Each step runs in its own transaction together with its version bump, so a crash
    mid-migration leaves the database at the last complete version.
    """
    latest = max(migrations)
    current = schema_version(conn)
    if current > latest:
        raise NewerSchemaError(current, latest)
    for version in range(current + 1, latest + 1):
        with transaction(conn):
            for statement in migrations[version]:
                conn.execute(statement)
            # PRAGMA takes no bound parameters; version is an int from our own table.
            conn.execute(f"PRAGMA user_version = {int(version)}")
    return latest


def _configure_for_writing(conn: sqlite3.Connection) -> None:
    # auto_vacuum only takes effect on a database with no tables yet, so it must come
    # before the first migration; INCREMENTAL lets retention give space back to the OS.
    conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
    conn.execute("PRAGMA journal_mode = WAL")
    # FULL, not NORMAL: in WAL mode NORMAL can lose already committed batches on a power
    # cut (the WAL is only synced at checkpoints). FULL costs one fsync per batch, about
    # one a second, and makes "a power cut loses at most the unflushed batch" true.
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute(f"PRAGMA journal_size_limit = {_WAL_SIZE_LIMIT}")


def _open_checked(path: Path) -> sqlite3.Connection:
    conn = connect(path)
    try:
        _configure_for_writing(conn)
        # quick_check reads every page once: it finds a damaged file at start-up rather
        # than at the first write, when there would be no good way left to recover.
        problems = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
        if problems != "ok":
            raise DamagedDatabaseError(f"quick_check: {problems}")
        migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def _is_bad_file(error: sqlite3.DatabaseError) -> bool:
    return getattr(error, "sqlite_errorname", "").startswith(_BAD_FILE_ERRORS)


def set_aside_name(path: Path, why: str, now: float) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now))
    candidate = path.with_name(f"{path.name}.{why}-{stamp}")
    n = 1
    while candidate.exists():  # two recoveries in one second must not overwrite each other
        candidate = path.with_name(f"{path.name}.{why}-{stamp}-{n}")
        n += 1
    return candidate


def _move_aside(path: Path, why: str, now: float) -> Path:
    target = set_aside_name(path, why, now)
    path.rename(target)
    for suffix in ("-wal", "-shm"):
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            companion.rename(target.with_name(target.name + suffix))
    return target


def _make_private(path: Path) -> None:
    """0600 before SQLite creates the file with the umask's mode; -wal and -shm follow it.
    A directory in the way is SQLite's to report, as for every other bad path."""
    with contextlib.suppress(IsADirectoryError):
        private_file(path)


def open_database(path: Path, clock: Callable[[], float] = time.time) -> sqlite3.Connection:
    """Open (creating, migrating or replacing as needed) the database for writing."""
    private_dir(path.parent)
    _make_private(path)
    try:
        return _open_checked(path)
    except NewerSchemaError as error:
        moved = _move_aside(path, "newer", clock())
        log.warning("%s; moved it to %s and started a new one", error, moved)
    except (sqlite3.DatabaseError, DamagedDatabaseError) as error:
        if isinstance(error, sqlite3.DatabaseError) and not _is_bad_file(error):
            raise
        moved = _move_aside(path, "corrupt", clock())
        log.error("log database %s is damaged (%s); moved it to %s and started a new one",
                  path, error, moved)
    _make_private(path)
    return _open_checked(path)
