"""Read side of the log: the figures and lists the settings page and the CLI show.

Combining raw rows and roll-ups. A period [since, until) is cut into whole UTC hours in
the middle and partial hours at its two edges. For the whole hours the count is the
roll-up rows plus the raw rows not yet rolled up (id > rolled_id); that is exact
whether the raw rows have expired or not, and cheap because the roll-ups are small and
the unrolled tail is at most a few minutes of traffic. The partial edge hours come from
raw rows (so an edge older than keep_days counts only what is still there).

Lists of requests (search, a device's recent requests, "why was this blocked") come
from raw rows only: roll-ups have no individual requests.

Every call opens its own short read transaction, so readers are thread-safe, see one
consistent snapshot, and never wait for the writer (WAL).
"""

from __future__ import annotations

import math
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path
from typing import Literal

from guardian.logstore.database import connect, schema_version
from guardian.logstore.privacy import ROW_COLUMNS
from guardian.logstore.rollup import rolled_id
from guardian.logstore.schema import LATEST_VERSION
from guardian.logstore.timebuckets import HOUR, Bucket, bucket_index, bucket_starts

HostKind = Literal["blocked", "allowed"]


class LogUnavailableError(Exception):
    """There is no log database to read, or it is not one this code can read."""


@dataclass(frozen=True, slots=True)
class Totals:
    requests: int
    allowed: int
    blocked: int
    cached: int
    errors: int
    bytes_to_client: int
    bytes_from_client: int

    @property
    def share_blocked(self) -> float:
        return self.blocked / self.requests if self.requests else 0.0


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    start: float  # Unix time the bucket starts
    requests: int
    blocked: int


@dataclass(frozen=True, slots=True)
class HostCount:
    host: str
    requests: int


@dataclass(frozen=True, slots=True)
class DeviceCount:
    device: str | None  # None: requests no device was recognised for
    requests: int
    blocked: int
    bytes_to_client: int


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    """One stored request; host, target, client_addr, reason and rule may be None
    depending on the privacy level (`detail`) it was recorded under."""

    id: int
    started: float
    duration_ms: float
    client_addr: str | None
    device: str | None
    profile: str | None
    method: str | None
    scheme: str | None
    host: str | None
    port: int | None
    target: str | None
    status: int
    bytes_from_client: int
    bytes_to_client: int
    action: str
    reason: str | None
    rule: str | None
    list_id: str | None
    schedule: str | None
    error_kind: str | None
    cache: str | None
    detail: str
    times: int = 1  # identical blocked requests this row stands for


@dataclass(frozen=True, slots=True)
class Page:
    records: list[LoggedRequest]
    next_before_id: int | None  # pass as before_id for the next (older) page; None: no more


@dataclass(frozen=True, slots=True)
class BlockExplanation:
    record: LoggedRequest
    summary: str  # one sentence for people


@dataclass(frozen=True, slots=True)
class _Period:
    """[since, until) cut into whole UTC hours and raw-only partial edges."""

    hours_from: int
    hours_to: int  # == hours_from when there is no whole hour
    edges: tuple[tuple[float, float], ...]

    @classmethod
    def of(cls, since: float, until: float) -> _Period:
        first = math.ceil(since / HOUR) * HOUR
        last = math.floor(until / HOUR) * HOUR
        if first >= last:
            return cls(0, 0, ((since, until),) if since < until else ())
        edges = tuple(edge for edge in ((since, first), (last, until)) if edge[0] < edge[1])
        return cls(first, last, edges)


def _union(period: _Period, rolled: int, hourly: str, raw: str, extra: tuple = ()) -> tuple[str, list]:
    """UNION ALL of the roll-up part and the raw parts of one aggregate.

    `hourly` and `raw` are SELECTs whose WHERE clause begins with `{range}`; `extra` are
    the parameters of whatever follows it, the same for both.
    """
    parts: list[str] = []
    params: list = []
    if period.hours_from < period.hours_to:
        parts.append(hourly.format(range="hour >= ? AND hour < ?"))
        params += [period.hours_from, period.hours_to, *extra]
        # Unary + keeps SQLite off the started index here: the unrolled tail is found by
        # its id range, whereas the index would walk every row of a long period.
        parts.append(raw.format(range="id > ? AND +started >= ? AND +started < ?"))
        params += [rolled, period.hours_from, period.hours_to, *extra]
    for lo, hi in period.edges:
        parts.append(raw.format(range="started >= ? AND started < ?"))
        params += [lo, hi, *extra]
    if not parts:  # empty period: a part that yields nothing keeps the SQL valid
        parts.append(raw.format(range="0"))
        params += list(extra)
    return " UNION ALL ".join(parts), params


_TOTALS_HOURLY = """SELECT SUM(requests) AS requests, SUM(allowed) AS allowed, SUM(blocked) AS blocked,
    SUM(cached) AS cached, SUM(errors) AS errors, SUM(bytes_to_client) AS to_client,
    SUM(bytes_from_client) AS from_client FROM hourly_devices WHERE {{range}} {device}"""
