"""Fixtures for the log store tests: records, a clock the test moves, polling."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from guardian.logstore import LogStore
from guardian.records import RequestRecord

# 2026-11-25 12:00:00 UTC: a fixed "now" so expected buckets can be written out.
NOW = 1_795_608_000.0
ALL_TIME = 4_000_000_000.0  # an `until` after every test record

_BASE = RequestRecord(
    started=NOW, duration_ms=12.0, client_addr="192.168.1.20", method="GET", scheme="http",
    host="example.com", port=80, target="/index.html?q=1", status=200, bytes_from_client=300,
    bytes_to_client=5000, action="allowed", device="kid-tablet", profile="child",
)


class FakeClock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_record() -> Callable[..., RequestRecord]:
    def make(**changes: object) -> RequestRecord:
        return replace(_BASE, **changes)

    return make


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "guardian.db"


@pytest.fixture
def store(db_path: Path, clock: FakeClock) -> Iterator[LogStore]:
    # A short flush interval keeps the tests quick; batching has its own tests.
    with LogStore(db_path, clock=clock, flush_interval=0.02) as opened:
        yield opened


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.005)


@pytest.fixture
def wait() -> Callable[..., None]:
    return wait_until


@pytest.fixture
def flushed(wait: Callable[..., None]) -> Callable[[LogStore, int], None]:
    """Wait until the store's database holds `n` raw rows."""

    def check(store: LogStore, n: int) -> None:
        wait(lambda: store.queries.totals(0, ALL_TIME).requests >= n)

    return check
