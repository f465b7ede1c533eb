"""Roll-ups and retention, driven by a clock the test sets."""

from __future__ import annotations

from guardian.logstore import LogStore
from guardian.logstore.retention import used_bytes

HOUR = 3600
DAY = 86_400
ALL_TIME = 4_000_000_000.0


def _ids(store):
    return sorted(r.id for r in store.queries.search(limit=100_000).records)


def test_statistics_outlive_raw_records(store, make_record, flushed, clock):
    now = clock.now
    store.record(make_record(started=now - 400 * DAY, host="ancient.example"))
    store.record(make_record(started=now - 40 * DAY, host="old.example", action="blocked"))
    store.record(make_record(started=now - 10 * DAY, host="recent.example"))
    store.record(make_record(started=now - HOUR, host="new.example", action="blocked"))
    flushed(store, 4)

    result = store.apply_retention()  # the store's clock says "now"

    assert (result.expired, result.over_size, result.expired_hours) == (2, 0, 2)
    q = store.queries
    assert [r.host for r in q.search().records] == ["new.example", "recent.example"]
    # Older than keep_days: gone from the raw log, still in the statistics...
    totals = q.totals(now - 60 * DAY, now)
    assert (totals.requests, totals.blocked) == (3, 2)
    assert [h.host for h in q.top_hosts(now - 60 * DAY, now)] == ["new.example", "old.example"]
    days = q.series(now - 60 * DAY, now, "day")
    assert sum(p.requests for p in days) == 3
    assert next(p for p in days if p.requests).start == now - 40 * DAY - 12 * HOUR  # NOW is noon
    # ...and older than a year: gone altogether.
    assert q.totals(0, ALL_TIME).requests == 3


def test_retention_follows_the_clock(store, make_record, flushed, clock):
    store.record(make_record(started=clock.now))
    flushed(store, 1)
    assert store.apply_retention().expired == 0
    clock.now += 31 * DAY
    assert store.apply_retention().expired == 1
    assert store.queries.search().records == []
    assert store.queries.totals(0, ALL_TIME).requests == 1


def test_rollup_counts_each_record_once_even_when_it_arrives_late(store, make_record, flushed, clock):
    now = clock.now
    store.record(make_record(started=now - 2 * HOUR))
    flushed(store, 1)
    assert store.rollup() == 1
    assert store.rollup() == 0  # nothing new
    # A long tunnel is logged when it ends, into an hour that is already rolled up.
    store.record(make_record(started=now - 2 * HOUR + 60, method="CONNECT", action="blocked"))
    flushed(store, 2)
    assert store.rollup() == 1
    store.apply_retention(now + 40 * DAY)  # raw rows gone: the figures are roll-ups alone
    assert store.queries.search().records == []
    totals = store.queries.totals(now - 3 * HOUR, now)
    assert (totals.requests, totals.blocked) == (2, 1)


def test_answers_are_the_same_from_raw_rows_and_from_rollups(store, make_record, flushed, clock):
    now = clock.now
    for i in range(300):
        store.record(make_record(
            started=now - i * 613.0, host=f"h{i % 7}.example", device=f"d{i % 3}",
            action=("allowed", "blocked", "cached", "error")[i % 4], bytes_to_client=i,
        ))
    flushed(store, 300)
    q = store.queries
    since = now - 36 * HOUR - 1234  # not on an hour: partial edges come from raw rows

    def answers():
        return (
            q.totals(since, now - 100), q.totals(since, now, device="d1"),
            q.series(since, now, "hour"), q.series(since, now, "day", "America/New_York", device="d2"),
            q.top_hosts(since, now), q.top_hosts(since, now, "allowed", device="d0"),
            q.top_devices(since, now),
        )

    from_raw = answers()
    store.rollup()
    assert answers() == from_raw
    store.record(make_record(started=now - 5 * HOUR))  # unrolled tail on top of roll-ups
    flushed(store, 301)
    with_tail = answers()
    assert with_tail[0].requests == from_raw[0].requests + 1


def test_size_cap_deletes_oldest_records_first(db_path, make_record, clock, flushed):
    # This test is about the retention pass: the writer's own cap check stays out of it.
    with LogStore(db_path, clock=clock, max_mb=1, queue_size=20_000, flush_interval=0.01,
                  size_check_interval=3600) as store:
        for i in range(12_000):
            store.record(make_record(started=clock.now - 12_000 + i, target="/" + "x" * 150))
        flushed(store, 12_000)
        assert used_bytes(store._conn) > 2 * 1024 * 1024
        pages_before = store._conn.execute("PRAGMA page_count").fetchone()[0]

        result = store.apply_retention()

        assert result.over_size > 0 and result.expired == 0
        assert used_bytes(store._conn) <= 1024 * 1024
        ids = _ids(store)
        assert ids == list(range(ids[0], 12_001))  # a contiguous run of the newest
        assert store.queries.totals(0, ALL_TIME).requests == 12_000
        # Freed pages went back to the system, not just onto the free list.
        pages_after = store._conn.execute("PRAGMA page_count").fetchone()[0]
        assert pages_after < pages_before / 2
    assert db_path.stat().st_size <= 1.1 * 1024 * 1024
