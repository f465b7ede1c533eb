"""What each part the household configuration adds to a request costs, measured alone.

    .venv/bin/python bench/household_parts.py [--number 20000]

Built from bench/household.py's configuration (EasyList + EasyPrivacy on the default
profile, cache, request log and access log on, privacy at its defaults), for two
requests: wrk's (`GET http://127.0.0.1:PORT/small.txt`, a Host field only) and a
browser's (9 fields, a page's script on a CDN). Each part is timed with timeit, best of
5, in µs per call:

- decide: `PolicyHolder.decide()`, the whole decision, and inside it the filter
  engine's match and the request-type inference alone;
- privacy edits: the Verdict's edits on the request headers and on nginx's response headers;
- cache: `lookup` + `begin_store` for nginx's 1 KiB text/plain answer it will not store;
- record: filling a `RequestRecord` as the core does, and `record()` into both logs' queues;
- writers: the request-log writer's CPU per row (`plain_row`/`to_row` + INSERT, batches of
  500, on a real SQLite file) and the access log's per line (`squid_line`, and the writer
  thread's whole pass: formatting 500 queued lines and writing them to a real file).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from household import config_text
from ratios import free_port

from guardian.accesslog import squid_line
from guardian.cache import Cache
from guardian.config import CacheConfig
from guardian.filters.request_types import infer_type_from_fields
from guardian.logstore.fairqueue import FairQueue
from guardian.logstore.store import LogStore
from guardian.logstore.writer import BatchWriter
from guardian.proxy.hooks import RequestInfo
from guardian.proxy.http1 import end_to_end, parse_request_head, parse_response_head
from guardian.records import RequestRecord
from guardian.service import Guardian, Overrides

PORT = 8081
WRK = f"GET http://127.0.0.1:{PORT}/small.txt HTTP/1.1\r\nHost: 127.0.0.1:{PORT}\r\n\r\n".encode()
BROWSER = (
    b"GET http://cdn.example-static.net/assets/js/app.bundle.3f9a1c.js?v=20261201 HTTP/1.1\r\n"
    b"Host: cdn.example-static.net\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n"
    b"Accept: */*\r\n"
    b"Accept-Language: en-GB,en;q=0.5\r\n"
    b"Accept-Encoding: gzip, deflate\r\n"
    b"Referer: http://www.example-news.org/world/2026/12/01/story.html\r\n"
    b"Sec-Fetch-Dest: script\r\n"
    b"Sec-Fetch-Mode: no-cors\r\n"
    b"Connection: keep-alive\r\n\r\n"
)
NGINX = (
    b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Tue, 01 Dec 2026 05:00:00 GMT\r\n"
    b"Content-Type: text/plain\r\nContent-Length: 1024\r\nLast-Modified: Tue, 01 Dec 2026 04:00:00 GMT\r\n"
    b"Connection: keep-alive\r\nETag: \"692c9ec0-400\"\r\nAccept-Ranges: bytes\r\n\r\n"
)


def best(stmt, number: int) -> float:
    """µs per call, best of 5."""
    return min(timeit.repeat(stmt, number=number, repeat=5)) / number * 1e6


def info_of(head: bytes) -> RequestInfo:
    request = parse_request_head(head)
    rest = request.target.split("://", 1)[1]
    authority, _, path = rest.partition("/")
    host, _, port = authority.partition(":")
    return RequestInfo("127.0.0.1", request.method, "http", host, int(port or 80), "/" + path, request.fields)


def record_of(info: RequestInfo, verdict) -> RequestRecord:
    record = RequestRecord(started=time.time(), duration_ms=0.0, client_addr=info.client_ip, method="-",
                           scheme="http", host="", port=0, target="", status=0)
    record.method = info.method
    record.host, record.port, record.target = info.host, info.port, info.target
    record.device, record.profile = verdict.device, verdict.profile
    record.rule, record.list_id, record.schedule = verdict.rule, verdict.list_id, verdict.schedule
    record.reason = verdict.reason
    record.status, record.cache, record.content_type = 200, "MISS", "text/plain"
    record.upstream_addr = "127.0.0.1"
    record.duration_ms, record.bytes_from_client, record.bytes_to_client = 0.31, 80, 1270
    return record


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--number", type=int, default=20000)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="guardian-parts-"))
    config = work / "guardian.toml"
    config.write_text(config_text(work / "data", f"127.0.0.1:{free_port()}"))
    guardian = Guardian(str(config), Overrides())
    rows: list[tuple[str, float]] = []
    try:
        for name, head in (("wrk", WRK), ("browser", BROWSER)):
            rows += measure_request(guardian, name, head, args.number)
        record = record_of(info_of(WRK), guardian.policy.decide(info_of(WRK)))
        rows.append(("request-log writer, per row (batches of 500)", writer_cost(work, record)))
        rows.append(("access-log writer, per line (batches of 500)", access_log_cost(work, record)))
    finally:
        guardian.stop()
        shutil.rmtree(work, ignore_errors=True)
    for label, us in rows:
        print(f"{label:55} {us:7.2f} µs")
    return 0


def measure_request(guardian: Guardian, name: str, head: bytes, n: int) -> list[tuple[str, float]]:
    holder = guardian.policy
    engine = holder.policy._profiles["default"].engine
    assert engine is not None
    info = info_of(head)
    request = parse_request_head(head)
    response = parse_response_head(NGINX)
    url = info.url
    verdict = holder.decide(info)
    assert verdict.allowed, verdict
    kind = infer_type_from_fields(info.method, url, info.headers)
    referer = info.headers.get("referer")
    fresh = iter([f"{url}{'&' if '?' in url else '?'}n={i}" for i in range(6 * n)])
    rows = [
        (f"{name}: decide()", best(lambda: holder.decide(info), n)),
        (f"{name}:   engine.match, a URL asked before", best(lambda: engine.match(url, referer, kind), n)),
        (f"{name}:   engine.match, a URL never asked", best(lambda: engine.match(next(fresh), referer, kind), n)),
        (f"{name}:   request type", best(lambda: infer_type_from_fields(info.method, url, info.headers), n)),
    ]
    edits = verdict.edits
    if edits is not None:
        forwarded = end_to_end(request)
        response_headers = end_to_end(response)
        rows.append((f"{name}: privacy edits, request", best(lambda: edits.request_headers(forwarded), n)))
        rows.append((f"{name}: privacy edits, response", best(lambda: edits.response_headers(response_headers), n)))
    cache = Cache(CacheConfig())

    def cache_pass() -> None:
        with cache.lookup("GET", url, request.headers) as lookup:
            cache.begin_store(lookup, 200, response.headers)

    rows.append((f"{name}: cache lookup + begin_store (not stored)", best(cache_pass, n)))
    rows.append((f"{name}: RequestRecord filled", best(lambda: record_of(info, verdict), n)))
    record = record_of(info, verdict)
    recorder = guardian.ctx.recorder
    rows.append((f"{name}: record() into both queues", best(lambda: recorder.record(record), 2000)))
    rows.append((f"{name}:   the request log's queue alone (FairQueue.put)", queue_cost(record)))
    rows.append((f"{name}: access log line", best(lambda: squid_line(record), n)))
    return rows


def queue_cost(record: RequestRecord, puts: int = 2000) -> float:
    """µs per record queued for the request-log writer, on a fresh queue each round (best of 5)."""
    rounds = []
    for _ in range(5):
        queue: FairQueue[tuple[RequestRecord, str]] = FairQueue(10_000)
        t0 = time.perf_counter()
        for _ in range(puts):
            queue.put(record.client_addr, (record, "full"))
        rounds.append(time.perf_counter() - t0)
    return min(rounds) / puts * 1e6


def access_log_cost(work: Path, record: RequestRecord, batches: int = 40) -> float:
    """CPU µs per line of the access-log writer's pass: 500 queued lines formatted and written."""
    pending = [(record, "full")] * 500
    with (work / "parts-access.log").open("a") as out:
        t0 = time.thread_time()
        for _ in range(batches):
            out.write("".join([squid_line(*entry) for entry in pending]))
            out.flush()
        used = time.thread_time() - t0
    return used / (batches * 500) * 1e6


def writer_cost(work: Path, record: RequestRecord, batches: int = 40) -> float:
    """CPU µs per row of the request-log writer, on its own database file."""
    store = LogStore(work / "parts.db")
    writer: BatchWriter = store._writer
    batch = [(record, "full")] * 500
    t0 = time.thread_time()
    for _ in range(batches):
        writer._write(batch)
    used = time.thread_time() - t0
    store.close()
    return used / (batches * 500) * 1e6


if __name__ == "__main__":
    sys.exit(main())
