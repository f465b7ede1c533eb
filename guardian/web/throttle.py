"""Lock an address out after repeated failed logins.

Strategy: per client address, the times of its recent failures. The fifth failure
within `LOCKOUT_SECONDS` locks the address for `LOCKOUT_SECONDS` from that moment, and
while locked even the right password is refused (429), so guessing costs fifteen
minutes per five tries. A success clears the address's record. The table lives in
memory and is bounded: past `max_addresses` the least recently failing address goes,
so a flood of addresses cannot grow it without limit.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

MAX_FAILURES = 5
LOCKOUT_SECONDS = 15 * 60


@dataclass
class _Record:
    failures: list[float] = field(default_factory=list)
    locked_until: float = 0.0


class LoginThrottle:
    def __init__(self, clock: Callable[[], float] = time.monotonic, max_addresses: int = 10_000) -> None:
        self.clock = clock
        self._max = max_addresses
        self._records: OrderedDict[str, _Record] = OrderedDict()
        self._lock = threading.Lock()

    def locked_for(self, address: str) -> float:
        """Seconds until `address` may try again; 0 when it may now."""
        with self._lock:
            record = self._records.get(address)
            return max(0.0, record.locked_until - self.clock()) if record else 0.0

    def failed(self, address: str) -> None:
        now = self.clock()
        with self._lock:
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
