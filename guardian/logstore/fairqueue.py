"""The record queue between the proxy and the log writer, shared fairly by devices.

Strategy: one bounded queue, kept as one FIFO per client address plus a global
sequence number, so the writer still takes records in arrival order. When the queue is
full, the record dropped is one of the device holding the most queued records: a
device flooding the proxy loses its own records first, and everyone else's keep being
logged. `put` never blocks, so the proxy never waits on the log.
"""

from __future__ import annotations

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
        """Up to `limit` records in arrival order, without waiting."""
        out: list[T] = []
        with self._lock:
            queues = self._by_client
            while queues and len(out) < limit:
                if len(queues) == 1:
                    client, only = next(iter(queues.items()))
                    while only and len(out) < limit:
                        out.append(only.popleft()[1])
                else:
                    client = min(queues, key=lambda key: queues[key][0][0])
                    out.append(queues[client].popleft()[1])
                if not queues[client]:
                    del queues[client]
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
