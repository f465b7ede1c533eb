"""Filling the cache with synthetic objects, for the cache memory tests (tests/cache/test_memory.py).

Strategy: store distinct image URLs through the same public calls the core makes
(lookup, begin_store, write, finish), so the byte accounting under test is the real
one. Each body is a fresh `bytes` object: shared bodies would hide memory growth from
an RSS measurement.
"""

from __future__ import annotations

import time

from guardian.cache.cache import Cache
from guardian.cache.lookup import Outcome

ORIGIN = "http://fill.invalid"


def fill(cache: Cache, total_bytes: int, object_bytes: int = 64 * 1024, now: float | None = None) -> dict[str, int]:
    """Offer `total_bytes` of fresh, storable objects to `cache`; its stats afterwards.
    With `total_bytes` several times `max_bytes`, `stats()["bytes"]` must stay within
    `max_bytes` (the caller measures the process's memory around this)."""
    now = time.time() if now is None else now
    headers = [("Content-Type", "image/png"), ("Cache-Control", "max-age=3600"),
               ("Content-Length", str(object_bytes))]
    for n in range(max(1, total_bytes // object_bytes)):
        lookup = cache.lookup("GET", f"{ORIGIN}/{n}.png", [], now)
        if lookup.outcome is not Outcome.MISS:
            continue
        with lookup:
            writer = cache.begin_store(lookup, 200, headers, now)
            if writer is not None:
                with writer:
                    writer.write(n.to_bytes(8, "big") * (object_bytes // 8) + bytes(object_bytes % 8))
                    writer.finish()
    return cache.stats()
