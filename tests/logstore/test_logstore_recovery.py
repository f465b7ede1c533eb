"""Damaged and newer databases are set aside; older schemas migrate forward."""

from __future__ import annotations

import sqlite3

import pytest

from guardian.logstore import LogStore
from guardian.logstore.database import connect, migrate, open_database
from guardian.logstore.schema import LATEST_VERSION, MIGRATIONS

ALL_TIME = 4_000_000_000.0


def _write_one(db_path, clock, make_record):
    with LogStore(db_path, clock=clock, flush_interval=0.01) as store:
        store.record(make_record())
    return store


def test_garbage_file_is_moved_aside_with_the_date(db_path, clock, make_record):
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(b"this is not a database, it is a shopping list\n" * 200)
    (db_path.parent / "guardian.db-wal").write_bytes(b"stale wal")

    store = _write_one(db_path, clock, make_record)  # clock: 2026-11-25 12:00:00 UTC

    aside = db_path.parent / "guardian.db.corrupt-20261125-120000"
    assert aside.read_bytes().startswith(b"this is not a database")
    # The old WAL must not be replayed into the new database, whoever removes it.
    wal = db_path.parent / "guardian.db-wal"
    assert not wal.exists() or wal.read_bytes() != b"stale wal"
    assert store.queries.totals(0, ALL_TIME).requests == 1


def test_damaged_pages_are_found_and_set_aside(db_path, clock, make_record):
    with LogStore(db_path, clock=clock, flush_interval=0.01) as store:
        for i in range(3000):
            store.record(make_record(target=f"/{i}"))
    data = bytearray(db_path.read_bytes())
    data[8192:16384] = b"\xff" * 8192  # wreck pages 3 and 4, keep the header
    db_path.write_bytes(bytes(data))

    _write_one(db_path, clock, make_record)

    assert (db_path.parent / "guardian.db.corrupt-20261125-120000").exists()


def test_database_from_a_newer_guardian_is_set_aside(db_path, clock, make_record):
    _write_one(db_path, clock, make_record)
    conn = sqlite3.connect(db_path)
    conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    conn.close()

    store = _write_one(db_path, clock, make_record)

    assert (db_path.parent / "guardian.db.newer-20261125-120000").exists()
    assert store.queries.totals(0, ALL_TIME).requests == 1


def test_two_recoveries_in_one_second_keep_both_files(db_path, clock, make_record):
    db_path.parent.mkdir(parents=True)
    for _ in range(2):
        db_path.write_bytes(b"garbage" * 1000)
        _write_one(db_path, clock, make_record)
    names = sorted(p.name for p in db_path.parent.glob("guardian.db.corrupt-*"))
    assert names == ["guardian.db.corrupt-20261125-120000", "guardian.db.corrupt-20261125-120000-1"]


def test_other_failures_are_not_mistaken_for_damage(db_path, clock):
    db_path.mkdir(parents=True)  # a directory where the file should be
    with pytest.raises(sqlite3.OperationalError):
        open_database(db_path, clock)
    assert db_path.is_dir() and list(db_path.parent.iterdir()) == [db_path]


def test_older_schema_migrates_forward_keeping_its_rows(db_path, clock, make_record):
    _write_one(db_path, clock, make_record)
    newer = {**MIGRATIONS, LATEST_VERSION + 1: ["ALTER TABLE requests ADD COLUMN note TEXT"]}
    conn = connect(db_path)
    assert migrate(conn, newer) == LATEST_VERSION + 1
    assert migrate(conn, newer) == LATEST_VERSION + 1  # nothing left to do
    assert conn.execute("SELECT COUNT(*), COUNT(note) FROM requests").fetchone() == (1, 0)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST_VERSION + 1
    conn.close()


def test_a_failed_migration_step_leaves_the_previous_version(db_path, clock, make_record):
    _write_one(db_path, clock, make_record)
    broken = {**MIGRATIONS, LATEST_VERSION + 1: ["ALTER TABLE requests ADD COLUMN note TEXT", "NOT SQL"]}
    conn = connect(db_path)
    with pytest.raises(sqlite3.OperationalError):
        migrate(conn, broken)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST_VERSION
    assert "note" not in [row[1] for row in conn.execute("PRAGMA table_info(requests)")]
    conn.close()