# Raw rows count `times` requests each (identical blocks are collapsed into one row).
_TOTALS_RAW = """SELECT SUM(times) AS requests, SUM((action = 'allowed') * times) AS allowed,
    SUM((action = 'blocked') * times) AS blocked, SUM((action = 'cached') * times) AS cached,
    SUM((action = 'error') * times) AS errors,
    SUM(bytes_to_client) AS to_client, SUM(bytes_from_client) AS from_client
    FROM requests WHERE {{range}} {device}"""

_SERIES_HOURLY = """SELECT hour, SUM(requests) AS requests, SUM(blocked) AS blocked
    FROM hourly_devices WHERE {{range}} {device} GROUP BY hour"""
_SERIES_RAW = """SELECT CAST(started / 3600 AS INTEGER) * 3600 AS hour, SUM(times) AS requests,
    SUM((action = 'blocked') * times) AS blocked FROM requests WHERE {{range}} {device} GROUP BY 1"""

# Allowed hosts include cache hits: the page was shown either way.
_HOST_COUNT = {"blocked": ("SUM(blocked)", "action = 'blocked'"),
               "allowed": ("SUM(allowed + cached)", "action IN ('allowed', 'cached')")}
_HOSTS_HOURLY = "SELECT host, {count} AS n FROM hourly_hosts WHERE {{range}} {device} GROUP BY host"
_HOSTS_RAW = """SELECT host, SUM(times) AS n FROM requests WHERE {{range}} AND {action}
    AND host IS NOT NULL {device} GROUP BY host"""

_DEVICES_HOURLY = """SELECT device, SUM(requests) AS requests, SUM(blocked) AS blocked,
    SUM(bytes_to_client) AS to_client FROM hourly_devices WHERE {range} GROUP BY device"""
_DEVICES_RAW = """SELECT COALESCE(device, '') AS device, SUM(times) AS requests,
    SUM((action = 'blocked') * times) AS blocked, SUM(bytes_to_client) AS to_client
    FROM requests WHERE {range} GROUP BY 1"""

_RECORD_COLUMNS = "id, " + ", ".join(ROW_COLUMNS)


def _device_filter(device: str | None) -> tuple[str, tuple]:
    """The WHERE addition (the same for roll-up and raw parts) for one device or all."""
    return ("AND device = ?", (device,)) if device is not None else ("", ())


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def explain(rec: LoggedRequest) -> str:
    who = rec.device or "an unknown device"
    what = rec.host or "a site (not logged: privacy setting)"
    if rec.action != "blocked":
        return f"{what} was not blocked for {who}: the request was {rec.action}."
    because = []
    if rec.rule:
        because.append(f"rule {rec.rule}")
    if rec.list_id:
        because.append(f"from list {rec.list_id}")
    if rec.schedule:
        because.append(f"schedule {rec.schedule}")
    if rec.reason:
        because.append(f"({rec.reason})")
    profile = f" (profile {rec.profile})" if rec.profile else ""
    why = " ".join(because) or "no reason was recorded"
    return f"{what} was blocked for {who}{profile}: {why}."


