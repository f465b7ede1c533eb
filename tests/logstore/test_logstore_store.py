"""Writing through LogStore: read-back, batching, the drop counter, close()."""

from __future__ import annotations

import sqlite3
import time

import pytest

from guardian.logstore import LogStore

ALL_TIME = 4_000_000_000.0


def test_records_are_written_and_read_back(store, make_record, flushed, clock):
    store.record(make_record(host="a.example", target="/x?y=1", status=200))
    store.record(make_record(host="b.example", action="blocked", status=403, rule="||b.example^",
                             list_id="ads", reason="on list ads", bytes_to_client=0))
    store.record(make_record(method="CONNECT", scheme="https", port=443, target="", action="error",
                             error_kind="timeout", status=0, device=None))
    flushed(store, 3)

    newest_first = store.queries.search().records
    assert [r.host for r in newest_first] == ["example.com", "b.example", "a.example"]
    tunnel, block, page = newest_first
    assert (page.target, page.client_addr, page.device, page.profile) == (
        "/x?y=1", "192.168.1.20", "kid-tablet", "child")
    assert (block.action, block.rule, block.list_id, block.status) == ("blocked", "||b.example^", "ads", 403)
    assert (tunnel.method, tunnel.port, tunnel.error_kind, tunnel.device) == ("CONNECT", 443, "timeout", None)
    totals = store.queries.totals(0, ALL_TIME)
    assert (totals.requests, totals.allowed, totals.blocked, totals.errors) == (3, 1, 1, 1)


def test_database_is_wal_and_in_data_dir(store, db_path):
    assert db_path.exists()
    conn = sqlite3.connect(db_path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_close_writes_what_is_still_queued(db_path, make_record, clock):
    # A flush interval far longer than the test: only close() can have written these.
    store = LogStore(db_path, clock=clock, flush_interval=60)
    for i in range(7):
        store.record(make_record(target=f"/{i}"))
    store.close()
    store.close()  # idempotent
    assert store.queries.totals(0, ALL_TIME).requests == 7


def test_full_batches_are_written_without_waiting_for_the_interval(db_path, make_record, clock, flushed):
    with LogStore(db_path, clock=clock, batch_size=500, flush_interval=60) as store:
        for _ in range(1200):
            store.record(make_record())
        flushed(store, 1000)  # two full batches
        time.sleep(0.2)
        # ... and the 200 of the third batch wait for the interval (or close).
        assert store.queries.totals(0, ALL_TIME).requests == 1000
    assert store.queries.totals(0, ALL_TIME).requests == 1200


def test_a_partial_batch_is_written_after_the_interval(db_path, make_record, clock, flushed):
    with LogStore(db_path, clock=clock, batch_size=500, flush_interval=0.05) as store:
        store.record(make_record())
        flushed(store, 1)


def test_full_queue_drops_and_counts_and_persists_the_count(db_path, make_record, clock, wait):
    store = LogStore(db_path, clock=clock, queue_size=3, batch_size=1, flush_interval=0.01)
    # Hold the writer: it takes one record, then waits for the write lock we hold.
    with store._write_lock:
        store.record(make_record(target="/0"))
        wait(lambda: not store._queue)
        for i in range(1, 6):  # three fit in the queue, two do not
            store.record(make_record(target=f"/{i}"))
        assert store.dropped == 2
    store.close()
    assert store.queries.totals(0, ALL_TIME).requests == 4
    assert store.queries.dropped_total() == 2
    # The saved count adds up over runs; the live one starts again at zero.
    with LogStore(db_path, clock=clock) as again:
        assert again.dropped == 0
        assert again.queries.dropped_total() == 2


def test_record_never_blocks_even_with_the_writer_held(db_path, make_record, clock):
    store = LogStore(db_path, clock=clock, queue_size=10, flush_interval=0.01)
    with store._write_lock:
        began = time.perf_counter()
        for _ in range(1000):
            store.record(make_record())
        assert time.perf_counter() - began < 0.5
        assert store.dropped >= 990 - 500  # at most one batch plus the queue got through
    store.close()


def test_records_after_close_are_counted_as_dropped(store, make_record):
    store.close()
    store.record(make_record())
    assert store.dropped == 1


def test_a_failed_write_counts_the_batch_as_dropped(store, make_record, wait, caplog):
    with store._write_lock:
        store._conn.execute("DROP TABLE requests")  # every insert now fails
    store.record(make_record())
    store.record(make_record())
    wait(lambda: store.dropped == 2)
    assert "could not write" in caplog.text


def test_unknown_detail_is_refused(db_path):
    with pytest.raises(ValueError, match="full, host, none"):
        LogStore(db_path, detail="everything")


def test_every_column_is_written_as_recorded_and_in_order(db_path, make_record, clock):
    """Rows without words (reason, rule, list, schedule, error) go in by their own statement:
    runs of both kinds, short and longer than one statement, blocked rows between them and
    every privacy level must come back column for column, in the order they were recorded."""
    from guardian.logstore.privacy import ROW_COLUMNS, to_row

    kinds = [
        {},  # no words
        {"reason": "Allowed by a parent's rule", "rule": "||school.example^", "list_id": "custom"},
        {"action": "error", "status": 502, "error_kind": "upstream", "reason": "closed", "device": None},
        {"action": "blocked", "status": 403, "rule": "||ads.example^", "list_id": "ads", "schedule": "bedtime"},
        {"cache": "MISS", "content_type": "text/plain", "port": 8081, "device": None},
        {"reason": "Tracking parameters removed: utm_source"},
    ]
    runs = [(0, 45), (1, 1), (0, 3), (3, 1), (0, 1), (2, 41), (4, 80), (5, 2), (0, 1), (1, 39), (4, 1)]
    expected = []
    with LogStore(db_path, clock=clock, flush_interval=60, batch_size=1000) as store:
        n = 0
        for detail in ("full", "host", "none"):
            store.detail = detail
            for kind, length in runs:
                for _ in range(length):
                    n += 1
                    record = make_record(started=clock.now + n, target=f"/{n}", bytes_to_client=n, **kinds[kind])
                    store.record(record)
                    expected.append(to_row(record, store.detail))
    conn = sqlite3.connect(db_path)
    rows = conn.execute(f"SELECT {', '.join(ROW_COLUMNS)} FROM requests ORDER BY id").fetchall()
    conn.close()
    assert len(rows) == len(expected) == 3 * sum(length for _, length in runs)
    assert rows == expected
