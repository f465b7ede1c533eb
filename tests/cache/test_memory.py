"""The byte bound under a flood, as the memory benchmark will run it."""

from __future__ import annotations

import gc
import tracemalloc

import pytest

from guardian.cache import Cache
from guardian.config import CacheConfig
from tests.support.cache_fill import fill

T0 = 1_700_000_000.0
MAX_BYTES = 4 * 2**20


def test_filling_ten_times_max_bytes_stays_within_max_bytes() -> None:
    cache = Cache(CacheConfig(max_bytes=MAX_BYTES, max_object_bytes=256 * 1024))
    stats = fill(cache, 10 * MAX_BYTES, object_bytes=64 * 1024, now=T0)
    assert stats["bytes"] <= MAX_BYTES
    assert stats["entries"] >= MAX_BYTES // (64 * 1024) - 2  # evicts only what it must
    assert stats["evictions"] == stats["stored"] - stats["entries"]


@pytest.mark.parametrize("object_bytes", [128, 4096])
def test_accounted_bytes_cover_what_python_really_holds(object_bytes: int) -> None:
    # With tiny objects the per-entry and per-header overheads dominate the payload;
    # the estimate in store.py must still cover the real allocations.
    limit = 128 * 1024
    fill(Cache(CacheConfig(max_bytes=2**16, max_object_bytes=2**12)), 2**18, 1024, now=T0)  # one-time costs
    cache = Cache(CacheConfig(max_bytes=limit, max_object_bytes=2**16))
    gc.collect()
    tracemalloc.start()
    try:
        fill(cache, 2 * limit, object_bytes=object_bytes, now=T0)
        gc.collect()
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert cache.stats()["bytes"] <= limit
    assert held <= 1.1 * limit
