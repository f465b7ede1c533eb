"""The cache object the proxy core talks to: lookup, store, revalidate, count.

Strategy: `lookup` reads the request once, finds the stored entry (plain, or the
variant for this Accept-Encoding) and judges it with `rules`; concurrent misses on one
key are collapsed there, so followers simply get a HIT (or, after a timeout or a
failed leader, a plain MISS to fetch themselves). `begin_store` decides storability
from the response head alone and returns a `Writer` that commits the body when it is
complete. Everything here is in memory; nothing blocks except a follower's bounded
wait for its leader.
"""

from __future__ import annotations

import time
from email.utils import formatdate

from guardian.cache import rules
from guardian.cache.collapse import Flights
from guardian.cache.lookup import CachedResponse, Lookup, Outcome
from guardian.cache.rules import ContentTypes, Headers, RequestFacts, ResponseFacts
from guardian.cache.store import Entry, Store
from guardian.cache.writer import Writer
from guardian.config import CacheConfig
from guardian.memo import remember

COLLAPSE_TIMEOUT = 30.0  # seconds a follower waits for its leader's response
# A URL whose last answer could not be stored is fetched without a collapsed-forwarding
# flight for this long: nobody would be served by waiting for it. Bounded in entries.
UNSTORABLE_SECONDS = 60.0
UNSTORABLE_MAX = 4096
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# The outcomes every request's path compares with, read once: `Outcome.MISS` is a lookup
# through the enum's class (about 40 ns) each time it is written.
_MISS, _REVALIDATE = Outcome.MISS, Outcome.REVALIDATE


