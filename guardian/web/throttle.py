"""Lock an address out after repeated failed logins.

Strategy: per client address, the times of its recent failures. The fifth failure
within `LOCKOUT_SECONDS` locks the address for `LOCKOUT_SECONDS` from that moment, and
while locked even the right password is refused (429), so guessing costs fifteen
minutes per five tries. A success clears the address's record. The table lives in
memory and is bounded: past `max_addresses` the least recently failing address goes,
so a flood of addresses cannot grow it without limit.

Spreading guesses over many addresses (IPv6 gives a device plenty) is bounded too: after
`MAX_FAILURES_PER_HOUR` failures in the last hour from anywhere, every login waits until
the oldest of them is an hour old. Setting the password (here or with `guardian
set-password` from the shell) lifts every lockout: whoever can do that owns the house.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

MAX_FAILURES = 5
LOCKOUT_SECONDS = 15 * 60
MAX_FAILURES_PER_HOUR = 50
HOUR = 3600.0


@dataclass
class _Record:
    failures: list[float] = field(default_factory=list)
    locked_until: float = 0.0


class LoginThrottle:
    def __init__(self, clock: Callable[[], float] = time.monotonic, max_addresses: int = 10_000) -> None:
        self.clock = clock
        self._max = max_addresses
        self._records: OrderedDict[str, _Record] = OrderedDict()
        self._recent: deque[float] = deque()  # every failure of the last hour, oldest first
        self._generation: str | None = None
        self._lock = threading.Lock()

    def password_is(self, generation: str | None) -> None:
        """Lift every lockout when the password changed since the last call."""
        with self._lock:
            if generation != self._generation:
                self._generation = generation
                self._records.clear()
                self._recent.clear()

    def locked_for(self, address: str) -> float:
        """Seconds until `address` may try again; 0 when it may now."""
        now = self.clock()
        with self._lock:
            while self._recent and self._recent[0] <= now - HOUR:
                self._recent.popleft()
            everyone = self._recent[0] + HOUR - now if len(self._recent) >= MAX_FAILURES_PER_HOUR else 0.0
            record = self._records.get(address)
            return max(0.0, everyone, record.locked_until - now if record else 0.0)

    def failed(self, address: str) -> None:
        now = self.clock()
        with self._lock:
            self._recent.append(now)
            while len(self._recent) > MAX_FAILURES_PER_HOUR:
                self._recent.popleft()
            record = self._records.pop(address, None) or _Record()
            record.failures = [t for t in record.failures if t > now - LOCKOUT_SECONDS] + [now]
            if len(record.failures) >= MAX_FAILURES:
                record.failures.clear()
                record.locked_until = now + LOCKOUT_SECONDS
            self._records[address] = record  # re-inserted last: the most recent
            while len(self._records) > self._max:
                self._records.popitem(last=False)

    def succeeded(self, address: str) -> None:
        with self._lock:
            self._records.pop(address, None)
