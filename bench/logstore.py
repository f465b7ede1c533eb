"""Benchmark of the log store: dashboard queries on 1 million records, and record() cost.

Run: .venv/bin/python bench/logstore.py [--records N]
Prints a markdown table. Generation writes rows straight into the `requests` table with
executemany in large transactions (the writer thread would take minutes for a million),
spread over the last 30 days (the default keep_days) with Zipf-like host popularity.
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from guardian.logstore import LogQueries, LogStore
from guardian.logstore.database import connect
from guardian.logstore.privacy import ROW_COLUMNS
from guardian.records import RequestRecord

DAY = 86_400
RUNS = 7
TARGET_MS = 200.0


def generate(path: Path, count: int, now: float) -> float:
    """Insert `count` rows; return seconds taken."""
    rng = random.Random(7)
    hosts = [f"site{i}.example.com" for i in range(5000)]
    weights = [1 / (i + 1) for i in range(len(hosts))]
    devices = ["dad-laptop", "mum-phone", "kid1-tablet", "kid2-phone", "tv", "console", "kid1-laptop", None]
    actions = ["allowed", "blocked", "cached", "error"]
    action_weights = [78, 15, 5, 2]
    insert = f"INSERT INTO requests({', '.join(ROW_COLUMNS)}) VALUES ({', '.join('?' * len(ROW_COLUMNS))})"
    conn = connect(path)
    began = time.perf_counter()
    chunk = 100_000
    for offset in range(0, count, chunk):
        n = min(chunk, count - offset)
        picked_hosts = rng.choices(hosts, weights, k=n)
        picked_actions = rng.choices(actions, action_weights, k=n)
        # Sorted times: ids follow time as they do when the writer appends live.
        times = sorted(now - 30 * DAY * (1 - (offset + i + rng.random()) / count) for i in range(n))
        rows = [
            (
                t, 12.5, f"192.168.1.{i % 50 + 2}", devices[i % len(devices)], "child", "GET", "https", host,
                443, f"/page/{i % 977}?q=1", 403 if action == "blocked" else 200, 420, 18_000, action,
                "matched list" if action == "blocked" else None, f"||{host}^" if action == "blocked" else None,
                "ads" if action == "blocked" else None, None, "timeout" if action == "error" else None,
                "HIT" if action == "cached" else None, "full",
            )
            for i, (t, host, action) in enumerate(zip(times, picked_hosts, picked_actions, strict=True))
        ]
        conn.execute("BEGIN")
        conn.executemany(insert, rows)
        conn.execute("COMMIT")
    conn.close()
    return time.perf_counter() - began


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """Median and worst of RUNS calls, in ms."""
    samples = []
    for _ in range(RUNS):
        began = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - began) * 1000)
    return statistics.median(samples), max(samples)


def dashboard(queries: LogQueries, now: float) -> dict[str, Callable[[], object]]:
    return {
        "24 h totals": lambda: queries.totals(now - DAY, now),
        "hourly series, 7 days": lambda: queries.series(now - 7 * DAY, now, "hour"),
        "top 10 blocked hosts, 24 h": lambda: queries.top_hosts(now - DAY, now, "blocked", limit=10),
        "top devices, 24 h": lambda: queries.top_devices(now - DAY, now),
        "daily series, 30 days (Europe/London)": lambda: queries.series(now - 30 * DAY, now, "day",
                                                                         "Europe/London"),
        "top 10 blocked hosts, 30 days": lambda: queries.top_hosts(now - 30 * DAY, now, "blocked"),
        "search: blocked, newest 50": lambda: queries.search(action="blocked", limit=50),
    }


def record_cost(directory: Path, calls: int) -> tuple[float, float, int]:
    """ns per record() call, writer throughput (records/s) and drops."""
    rec = RequestRecord(started=time.time(), duration_ms=3.0, client_addr="192.168.1.9", method="GET",
                        scheme="http", host="example.com", port=80, target="/", status=200)
    store = LogStore(directory / "hot.db", queue_size=calls)
    began = time.perf_counter()
    for _ in range(calls):
        store.record(rec)
    per_call_ns = (time.perf_counter() - began) / calls * 1e9
    store.close()  # writes whatever is still queued
    throughput = calls / (time.perf_counter() - began)
    return per_call_ns, throughput, store.dropped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    args = parser.parse_args()
    now = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "guardian.db"
        LogStore(path).close()  # creates the schema
        gen_s = generate(path, args.records, now)
        queries = LogQueries(path)

        raw_only = {name: timed(fn) for name, fn in dashboard(queries, now).items()}
        began = time.perf_counter()
        LogStore(path).close()  # opening rolls up every row generated above
        rollup_s = time.perf_counter() - began
        began = time.perf_counter()
        LogStore(path).close()
        open_s = time.perf_counter() - began
        rolled = {name: timed(fn) for name, fn in dashboard(queries, now).items()}
        size_mb = path.stat().st_size / 1e6
        per_call_ns, throughput, dropped = record_cost(Path(tmp), 200_000)

    print(f"Log store benchmark: {args.records:,} records over 30 days, {platform.machine()}, "
          f"{platform.python_implementation()} {platform.python_version()}\n")
    print(f"generate {gen_s:.1f} s · database {size_mb:.0f} MB · "
          f"first open (quick_check + roll-up of all rows) {rollup_s:.1f} s · "
          f"open with quick_check {open_s * 1000:.0f} ms\n")
    print("| query | rolled up: median ms | worst ms | nothing rolled up yet: median ms | worst ms | target |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for name in rolled:
        (med, worst), (raw_med, raw_worst) = rolled[name], raw_only[name]
        verdict = "ok" if worst < TARGET_MS else "SLOW"
        print(f"| {name} | {med:.1f} | {worst:.1f} | {raw_med:.1f} | {raw_worst:.1f} | {verdict} |")
    print(f"\nrecord() on the hot path: {per_call_ns:.0f} ns per call; writer drains "
          f"{throughput:,.0f} records/s; dropped {dropped}")


if __name__ == "__main__":
    main()