class Cache:
    """A shared in-memory HTTP cache (RFC 9111) for static assets; thread-safe."""

    def __init__(self, config: CacheConfig | None = None, collapse_timeout: float = COLLAPSE_TIMEOUT) -> None:
        self._config = config or CacheConfig()
        self._content_types = ContentTypes.of(self._config.content_types)
        self._store = Store(self._config.max_bytes)
        self._flights = Flights(ttl=collapse_timeout)
        self.collapse_timeout = collapse_timeout
        self._unstorable: dict[str, float] = {}  # key URL -> time.monotonic() until which it is not collapsed

    @property
    def config(self) -> CacheConfig:
        return self._config

    def configure(self, config: CacheConfig) -> None:
        """Apply a new configuration live: a smaller store evicts, entries the new
        rules would not store are dropped, and disabling empties the cache."""
        self._content_types = ContentTypes.of(config.content_types)
        self._config = config
        if not config.enabled:
            self._store.clear()
            return
        self._store.resize(config.max_bytes)
        self._store.remove_if(
            lambda e: len(e.body) > config.max_object_bytes
            or not self._content_types.allows(rules.header(e.headers, "content-type"))
        )

    # ---------------------------------------------------------------- the request

    def lookup(self, method: str, url: str, request_headers: Headers, now: float | None = None,
               connect_to: str | None = None) -> Lookup:
        """Judge a request the policy has already allowed. May block up to
        `collapse_timeout` while another request fetches the same object. `connect_to`
        names the host really connected to when it is not the URL's (safe search): what
        it answers is kept apart from what the URL's own host answers."""
        now = time.time() if now is None else now
        method = method.upper()
        if not self._config.enabled:
            return self._bypass("disabled")
        key_url = rules.cache_url(url)
        if connect_to:
            key_url += f" {connect_to}"  # a space never occurs in a URL: no key can collide
        if method not in ("GET", "HEAD"):
            if method not in _SAFE_METHODS:
                # RFC 9111 §4.4: a change through this URL outdates what is stored for it.
                self._store.remove_url(key_url)
            return self._bypass("method")
        request = RequestFacts.read(request_headers)
        if request.ranged:
            return self._bypass("range")  # only whole bodies are stored and served
        # A fetch that cannot fill the cache for everyone is not worth waiting for;
        # a client's no-cache asks for its own validation.
        # Nor is one whose URL answered with something unstorable a moment ago.
        collapsible = method == "GET" and not (request.no_cache or request.no_store or request.authorized) \
            and not self._recently_unstorable(key_url)
        waited = False
        while True:
            # The commonest answer (nothing stored, nobody to wait for) is found and
            # counted in one call, without the judging.
            entry = self._store.get(key_url, request.accept_encoding, count_miss=not collapsible)
            if entry is None and not collapsible:
                return self._miss(method, key_url, request, now)
            found = self._judge(method, key_url, request, entry, now)
            if found.outcome is Outcome.HIT or not collapsible or waited:
                return self._counted(found, collapsed=waited)
            flight, leader = self._flights.join((key_url, request.accept_encoding))
            if leader:
                # The previous leader may have stored and landed between get() and join().
                entry = self._store.get(key_url, request.accept_encoding)
                found = self._judge(method, key_url, request, entry, now)
                if found.outcome is Outcome.HIT:
                    flight.land()
                else:
                    found.flight = flight
                return self._counted(found, collapsed=False)
            waited = True
            if not flight.wait(self.collapse_timeout):
                return self._counted(found, collapsed=False)  # leader too slow: fetch alone

    def _recently_unstorable(self, key_url: str) -> bool:
        until = self._unstorable.get(key_url)
        if until is None:
            return False
        if until > time.monotonic():
            return True
        self._unstorable.pop(key_url, None)
        return False

    def _note_unstorable(self, key_url: str) -> None:
        remember(self._unstorable, key_url, time.monotonic() + UNSTORABLE_SECONDS, UNSTORABLE_MAX)

    @staticmethod
    def _miss(method: str, url: str, request: RequestFacts, now: float) -> Lookup:
        # Positional: a third of the cost of the same call with keywords, on every miss.
        return Lookup(_MISS, "not stored", method, url, request, now, None, None,
                      method == "GET" and not request.no_store)

    def _judge(self, method: str, url: str, request: RequestFacts, entry: Entry | None, now: float) -> Lookup:
        if entry is None:  # most lookups: no closure for them
            return self._miss(method, url, request, now)

        def outcome(kind: Outcome, reason: str, judged: Entry | None = None) -> Lookup:
            return Lookup(kind, reason, method=method, url=url, request=request, request_time=now,
                          entry=judged, storable=method == "GET" and not request.no_store)

        if request.authorized and not entry.shared_with_authorization:
            return outcome(Outcome.MISS, "authorization")
        age = rules.current_age(entry.initial_age, entry.response_time, now)
        fresh = age + request.min_fresh < entry.lifetime
        if fresh and not request.no_cache and (request.max_age is None or age <= request.max_age):
            response = self._respond(entry, request, method, now, "HIT")
            return Lookup(Outcome.HIT, "fresh", method=method, url=url, request=request, request_time=now,
                          response=response)
        # Stale, no-cache, or the client insists: never served without validation, which
        # is also all that must-revalidate asks of a cache that never serves stale.
        if entry.etag is None and entry.last_modified is None:
            return outcome(Outcome.MISS, "stale", entry)
        return outcome(Outcome.REVALIDATE, "no-cache" if fresh else "stale", entry)

    def _counted(self, found: Lookup, collapsed: bool) -> Lookup:
        if found.outcome is Outcome.HIT:
            assert found.response is not None
            self._store.count("hits")
            self._store.count("bytes_served", len(found.response.body))
            if collapsed:
                self._store.count("collapsed")
        elif found.outcome is Outcome.MISS:
            self._store.count("misses")
        return found

    def _bypass(self, reason: str) -> Lookup:
        self._store.count("bypasses")
        return Lookup(Outcome.BYPASS, reason)

    # ---------------------------------------------------------------- the response

    def begin_store(
        self, lookup: Lookup, status: int, response_headers: Headers, now: float | None = None
    ) -> Writer | None:
        """Decide from the response head whether to store the body; a Writer to feed
        it to, or None. A None releases any requests waiting on this one at once."""
        outcome = lookup.outcome
        if outcome is not _MISS and outcome is not _REVALIDATE:
            return None
        request = lookup.request
        assert request is not None
        if outcome is _REVALIDATE:
            self._store.count("misses")  # the validation failed: a full response came back
        config = self._config
        facts = None
        received = 0.0
        if not (lookup.storable and config.enabled):
            reason: str | None = "not storable"
        else:
            reason = rules.quick_refusal(status, response_headers, self._content_types)
            if reason is None:
                received = time.time() if now is None else now  # only a candidate for storing needs it
                facts = ResponseFacts.read(status, response_headers, lookup.request_time, received)
                reason = rules.uncacheable_reason(status, response_headers, facts, request.authorized, config)
            if reason is not None:
                self._note_unstorable(lookup.url)
        if reason is not None or facts is None:
            if lookup.entry is not None and status < 500 and status != 304:
                self._store.remove(lookup.entry.key)  # superseded by this newer response
            lookup.release()
            return None
        self._unstorable.pop(lookup.url, None)
        template = Entry(
            url=lookup.url,
            variant=request.accept_encoding if facts.varies_on_encoding else None,
            status=status,
            headers=tuple(rules.stored_headers(response_headers)),
            body=b"",
            response_time=received,
            initial_age=facts.initial_age,
            lifetime=facts.lifetime,
            shared_with_authorization=facts.shared_with_authorization,
            etag=facts.etag,
            last_modified=facts.last_modified,
        )
        length = rules.header(response_headers, "content-length")
        expected = int(length) if length is not None and length.strip().isdigit() else None
        return Writer(template, config.max_object_bytes, expected, self._commit, lookup.take_flight())

    def _commit(self, entry: Entry) -> bool:
        config = self._config  # re-read: the configuration may have changed meanwhile
        if not config.enabled or len(entry.body) > config.max_object_bytes:
            return False
        return self._store.put(entry)

    def revalidated(self, lookup: Lookup, response_headers: Headers, now: float | None = None) -> CachedResponse:
        """A 304 answered a REVALIDATE: refresh the stored entry's headers and freshness
        (RFC 9111 §4.3.4) and return the stored response, marked REVALIDATED."""
        now = time.time() if now is None else now
        entry, request = lookup.entry, lookup.request
        if lookup.outcome is not Outcome.REVALIDATE or entry is None or request is None:
            raise ValueError("revalidated() needs the Lookup of a REVALIDATE")
        if rules.header(response_headers, "date") is None:
            # Without it the stored Date would make the refreshed entry look old at once.
            response_headers = [*response_headers, ("Date", formatdate(now, usegmt=True))]
        headers = rules.merge_not_modified(entry.headers, response_headers)
        # Age is not stored with the headers, but the 304's own Age counts (§4.2.3).
        age = [(k, v) for k, v in response_headers if k.lower() == "age"]
        facts = ResponseFacts.read(entry.status, [*headers, *age], lookup.request_time, now)
        refreshed = Entry(
            url=entry.url,
            variant=entry.variant,
            status=entry.status,
            headers=tuple(headers),
            body=entry.body,
            response_time=now,
            initial_age=facts.initial_age,
            lifetime=facts.lifetime,
            shared_with_authorization=facts.shared_with_authorization,
            etag=facts.etag,
            last_modified=facts.last_modified,
        )
        if "no-store" in facts.directives or "private" in facts.directives:
            self._store.remove(entry.key)
        elif self._config.enabled:
            self._store.put(refreshed)
        lookup.release()
        response = self._respond(refreshed, request, lookup.method, now, "REVALIDATED")
        self._store.count("revalidations")
        self._store.count("bytes_served", len(response.body))
        return response

    def _respond(self, entry: Entry, request: RequestFacts, method: str, now: float, label: str) -> CachedResponse:
        age = int(rules.current_age(entry.initial_age, entry.response_time, now))
        extra = [("Age", str(age)), ("X-Cache", label)]
        if rules.client_not_modified(request, entry.etag, entry.last_modified):
            return CachedResponse(304, rules.not_modified_headers(entry.headers) + extra, b"")
        body = b"" if method == "HEAD" else entry.body
        return CachedResponse(entry.status, [*entry.headers, *extra], body)

    # ---------------------------------------------------------------- administration

    def stats(self) -> dict[str, int]:
        """Counters since start: hits, misses, revalidations, bypasses, collapsed
        (followers served by their leader's fetch), stored, bytes_served, evictions; and
        the current bytes, entries and max_bytes."""
        counters = dict.fromkeys(
            ("hits", "misses", "revalidations", "bypasses", "collapsed", "stored", "bytes_served", "evictions"), 0
        )
        counters.update(self._store.snapshot())
        return counters

    def clear(self) -> int:
        """Empty the cache; the number of entries dropped."""
        return self._store.clear()
