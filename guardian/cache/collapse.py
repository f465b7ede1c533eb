"""Collapsed forwarding: one upstream fetch per key while it is in flight.

Strategy: the first request that misses on a key registers a `Flight` and fetches (the
leader); later requests for the key find the flight and wait on its event (followers).
The leader lands the flight once the outcome is known: right after storing the body,
or as soon as it knows the response will not be stored (then followers fetch for
themselves without waiting for the body).

Most fetches are never waited for (one request per URL at a time), so a flight is a
plain record until a follower joins: the event followers sleep on is made then, and a
leader that lands a flight nobody joined wakes no one.

A leader that dies without landing must not block the key for ever: every flight has a
deadline, a follower waits at most its own timeout, and a flight past its deadline is
replaced by the next request, which becomes the new leader.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable


class Flight:
    """One in-progress fetch that others may wait for."""

    __slots__ = ("_done", "_registry", "deadline", "key")

    def __init__(self, registry: Flights, key: Hashable, deadline: float) -> None:
        self._registry = registry
        self._done: threading.Event | None = None  # made by the first follower, under the registry's lock
        self.key = key
        self.deadline = deadline  # time.monotonic() after which the leader counts as dead

    def wait(self, timeout: float) -> bool:
        """Block until the leader lands; False on timeout. Only for a flight `join` gave
        a follower (which made its event)."""
        assert self._done is not None
        return self._done.wait(timeout)

    def land(self) -> None:
        """Release the followers; idempotent, safe from any thread."""
        done = self._registry.forget(self)
        if done is not None:
            done.set()


class Flights:
    """The registry of flights in progress, by key."""

    def __init__(self, ttl: float) -> None:
        self._lock = threading.Lock()
        self._flights: dict[Hashable, Flight] = {}
        self.ttl = ttl

    def join(self, key: Hashable) -> tuple[Flight, bool]:
        """The flight for `key` and whether the caller leads it (and must land it)."""
        now = time.monotonic()
        with self._lock:
            flight = self._flights.get(key)
            if flight is not None and flight.deadline > now:
                if flight._done is None:
                    flight._done = threading.Event()
                return flight, False
            flight = Flight(self, key, now + self.ttl)
            self._flights[key] = flight
            return flight, True

    def forget(self, flight: Flight) -> threading.Event | None:
        """Take `flight` out of the registry; the event its followers wait on, if any."""
        with self._lock:
            # A late landing of an expired flight must not remove its successor.
            if self._flights.get(flight.key) is flight:
                del self._flights[flight.key]
            return flight._done

    def __len__(self) -> int:
        with self._lock:
            return len(self._flights)
