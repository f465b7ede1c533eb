"""Guardian's in-memory shared HTTP cache for static assets (RFC 9111, issue #6).

How the proxy core calls it, once the policy has allowed the request (the cache knows
nothing of policy, so a blocked URL is never looked up and never served from here)::

    from guardian.cache import Cache, Outcome, with_x_cache

    cache = Cache(config.cache)                       # one per process; cache.configure() on reload

    with cache.lookup(method, url, head.headers) as lookup:   # may wait for a collapsed fetch
        if lookup.outcome is Outcome.HIT:
            send(lookup.response)                     # status, headers (Age, X-Cache: HIT), body
            return
        upstream_headers = lookup.upstream_headers(head.headers)  # adds validators on REVALIDATE
        resp = forward(method, upstream_headers)      # BYPASS: forward as usual, nothing else
        if lookup.outcome is Outcome.REVALIDATE and resp.status == 304:
            send(cache.revalidated(lookup, resp.headers))   # X-Cache: REVALIDATED
            return
        writer = cache.begin_store(lookup, resp.status, resp.headers)   # None: not stored
        send_head(resp.status, with_x_cache(resp.headers, "MISS"))
        with writer or contextlib.nullcontext():
            for chunk in resp.body.chunks(timeout):
                send_chunk(chunk)
                if writer:
                    writer.write(chunk)               # gives up by itself past max_object_bytes
            if writer and resp.body.complete:
                writer.finish()                       # leaving without finish() aborts

`now` (POSIX seconds) is an optional last argument of lookup, begin_store and
revalidated, for tests; it defaults to `time.time()`. Leaving the `with` blocks early
(an exception, an upstream error) releases requests waiting on this one; a leader that
never returns is outlived by the collapse timeout. A `CachedResponse` always carries
Content-Length and may be a 304 (the client's own conditional matched) or a HEAD
answer: then its body is empty and none must be sent.

Modules: `rules` (RFC 9111 header logic, pure functions), `store` (byte-bounded LRU and
counters), `collapse` (collapsed forwarding), `writer` (streaming store), `cache` (the
object above). See docs/cache.md.
"""

from guardian.cache.cache import COLLAPSE_TIMEOUT, Cache
from guardian.cache.lookup import CachedResponse, Lookup, Outcome
from guardian.cache.rules import with_x_cache
from guardian.cache.writer import Writer

__all__ = ["COLLAPSE_TIMEOUT", "Cache", "CachedResponse", "Lookup", "Outcome", "Writer", "with_x_cache"]
