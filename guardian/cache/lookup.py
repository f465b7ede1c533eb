"""What `Cache.lookup` tells the core, and a response served from the store."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from types import TracebackType

from guardian.cache.collapse import Flight
from guardian.cache.rules import Headers, RequestFacts
from guardian.cache.store import Entry

# Client validators that the cache's own replace when it revalidates an entry.
_CONDITIONALS = frozenset({"if-none-match", "if-modified-since"})


class Outcome(enum.Enum):
    HIT = "HIT"  # answer with `Lookup.response`; nothing goes upstream
    REVALIDATE = "REVALIDATE"  # forward with `upstream_headers()`; a 304 goes to `Cache.revalidated`
    MISS = "MISS"  # forward; the response may be stored through `Cache.begin_store`
    BYPASS = "BYPASS"  # forward; the cache takes no part


@dataclass(slots=True)
class CachedResponse:
    """A response from the store, ready to send: `headers` already carry Content-Length
    (of the full body, also for HEAD and 304), `Age` and `X-Cache`; `body` is empty for
    HEAD and for a 304 answering the client's own conditional request."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(slots=True)
class Lookup:
    """The cache's answer for one request. For MISS and REVALIDATE it also carries what
    `begin_store`/`revalidated` need later; use it as a context manager so a leader that
    fails before storing releases the requests waiting on it."""

    outcome: Outcome
    reason: str  # why, in a word or two, for logs and tests
    method: str = "GET"
    url: str = ""
    request: RequestFacts | None = None
    request_time: float = 0.0
    response: CachedResponse | None = None  # HIT only
    entry: Entry | None = None  # the stored entry this was judged on (REVALIDATE, stale MISS)
    storable: bool = False  # whether begin_store may store the response at all
    flight: Flight | None = field(default=None, repr=False)  # held by a collapsed-forwarding leader

    @property
    def leader(self) -> bool:
        """True while other requests for this key wait for this one's response."""
        return self.flight is not None

    @property
    def conditional_headers(self) -> list[tuple[str, str]]:
        """The validators to send upstream for a REVALIDATE, from the stored entry."""
        if self.outcome is not Outcome.REVALIDATE or self.entry is None:
            return []
        pairs = [("If-None-Match", self.entry.etag), ("If-Modified-Since", self.entry.last_modified)]
        return [(name, value) for name, value in pairs if value is not None]

    def upstream_headers(self, request_headers: Headers) -> list[tuple[str, str]]:
        """The request headers to forward: unchanged, except that for a REVALIDATE the
        client's validators give way to the stored entry's (the client's own condition
        is applied to the refreshed entry by `Cache.revalidated`)."""
        if self.outcome is not Outcome.REVALIDATE:
            return list(request_headers)
        kept = [(k, v) for k, v in request_headers if k.lower() not in _CONDITIONALS]
        return kept + self.conditional_headers

    def release(self) -> None:
        """Let waiting requests go (they fetch for themselves); idempotent."""
        flight, self.flight = self.flight, None
        if flight is not None:
            flight.land()

    def take_flight(self) -> Flight | None:
        """Hand the flight over to a writer, which lands it once the body is stored."""
        flight, self.flight = self.flight, None
        return flight

    def __enter__(self) -> Lookup:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
