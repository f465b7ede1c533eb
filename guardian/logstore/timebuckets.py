"""Chart buckets: hours or local calendar days between two instants, zero-filled.

Counts are stored per UTC hour, so a bucket is made of whole UTC hours. Hour buckets
are UTC hours (a display shows them in local time). Day buckets follow the calendar of
an IANA time zone, so a day across a daylight-saving change has 23 or 25 hours; in the
rare zones whose offset is not whole hours, an hour counts for the day it starts in.
"""

from __future__ import annotations

import bisect
import math
from datetime import datetime, timedelta, tzinfo
from datetime import time as clock_time
from typing import Literal
from zoneinfo import ZoneInfo

Bucket = Literal["hour", "day"]
HOUR = 3600


def zone(tz: str | tzinfo) -> tzinfo:
    return ZoneInfo(tz) if isinstance(tz, str) else tz


def bucket_starts(since: float, until: float, bucket: Bucket, tz: str | tzinfo = "UTC") -> list[float]:
    """Start instants of every bucket that overlaps [since, until), oldest first."""
    if bucket == "hour":
        first = math.floor(since / HOUR) * HOUR
        return [float(t) for t in range(first, math.ceil(until), HOUR)] or [float(first)]
    if bucket != "day":
        raise ValueError(f"bucket must be 'hour' or 'day', not {bucket!r}")
    local = zone(tz)
    day = datetime.fromtimestamp(since, local).date()
    starts: list[float] = []
    while True:
        start = datetime.combine(day, clock_time(), local).timestamp()
        if starts and start >= until:
            return starts
        starts.append(start)
        day += timedelta(days=1)


def bucket_index(starts: list[float], instant: float) -> int:
    """Which of `starts` (sorted) the instant falls in; -1 if before the first."""
    return bisect.bisect_right(starts, instant) - 1
