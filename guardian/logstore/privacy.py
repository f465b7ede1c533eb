"""How much of a request the log keeps: the `[log] detail` setting.

- "full": everything in the record, including path and query (`target`).
- "host": as full, but no path or query, and no excerpt of a malformed request in
  `reason` (error reasons quote the offending bytes, which can hold a whole URL).
- "none": nothing but counts. No host, port, path, client address, and none of the
  block words (`reason`, `rule`), which usually name the site. Kept: time, duration,
  device, profile, method, scheme, status, byte counts, action, list, schedule, error
  kind and cache result, so totals, shares, per-device figures and "blocked by list X"
  still work. One row per request is still written, which is what makes counts exact.

The level is applied when a record is queued, so changing it affects new records only.
"""

from __future__ import annotations

import re
from typing import Literal, TypeGuard, get_args

from guardian.records import RequestRecord

Detail = Literal["full", "host", "none"]
DETAIL_LEVELS: tuple[str, ...] = get_args(Detail)

# Column order of `requests` after `id`, as `to_row` produces it.
ROW_COLUMNS = (
    "started", "duration_ms", "client_addr", "device", "profile", "method", "scheme", "host", "port",
    "target", "status", "bytes_from_client", "bytes_to_client", "action", "reason", "rule", "list_id",
    "schedule", "error_kind", "cache", "detail", "times",
)
# The columns of a row without words (no reason, rule, list, schedule or error kind: most
# allowed requests), as `plain_row` produces it; the words are left NULL and `times` at its
# default of 1.
PLAIN_COLUMNS = tuple(name for name in ROW_COLUMNS
                      if name not in ("reason", "rule", "list_id", "schedule", "error_kind", "times"))
# A quoted excerpt in a reason, as Python's repr writes it: 'x', "x" or b'x'. No nested
# quantifiers, so it runs in linear time on any reason.
_EXCERPT = re.compile(r"b?'(?:[^'\\]|\\.)*'" "|" r'b?"(?:[^"\\]|\\.)*"')


def check_detail(detail: str) -> Detail:
    if not _is_detail(detail):
        raise ValueError(f"log detail must be one of {', '.join(DETAIL_LEVELS)}, not {detail!r}")
    return detail


def _is_detail(value: str) -> TypeGuard[Detail]:
    return value in DETAIL_LEVELS


def without_excerpts(reason: str | None) -> str | None:
    """`reason` with every quoted excerpt of the request replaced by '…'."""
    return _EXCERPT.sub("…", reason) if reason else reason


def _request_columns(rec: RequestRecord, detail: Detail, hidden: bool) -> tuple[object, ...]:
    """The columns every row starts with, from `started` to `action`."""
    return (
        rec.started,
        rec.duration_ms,
        None if hidden else rec.client_addr,
        rec.device,
        rec.profile,
        rec.method,
        rec.scheme,
        None if hidden else rec.host,
        None if hidden else rec.port,
        rec.target if detail == "full" else None,
        rec.status,
        rec.bytes_from_client,
        rec.bytes_to_client,
        rec.action,
    )


def to_row(rec: RequestRecord, detail: Detail) -> tuple[object, ...]:
    hidden = detail == "none"
    return (
        *_request_columns(rec, detail, hidden),
        None if hidden else rec.reason if detail == "full" else without_excerpts(rec.reason),
        None if hidden else rec.rule,
        rec.list_id,
        rec.schedule,
        rec.error_kind,
        rec.cache,
        detail,
        1,
    )


def has_no_words(rec: RequestRecord) -> bool:
    """Whether `plain_row` may stand for `to_row`: an allowed, cached or failed request
    with nothing to say (a blocked one always says why)."""
    return rec.reason is None and rec.rule is None and rec.list_id is None and rec.schedule is None \
        and rec.error_kind is None and rec.action != "blocked"


def plain_row(rec: RequestRecord, detail: Detail) -> tuple[object, ...]:
    """`to_row` for a record with no words, in PLAIN_COLUMNS: the request log writes most
    rows this way, binding fewer values and building no row to slice."""
    return (*_request_columns(rec, detail, detail == "none"), rec.cache, detail)
