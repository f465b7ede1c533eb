"""Fixtures for the cache tests: a fake origin that counts its fetches, and `exchange`,
which drives the cache exactly as the proxy core does (see guardian/cache/__init__.py).
Test modules get these as fixtures (importing a conftest is fragile with several of
them in the tree) and keep their own small constants; times are POSIX seconds around
T0 = 1_700_000_000."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from guardian.cache import Cache, Outcome, with_x_cache
from guardian.cache.rules import header
from guardian.config import CacheConfig

T0 = 1_700_000_000.0  # the fake clock's start; tests pass `now` explicitly


@dataclass
class Resource:
    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b"x" * 100
    chunk: int = 1024  # piece size when streaming
    complete: bool = True  # False: the connection breaks before the body ends


class Origin:
    """A fake upstream: resources by URL, a count of requests, and RFC 9110 conditional
    handling (If-None-Match against ETag, If-Modified-Since against Last-Modified)."""

    def __init__(self) -> None:
        self.resources: dict[str, Resource] = {}
        self.requests: list[tuple[str, str, list[tuple[str, str]]]] = []
        self.delay: threading.Event | None = None  # when set, fetches wait for it
        self._lock = threading.Lock()

    @property
    def hits(self) -> int:
        return len(self.requests)

    def serve(self, url: str, *headers: tuple[str, str], body: bytes = b"x" * 100, status: int = 200,
              **options: object) -> Resource:
        resource = Resource(status, list(headers), body, **options)  # type: ignore[arg-type]
        self.resources[url] = resource
        return resource

    def fetch(self, method: str, url: str, headers: list[tuple[str, str]]) -> tuple[int, list, list[bytes], bool]:
        with self._lock:
            self.requests.append((method, url, headers))
        if self.delay is not None:
            self.delay.wait(5)
        res = self.resources[url]
        etag, modified = header(res.headers, "etag"), header(res.headers, "last-modified")
        inm, ims = header(headers, "if-none-match"), header(headers, "if-modified-since")
        if res.status == 200 and ((inm and etag and inm == etag) or (not inm and ims and modified == ims)):
            kept = [(k, v) for k, v in res.headers if k.lower() != "content-length"]
            return 304, kept, [], True
        body = b"" if method == "HEAD" else res.body
        pieces = [body[i:i + res.chunk] for i in range(0, len(body), res.chunk)]
        if not res.complete:
            pieces = pieces[: len(pieces) // 2]
        return res.status, list(res.headers), pieces, res.complete


@dataclass
class Result:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    outcome: Outcome

    @property
    def x_cache(self) -> str | None:
        return header(self.headers, "x-cache")

    def get(self, name: str) -> str | None:
        return header(self.headers, name.lower())


def exchange(cache: Cache, origin: Origin, url: str, *headers: tuple[str, str], method: str = "GET",
             now: float = T0) -> Result:
    """One request through the cache, as the core does it: lookup, then a hit, or a
    forward with revalidation or storing while streaming."""
    with cache.lookup(method, url, list(headers), now) as lookup:
        if lookup.outcome is Outcome.HIT:
            assert lookup.response is not None
            r = lookup.response
            return Result(r.status, r.headers, r.body, lookup.outcome)
        status, resp_headers, pieces, complete = origin.fetch(method, url, lookup.upstream_headers(list(headers)))
        if lookup.outcome is Outcome.REVALIDATE and status == 304:
            r = cache.revalidated(lookup, resp_headers, now)
            return Result(r.status, r.headers, r.body, lookup.outcome)
        writer = cache.begin_store(lookup, status, resp_headers, now)
        sent = []
        with writer or contextlib.nullcontext():
            for piece in pieces:
                sent.append(piece)
                if writer:
                    writer.write(piece)
            if writer and complete:
                writer.finish()
        return Result(status, with_x_cache(resp_headers, "MISS"), b"".join(sent), lookup.outcome)


@pytest.fixture
def origin() -> Origin:
    return Origin()


@pytest.fixture
def cache() -> Cache:
    return Cache(CacheConfig(max_bytes=1 << 20, max_object_bytes=1 << 16), collapse_timeout=5.0)


@pytest.fixture(name="exchange")
def exchange_fixture() -> Callable[..., Result]:
    """`exchange(cache, origin, url, *request_headers, method="GET", now=T0)`."""
    return exchange
