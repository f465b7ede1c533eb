"""Storing a body while it streams to the client.

Strategy: the core keeps streaming to the client and hands each piece to `write`; the
writer only collects references to the pieces (no copy until `finish` joins them). It
gives up silently, dropping what it holds, as soon as the body passes the object limit,
so a large object costs the cache nothing and the client never notices. Only `finish`
after a complete body commits; leaving the `with` block without `finish` (an exception,
a client gone, an early return) aborts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from types import TracebackType

from guardian.cache.collapse import Flight
from guardian.cache.store import Entry


class Writer:
    """Collects one response body and commits it to the store when complete."""

    def __init__(
        self,
        template: Entry,
        limit: int,
        expected_length: int | None,
        commit: Callable[[Entry], bool],
        flight: Flight | None,
    ) -> None:
        self._template = template  # the entry to store, body still empty
        self._limit = limit
        self._expected = expected_length  # Content-Length, when the response had one
        self._commit = commit
        self._flight = flight
        self._chunks: list[bytes] = []
        self._size = 0
        self._active = True

    @property
    def active(self) -> bool:
        """False once the writer has finished or given up; `write` then does nothing."""
        return self._active

    def write(self, chunk: bytes) -> None:
        if not self._active:
            return
        self._size += len(chunk)
        if self._size > self._limit or (self._expected is not None and self._size > self._expected):
            self.abort()
            return
        self._chunks.append(bytes(chunk))

    def finish(self) -> bool:
        """Commit the body; call only after it ended cleanly (Content-Length reached,
        last chunk read, or a close-delimited body read to its end). True if stored."""
        if not self._active:
            return False
        self._active = False
        body, self._chunks = b"".join(self._chunks), []
        stored = False
        if self._expected is None or len(body) == self._expected:
            headers = (*self._template.headers, ("Content-Length", str(len(body))))
            stored = self._commit(replace(self._template, headers=headers, body=body))
        self._land()  # after the commit, so released followers find the entry
        return stored

    def abort(self) -> None:
        """Give up: nothing is stored and waiting requests fetch for themselves."""
        self._active = False
        self._chunks = []
        self._land()

    def _land(self) -> None:
        flight, self._flight = self._flight, None
        if flight is not None:
            flight.land()

    def __enter__(self) -> Writer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._active:
            self.abort()