class LogQueries:
    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._clock = clock

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        if not self.path.exists():
            raise LogUnavailableError(f"no log database at {self.path}")
        conn = connect(self.path, create=False)
        try:
            conn.execute("PRAGMA query_only = 1")
            version = schema_version(conn)
            if version != LATEST_VERSION:
                raise LogUnavailableError(
                    f"log database {self.path} has schema version {version}, this Guardian reads "
                    f"{LATEST_VERSION}; starting `guardian serve` migrates or replaces it"
                )
            conn.execute("BEGIN")  # one snapshot for all statements of this call
            yield conn
        except sqlite3.DatabaseError as error:
            raise LogUnavailableError(f"cannot read log database {self.path}: {error}") from error
        finally:
            conn.close()

    def _until(self, until: float | None) -> float:
        return self._clock() if until is None else until

    def totals(self, since: float, until: float | None = None, device: str | None = None) -> Totals:
        dev, extra = _device_filter(device)
        with self._reading() as conn:
            sql, params = _union(
                _Period.of(since, self._until(until)), rolled_id(conn),
                _TOTALS_HOURLY.format(device=dev), _TOTALS_RAW.format(device=dev), extra,
            )
            row = conn.execute(
                "SELECT TOTAL(requests), TOTAL(allowed), TOTAL(blocked), TOTAL(cached), TOTAL(errors), "
                f"TOTAL(to_client), TOTAL(from_client) FROM ({sql})", params,
            ).fetchone()
        return Totals(*(int(value) for value in row))

    def series(
        self, since: float, until: float | None = None, bucket: Bucket = "hour",
        tz: str | tzinfo = "UTC", device: str | None = None,
    ) -> list[SeriesPoint]:
        """Requests and blocks per hour or per local day, every bucket present."""
        until = self._until(until)
        starts = bucket_starts(since, until, bucket, tz)
        dev, extra = _device_filter(device)
        with self._reading() as conn:
            sql, params = _union(
                _Period.of(since, until), rolled_id(conn),
                _SERIES_HOURLY.format(device=dev), _SERIES_RAW.format(device=dev), extra,
            )
            rows = conn.execute(
                f"SELECT hour, SUM(requests), SUM(blocked) FROM ({sql}) GROUP BY hour", params
            ).fetchall()
        requests = [0] * len(starts)
        blocked = [0] * len(starts)
        for hour, n, b in rows:
            # max(): in a zone with a half-hour offset the first UTC hour can start just
            # before the first local day does.
            i = max(bucket_index(starts, hour), 0)
            requests[i] += n
            blocked[i] += b
        return [SeriesPoint(start, n, b) for start, n, b in zip(starts, requests, blocked, strict=True)]

    def top_hosts(
        self, since: float, until: float | None = None, kind: HostKind = "blocked",
        device: str | None = None, limit: int = 10,
    ) -> list[HostCount]:
        count, action = _HOST_COUNT[kind]
        dev, extra = _device_filter(device)
        with self._reading() as conn:
            sql, params = _union(
                _Period.of(since, self._until(until)), rolled_id(conn),
                _HOSTS_HOURLY.format(count=count, device=dev),
                _HOSTS_RAW.format(action=action, device=dev), extra,
            )
            rows = conn.execute(
                f"SELECT host, SUM(n) AS total FROM ({sql}) GROUP BY host HAVING total > 0 "
                "ORDER BY total DESC, host LIMIT ?", [*params, limit],
            ).fetchall()
        return [HostCount(host, n) for host, n in rows]

    def top_devices(self, since: float, until: float | None = None, limit: int = 10) -> list[DeviceCount]:
        with self._reading() as conn:
            sql, params = _union(
                _Period.of(since, self._until(until)), rolled_id(conn), _DEVICES_HOURLY, _DEVICES_RAW
            )
            rows = conn.execute(
                f"SELECT device, SUM(requests) AS total, SUM(blocked), SUM(to_client) FROM ({sql}) "
                "GROUP BY device ORDER BY total DESC, device LIMIT ?", [*params, limit],
            ).fetchall()
        return [DeviceCount(device or None, n, b, out) for device, n, b, out in rows]

    def unnamed_by_address(self, since: float, until: float | None = None) -> dict[str, int]:
        """Requests from devices without a name, per client address (roll-ups keep no
        address, so this reads the raw rows: meant for today, not for months)."""
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT client_addr, SUM(times) FROM requests WHERE started >= ? AND started < ? "
                "AND device IS NULL AND client_addr IS NOT NULL GROUP BY client_addr",
                (since, self._until(until)),
            ).fetchall()
        return {address: n for address, n in rows}

    def search(
        self, since: float | None = None, until: float | None = None, host: str | None = None,
        device: str | None = None, action: str | None = None, limit: int = 50,
        before_id: int | None = None,
    ) -> Page:
        """Newest first. Paging is by id (keyset), so new records arriving between two
        pages do not shift them."""
        where = ["1"]
        params: list = []
        for clause, value in (
            ("started >= ?", since), ("started < ?", until), ("device = ?", device),
            ("action = ?", action), ("id < ?", before_id),
        ):
            if value is not None:
                where.append(clause)
                params.append(value)
        if host:
            where.append("host LIKE ? ESCAPE '\\'")
            params.append(f"%{_like_escape(host)}%")
        with self._reading() as conn:
            rows = conn.execute(
                f"SELECT {_RECORD_COLUMNS} FROM requests WHERE {' AND '.join(where)} "
                "ORDER BY id DESC LIMIT ?", [*params, limit + 1],
            ).fetchall()
        records = [LoggedRequest(*row) for row in rows[:limit]]
        more = len(rows) > limit
        return Page(records, records[-1].id if more else None)

    def record(self, record_id: int) -> LoggedRequest | None:
        with self._reading() as conn:
            row = conn.execute(
                f"SELECT {_RECORD_COLUMNS} FROM requests WHERE id = ?", (record_id,)
            ).fetchone()
        return LoggedRequest(*row) if row else None

    def why_blocked(self, record_id: int) -> BlockExplanation | None:
        """None when the record does not exist (or has expired)."""
        rec = self.record(record_id)
        return BlockExplanation(rec, explain(rec)) if rec else None

    def dropped_total(self) -> int:
        """Records dropped because the queue was full or a write failed, over all runs
        (as far as the writer has saved it; the live count is `LogStore.dropped`)."""
        with self._reading() as conn:
            return conn.execute("SELECT value FROM meta WHERE key = 'dropped_total'").fetchone()[0]
