"""The byte-bounded LRU: eviction order, the bound, variants, resizing."""

from __future__ import annotations

from dataclasses import replace

from guardian.cache.store import ENTRY_OVERHEAD, Entry, Store


def entry(url: str, size: int = 1000, variant: str | None = None) -> Entry:
    return Entry(url=url, variant=variant, status=200, headers=(), body=b"b" * size, response_time=0.0,
                 initial_age=0.0, lifetime=60.0, shared_with_authorization=False, etag=None, last_modified=None)


def room_for(count: int, size: int = 1000) -> int:
    """A store size holding exactly `count` entries like entry(url 3 chars, size)."""
    return count * (ENTRY_OVERHEAD + 3 + size)


def test_size_counts_body_headers_and_overhead() -> None:
    small = entry("/a", 10)
    bigger = replace(small, headers=(("ETag", '"x"'),))
    assert small.size == ENTRY_OVERHEAD + 2 + 10
    assert bigger.size > small.size + len("ETag") + len('"x"')


def test_least_recently_used_is_evicted_first() -> None:
    store = Store(room_for(3))
    for url in ("/a1", "/b1", "/c1"):
        assert store.put(entry(url))
    assert store.get("/a1", "") is not None  # /a1 becomes the most recent; /b1 the oldest
    store.put(entry("/d1"))
    assert store.get("/b1", "") is None
    assert [store.get(u, "") is not None for u in ("/a1", "/c1", "/d1")] == [True, True, True]
    assert store.snapshot()["evictions"] == 1


def test_the_byte_bound_holds_after_every_put() -> None:
    limit = room_for(10)
    store = Store(limit)
    for n in range(200):
        store.put(entry(f"/{n}", size=500 + n * 7))
        assert store.snapshot()["bytes"] <= limit
    snap = store.snapshot()
    assert snap["entries"] >= 1
    assert snap["evictions"] + snap["entries"] == snap["stored"]


def test_replacing_an_entry_does_not_count_twice() -> None:
    store = Store(room_for(3))
    store.put(entry("/a1", 1000))
    store.put(entry("/a1", 500))
    snap = store.snapshot()
    assert (snap["entries"], snap["bytes"]) == (1, ENTRY_OVERHEAD + 3 + 500)


def test_an_entry_larger_than_the_store_is_refused_without_evicting() -> None:
    store = Store(room_for(2))
    store.put(entry("/a1"))
    assert not store.put(entry("/b1", size=room_for(3)))
    assert store.get("/a1", "") is not None


def test_variants_by_accept_encoding() -> None:
    store = Store(room_for(10))
    store.put(entry("/v", variant="gzip"))
    store.put(entry("/v", variant=""))
    assert store.get("/v", "gzip").variant == "gzip"
    assert store.get("/v", "").variant == ""
    assert store.get("/v", "br") is None
    # The resource stops varying: the plain entry answers everyone, the variants go.
    store.put(entry("/v"))
    assert store.get("/v", "gzip").variant is None
    assert store.snapshot()["entries"] == 1
    # And varies again: the plain entry must not answer for other encodings any more.
    store.put(entry("/v", variant="br"))
    assert store.get("/v", "gzip") is None
    assert store.snapshot()["entries"] == 1


def test_remove_url_drops_every_variant() -> None:
    store = Store(room_for(10))
    store.put(entry("/v", variant="gzip"))
    store.put(entry("/v", variant="br"))
    store.put(entry("/w"))
    store.remove_url("/v")
    assert store.snapshot()["entries"] == 1
    assert store.get("/w", "") is not None


def test_shrinking_evicts_oldest_first_and_clear_empties() -> None:
    store = Store(room_for(5))
    for url in ("/a1", "/b1", "/c1", "/d1", "/e1"):
        store.put(entry(url))
    store.resize(room_for(2))
    assert [store.get(u, "") is not None for u in ("/a1", "/b1", "/c1", "/d1", "/e1")] == [
        False, False, False, True, True]
    assert store.clear() == 2
    assert store.snapshot()["bytes"] == 0


def test_remove_if() -> None:
    store = Store(room_for(5))
    store.put(entry("/a1", 10))
    store.put(entry("/b1", 900))
    store.remove_if(lambda e: len(e.body) > 100)
    assert store.get("/a1", "") is not None and store.get("/b1", "") is None
