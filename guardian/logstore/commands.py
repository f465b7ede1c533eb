"""`guardian stats` and `guardian log`: the log store on the command line.

The lead's cli.py parses the arguments and calls these; each returns the exit status:
0 done, 1 no readable log database, 2 a bad argument (such as `--since 3x`). Output is
a plain table for people or, with as_json, one JSON document for scripts. Times in
tables are local (`tz`, default the system's); JSON times are Unix seconds (UTC).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from guardian.logstore.queries import LogQueries, LogUnavailableError, Totals
from guardian.sizes import size_text

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
# Up to two days a chart of hours is readable; beyond that, days.
_HOURLY_UP_TO = 2 * 86_400


def parse_duration(text: str) -> float:
    """"30m", "24h", "7d" (also s and w) -> seconds."""
    match = _DURATION.fullmatch(text.strip().lower())
    if not match or float(match[1]) <= 0:
        raise ValueError(f"{text!r} is not a duration; use a number and a unit, like 30m, 24h or 7d")
    return float(match[1]) * _UNITS[match[2]]


def _zone(tz: str | None) -> tzinfo:
    if tz:
        return ZoneInfo(tz)
    return datetime.now().astimezone().tzinfo or ZoneInfo("UTC")


def _fail(command: str, message: str, status: int) -> int:
    print(f"guardian {command}: {message}", file=sys.stderr)
    return status


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [list(map(str, headers))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells)
    return "\n".join(lines)


def _totals_json(totals: Totals) -> dict[str, object]:
    return {**dataclasses.asdict(totals), "share_blocked": totals.share_blocked}


def stats_command(
    db_path: Path, since: str = "24h", device: str | None = None, as_json: bool = False,
    tz: str | None = None, clock: Callable[[], float] = time.time,
) -> int:
    try:
        span = parse_duration(since)
        zone = _zone(tz)
    except (ValueError, ZoneInfoNotFoundError) as error:
        return _fail("stats", str(error), 2)
    until = clock()
    start = until - span
    bucket: Literal["hour", "day"] = "hour" if span <= _HOURLY_UP_TO else "day"
    queries = LogQueries(Path(db_path), clock)
    try:
        totals = queries.totals(start, until, device)
        series = queries.series(start, until, bucket, zone, device)
        blocked = queries.top_hosts(start, until, "blocked", device)
        allowed = queries.top_hosts(start, until, "allowed", device)
        devices = [] if device else queries.top_devices(start, until)
        dropped = queries.dropped_total()
    except LogUnavailableError as error:
        return _fail("stats", str(error), 1)
    if as_json:
        print(json.dumps({
            "since": start, "until": until, "device": device, "bucket": bucket,
            "totals": _totals_json(totals), "dropped_total": dropped,
            "series": [dataclasses.asdict(p) for p in series],
            "top_blocked_hosts": [dataclasses.asdict(h) for h in blocked],
            "top_allowed_hosts": [dataclasses.asdict(h) for h in allowed],
            "top_devices": [dataclasses.asdict(d) for d in devices],
        }, indent=2))
        return 0
    who = f" for {device}" if device else ""
    print(f"Last {since}{who}, since {datetime.fromtimestamp(start, zone):%Y-%m-%d %H:%M}")
    print(_table(("", ""), [
        ("requests", totals.requests),
        ("blocked", f"{totals.blocked} ({totals.share_blocked:.1%})"),
        ("cached", totals.cached),
        ("errors", totals.errors),
        ("data to clients", size_text(totals.bytes_to_client)),
        ("not logged (queue full)", dropped),
    ]))
    label = "%H:00" if bucket == "hour" else "%a %d %b"
    print(f"\nPer {bucket}")
    print(_table(("start", "requests", "blocked"), [
        (datetime.fromtimestamp(p.start, zone).strftime(label), p.requests, p.blocked) for p in series
    ]))
    for title, hosts in (("Top blocked hosts", blocked), ("Top allowed hosts", allowed)):
        print(f"\n{title}")
        print(_table(("requests", "host"), [(h.requests, h.host) for h in hosts]) if hosts else "  none")
    if not device:
        print("\nTop devices")
        print(_table(("device", "requests", "blocked", "data"), [
            (d.device or "(unknown)", d.requests, d.blocked, size_text(d.bytes_to_client)) for d in devices
        ]) if devices else "  none")
    return 0


def log_command(
    db_path: Path, device: str | None = None, blocked: bool = False, host: str | None = None,
    since: str = "1h", limit: int = 50, as_json: bool = False,
    tz: str | None = None, clock: Callable[[], float] = time.time, wide: bool = False,
) -> int:
    """The newest requests first; the table fits the terminal (long URLs lose their middle) unless `wide`."""
    try:
        span = parse_duration(since)
        zone = _zone(tz)
    except (ValueError, ZoneInfoNotFoundError) as error:
        return _fail("log", str(error), 2)
    if limit < 1:
        return _fail("log", f"--limit must be at least 1, not {limit}", 2)
    until = clock()
    try:
        page = LogQueries(Path(db_path), clock).search(
            until - span, None, host=host, device=device, action="blocked" if blocked else None, limit=limit
        )
    except LogUnavailableError as error:
        return _fail("log", str(error), 1)
    if as_json:
        print(json.dumps([dataclasses.asdict(r) for r in page.records], indent=2))
        return 0
    if not page.records:
        print("no requests logged in that time")
        return 0
    rows = [
        [
            str(r.id), datetime.fromtimestamp(r.started, zone).strftime("%m-%d %H:%M:%S"), r.device or "-",
            r.action if r.times == 1 else f"{r.action} x{r.times}", str(r.status or "-"), r.method or "-",
            f"{r.host}{r.target or ''}" if r.host else "(not logged)",
            r.rule or r.schedule or r.reason or r.error_kind or "",
        ]
        for r in page.records
    ]
    headers = ("id", "time", "device", "action", "status", "method", "url", "why")
    columns = None if wide else _terminal_columns()
    if columns is None:
        print(_table(headers, rows))
        return 0
    for row in rows:
        row[2] = _shorten_end(row[2], _DEVICE_WIDTH)
    # The URL gets what the other columns leave of the line (never less than a readable minimum).
    others = sum(max(len(row[i]) for row in [list(headers), *rows]) for i in range(6)) + 2 * 7
    url_width = max(_MIN_URL_WIDTH, columns - others - len("why"))
    for row in rows:
        row[6] = shorten_middle(row[6], url_width)
    print("\n".join(_shorten_end(line, columns) for line in _table(headers, rows).split("\n")))
    return 0


_DEVICE_WIDTH = 20
_MIN_URL_WIDTH = 24


def _terminal_columns() -> int | None:
    """The width to fit: the terminal's (or $COLUMNS); None (no limit) when writing to a file or pipe."""
    if not sys.stdout.isatty() and "COLUMNS" not in os.environ:
        return None
    return shutil.get_terminal_size().columns


def shorten_middle(text: str, width: int) -> str:
    """`text` in at most `width` characters, its middle replaced by "…": a URL keeps its host and its end."""
    if len(text) <= width:
        return text
    head = (width - 1) * 2 // 3
    return f"{text[:head]}…{text[len(text) - (width - 1 - head):]}"


def _shorten_end(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"
