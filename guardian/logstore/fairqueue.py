"""The record queue between the proxy and the log writer, shared fairly by devices.

Strategy: one bounded queue, kept as one FIFO per client address plus a global
sequence number, so the writer still takes records in arrival order. When the queue is
full, the record dropped is one of the device holding the most queued records: a
device flooding the proxy loses its own records first, and everyone else's keep being
logged. `put` never blocks, so the proxy never waits on the log.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class FairQueue(Generic[T]):
    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._by_client: dict[str, deque[tuple[int, T]]] = {}
        self._size = 0
        self._seq = 0
        self._stopped = False
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)

    def __len__(self) -> int:
        return self._size

    def put(self, client: str, item: T) -> int:
        """Queue `item` for `client`; returns how many records were dropped to make room (0 or 1)."""
        with self._lock:
            mine = self._by_client.get(client)
            if self._size >= self.maxsize:
                heaviest = max(self._by_client, key=lambda key: len(self._by_client[key]), default=None)
                if heaviest is None or heaviest == client or len(self._by_client[heaviest]) <= len(mine or ()) + 1:
                    return 1
                # The flooder's newest record goes, so the newcomer's fits.
                flooder = self._by_client[heaviest]
                flooder.pop()
                if not flooder:
                    del self._by_client[heaviest]
                self._size -= 1
                dropped = 1
            else:
                dropped = 0
            if mine is None:
                mine = self._by_client[client] = deque()
            self._seq += 1
            mine.append((self._seq, item))
            self._size += 1
            if self._size == 1:
                self._ready.notify()
            return dropped

    def take(self, limit: int) -> list[T]:
        """Up to `limit` records in arrival order, without waiting. Proxy threads wait for
        this lock to queue, so it is held for bulk operations only: one device's records
        leave in one slice, several devices' by merging their queues on the sequence number
        (O(log devices) a record, not a scan of every device per record)."""
        with self._lock:
            queues = self._by_client
            if not queues or limit <= 0:
                return []
            if len(queues) == 1:
                client, only = next(iter(queues.items()))
                if len(only) <= limit:
                    out = [item for _, item in only]
                    del queues[client]
                else:
                    out = [only.popleft()[1] for _ in range(limit)]
            else:
                # Each queue is in arrival order and sequence numbers are unique, so the
                # merge never compares two items.
                picked = list(itertools.islice(heapq.merge(*queues.values()), limit))
                last = picked[-1][0]
                for client in list(queues):
                    mine = queues[client]
                    while mine and mine[0][0] <= last:
                        mine.popleft()
                    if not mine:
                        del queues[client]
                out = [item for _, item in picked]
            self._size -= len(out)
        return out

    def wait(self) -> bool:
        """Block until something is queued or `stop()` was called; False once stopped and empty."""
        with self._lock:
            while not self._size and not self._stopped:
                self._ready.wait()
            return bool(self._size)

    @property
    def stopped(self) -> bool:
        return self._stopped

    def stop(self) -> None:
        """Wake the writer for the last time: it writes what is queued, then ends."""
        with self._lock:
            self._stopped = True
            self._ready.notify_all()
