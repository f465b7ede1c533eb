"""The byte-bounded LRU store of complete responses, and the cache's counters.

Strategy: one `OrderedDict` in recency order (oldest first) gives O(1) lookup, touch
(`move_to_end`), insert and eviction (`popitem(last=False)`). Keys are
`(url, variant)`: variant is None for a response that does not vary, else the
normalised Accept-Encoding it was stored for. A small index `url -> variant keys` (kept
only for varying URLs, as a set costs more than a small object) lets a URL be dropped
with all its variants in O(variants). Entries are immutable, so a reader can
use one after the lock is released while another thread replaces it.

One lock guards the entries, the byte total and the counters; every critical section
is a few dictionary operations: no I/O, no copying of bodies.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

Key = tuple[str, str | None]

# Rough CPython costs, so `max_bytes` bounds memory and not only payload: the entry and
# key objects plus the OrderedDict node, and per header the tuple and two str objects.
ENTRY_OVERHEAD = 512
HEADER_OVERHEAD = 128


@dataclass(frozen=True, slots=True)
class Entry:
    """One stored response with the numbers needed to judge its freshness later."""

    url: str
    variant: str | None  # normalised Accept-Encoding for Vary: Accept-Encoding, else None
    status: int
    headers: tuple[tuple[str, str], ...]  # end-to-end fields incl. Content-Length, no Age
    body: bytes
    response_time: float
    initial_age: float
    lifetime: float
    shared_with_authorization: bool
    etag: str | None
    last_modified: str | None

    @property
    def key(self) -> Key:
        return (self.url, self.variant)

    @property
    def size(self) -> int:
        fields = sum(len(k) + len(v) + HEADER_OVERHEAD for k, v in self.headers)
        return ENTRY_OVERHEAD + len(self.url) + len(self.variant or "") + fields + len(self.body)


class Store:
    """LRU by bytes. `put` evicts the least recently used entries until the total fits."""

    def __init__(self, max_bytes: int) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[Key, Entry] = OrderedDict()
        self._variants: dict[str, set[Key]] = {}
        self._bytes = 0
        self._max_bytes = max_bytes
        self._counters: Counter[str] = Counter()

    def get(self, url: str, variant: str, count_miss: bool = False) -> Entry | None:
        """The entry for `url`: the one that does not vary if there is one, else the
        variant stored for this request's Accept-Encoding. A found entry becomes the
        most recently used. `count_miss`: count "misses" when there is none, under the
        same lock (the commonest lookup takes it once)."""
        entries = self._entries
        with self._lock:
            key: Key = (url, None)
            entry = entries.get(key)
            if entry is None:
                key = (url, variant)
                entry = entries.get(key)
                if entry is None:
                    if count_miss:
                        self._counters["misses"] += 1
                    return None
            entries.move_to_end(key)
            return entry

    def put(self, entry: Entry) -> bool:
        """Store `entry` as most recently used, replacing what it supersedes; False
        when it alone is larger than the whole store."""
        size = entry.size
        with self._lock:
            if size > self._max_bytes:
                return False
            if entry.variant is None:
                # The resource no longer varies: every stored variant is outdated.
                self._drop_url(entry.url)
            else:
                # It varies now: a stored non-varying response must not answer for it.
                self._drop((entry.url, None))
                self._drop(entry.key)
                self._variants.setdefault(entry.url, set()).add(entry.key)
            self._entries[entry.key] = entry
            self._bytes += size
            self._counters["stored"] += 1
            self._evict_to(self._max_bytes)
            return True

    def remove(self, key: Key) -> None:
        with self._lock:
            self._drop(key)

    def remove_url(self, url: str) -> None:
        with self._lock:
            self._drop_url(url)

    def remove_if(self, condition: Callable[[Entry], bool]) -> None:
        """Drop every entry matching `condition`: O(n), for reconfiguration only."""
        with self._lock:
            for key in [k for k, e in self._entries.items() if condition(e)]:
                self._drop(key)

    def resize(self, max_bytes: int) -> None:
        with self._lock:
            self._max_bytes = max_bytes
            self._evict_to(max_bytes)

    def clear(self) -> int:
        """Drop every entry (counters are kept); the number dropped."""
        with self._lock:
            count = len(self._entries)
            self._entries.clear()
            self._variants.clear()
            self._bytes = 0
            return count

    def count(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counters[name] += amount

    def snapshot(self) -> dict[str, int]:
        """The counters with the current size, read consistently."""
        with self._lock:
            return {
                **self._counters,
                "bytes": self._bytes,
                "entries": len(self._entries),
                "max_bytes": self._max_bytes,
            }

    # ---------------------------------------------------------------- under the lock

    def _drop(self, key: Key) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        self._bytes -= entry.size
        if entry.variant is not None:
            keys = self._variants[entry.url]
            keys.discard(key)
            if not keys:
                del self._variants[entry.url]

    def _drop_url(self, url: str) -> None:
        self._drop((url, None))
        for key in list(self._variants.get(url, ())):
            self._drop(key)

    def _evict_to(self, limit: int) -> None:
        while self._bytes > limit and self._entries:
            self._drop(next(iter(self._entries)))
            self._counters["evictions"] += 1
