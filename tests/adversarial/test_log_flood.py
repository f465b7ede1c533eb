"""One device flooding the proxy cannot fill the disk or push other devices out of the log.

Three defences, each tested here: the writer keeps the database under `max_mb` between
hourly retention runs; a full queue drops the flooder's records, not everyone's; and
identical blocked requests collapse into one counted row, with every count still exact.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import replace
from pathlib import Path

from guardian.logstore import LogStore
from guardian.logstore.commands import log_command
from guardian.logstore.database import connect, migrate
from guardian.logstore.schema import MIGRATIONS
from guardian.proxy.hooks import RequestInfo, Verdict
from guardian.records import RequestRecord
from tests.support.client import RawClient

ALL_TIME = 4_000_000_000.0
NOW = 1_795_608_000.0
BLOCKED = RequestRecord(started=NOW, duration_ms=0.2, client_addr="192.168.1.66", method="GET", scheme="http",
                        host="games.example", port=80, target="/play", status=403, bytes_from_client=80,
                        bytes_to_client=500, action="blocked", device="kid-laptop", profile="kids",
                        rule="||games.example^", reason="blocked by a parent's rule")
OTHER = replace(BLOCKED, client_addr="192.168.1.10", device="parent-phone", profile="adults",
                action="allowed", status=200, host="news.example", rule=None, reason=None)


def wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def raw_rows(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT COUNT(*) FROM requests").fetchone()[0]
    finally:
        conn.close()


def database_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, path.with_name(path.name + "-wal")) if p.exists())


def test_a_flood_of_distinct_urls_stays_under_the_size_cap_between_retention_runs(tmp_path):
    path = tmp_path / "guardian.db"
    largest = 0
    with LogStore(path, max_mb=1, queue_size=50_000, flush_interval=0.02) as store:
        for i in range(30_000):  # about 30 MB of rows: 30 times the cap
            store.record(replace(BLOCKED, started=NOW + i / 1000, target=f"/flood/{i}/" + "x" * 1000))
            if i % 1000 == 0:
                largest = max(largest, path.stat().st_size)
        wait_until(lambda: store.queries.totals(0, ALL_TIME).requests + store.dropped >= 30_000, 60)
        time.sleep(0.5)  # one more size check after the last batch
        largest = max(largest, path.stat().st_size)
        assert store.queries.totals(0, ALL_TIME).requests + store.dropped == 30_000  # counts stay exact
    # Never more than a few seconds' writes over the cap, and back under it once checked.
    assert largest < 8 * 2**20, largest
    assert path.stat().st_size <= 1.1 * 2**20


def test_a_full_queue_drops_the_flooders_records_first(tmp_path):
    path = tmp_path / "guardian.db"
    store = LogStore(path, queue_size=1000, batch_size=100, flush_interval=0.02)
    with store._write_lock:  # the disk is slow: nothing drains while the flood arrives
        for i in range(20_000):
            store.record(replace(BLOCKED, target=f"/flood/{i}"))
            if i % 100 == 0:  # the rest of the house keeps browsing in between
                store.record(replace(OTHER, target=f"/page/{i}"))
    store.close()
    others = store.queries.search(device="parent-phone", limit=1000).records
    assert len(others) == 200, "every record of the other device was kept"
    flooder = store.queries.totals(0, ALL_TIME, device="kid-laptop").requests
    assert flooder + store.dropped == 20_000
    assert store.dropped >= 20_000 - 1000


def test_identical_blocks_collapse_into_one_counted_row_with_exact_counts(tmp_path, capsys):
    path = tmp_path / "guardian.db"
    with LogStore(path, queue_size=50_000, batch_size=500, flush_interval=0.02) as store:
        for i in range(20_000):
            store.record(replace(BLOCKED, started=NOW + i / 1000))  # 20 s of one stuck app
        store.record(OTHER)
        wait_until(lambda: store.queries.totals(0, ALL_TIME).requests == 20_001)
    assert store.dropped == 0
    assert raw_rows(path) == 2
    (row,) = store.queries.search(device="kid-laptop").records
    assert (row.times, row.started, row.bytes_to_client, row.target) == (20_000, NOW, 500 * 20_000, "/play")
    totals = store.queries.totals(0, ALL_TIME)
    assert (totals.requests, totals.blocked, totals.allowed) == (20_001, 20_000, 1)
    assert [(h.host, h.requests) for h in store.queries.top_hosts(0, ALL_TIME)] == [("games.example", 20_000)]
    assert log_command(path, blocked=True, since="1h", clock=lambda: NOW + 60) == 0
    assert "blocked x20000" in capsys.readouterr().out


def test_collapsing_never_changes_a_rolled_up_row_and_starts_again_after_a_minute(tmp_path):
    path = tmp_path / "guardian.db"
    with LogStore(path, flush_interval=0.02) as store:
        for i in range(10):
            store.record(replace(BLOCKED, started=NOW + i))
        wait_until(lambda: store.queries.totals(0, ALL_TIME).requests == 10)
        assert store.rollup() == 1
        for i in range(10, 15):  # same block, but its row is in the hourly counts now
            store.record(replace(BLOCKED, started=NOW + i))
        wait_until(lambda: store.queries.totals(0, ALL_TIME).requests == 15)
        for i in range(5):  # a minute later: a new row
            store.record(replace(BLOCKED, started=NOW + 120 + i))
        wait_until(lambda: store.queries.totals(0, ALL_TIME).requests == 20)
        store.rollup()
        assert store.queries.totals(0, ALL_TIME).blocked == 20
        assert store.queries.top_devices(0, ALL_TIME)[0].requests == 20
    assert [r.times for r in store.queries.search().records] == [5, 5, 10]


def test_a_version_1_database_migrates_forward_with_its_rows(tmp_path):
    path = tmp_path / "guardian.db"
    conn = connect(path)
    migrate(conn, {1: MIGRATIONS[1]})
    conn.execute("INSERT INTO requests(started, duration_ms, status, bytes_from_client, bytes_to_client, action,"
                 " detail, device) VALUES (?, 1, 403, 0, 0, 'blocked', 'full', 'old-device')", (NOW,))
    conn.close()
    with LogStore(path) as store:
        assert store.queries.totals(0, ALL_TIME).blocked == 1
        assert store.queries.search().records[0].times == 1


class BlockEverything:
    def decide(self, request: RequestInfo) -> Verdict:
        return Verdict(allowed=False, status=403, body=b"blocked", device="kid-laptop",
                       reason="blocked by a parent's rule")


def test_pipelined_flood_through_the_proxy_leaves_one_row_and_others_logged(make_proxy, tmp_path):
    path = tmp_path / "guardian.db"
    store = LogStore(path, flush_interval=0.05)
    proxy = make_proxy(decider=BlockEverything())
    proxy.ctx.recorder = store
    flood = RawClient(proxy.port, timeout=30)
    count = 3000
    request = b"GET http://games.example/play HTTP/1.1\r\nHost: games.example\r\n\r\n"
    sender = threading.Thread(target=flood.send, args=(request * count,))
    sender.start()
    for _ in range(count):
        assert flood.read_response().status == 403
    sender.join()
    wait_until(lambda: store.queries.totals(0, ALL_TIME).requests == count)
    store.close()
    assert raw_rows(path) <= 3  # a row per batch at worst; normally one
    assert store.queries.totals(0, ALL_TIME).blocked == count
