"""Deciding whether a downloaded list may replace the last good copy.

Strategy: a refresh must never make filtering worse, so a download is accepted only if
it looks like the list it claims to be. In order, each check with the failure it catches:
- no NUL bytes: a binary file (an archive, an image) served in place of the list;
- not HTML: a captive portal, an error page or a "moved" page answered with 200;
- a list set to abp does not look like a hosts file or a domain list: a wrong format
  setting (any text is a valid ABP pattern, so the next check cannot see this one);
- not more rules than a list may have (`[refresh] max_rules_per_list`), counted on the
  text before the engine parses it: a huge list would exhaust the Pi's memory, first
  here and then in every engine built from it;
- it parses, with at least one rule and at least half of its rule lines valid (comments,
  blanks and cosmetic rules don't count either way): a file in another format or garbage;
- not fewer than half the rules of the last good copy, unless forced: a truncated file
  or a publisher's accident would silently unblock most of what the list blocks.
The parse is the filter engine's own, so what is counted here is what will be enforced.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from guardian.config import RefreshConfig
from guardian.filters import FilterEngine
from guardian.filters.compact import TooManyRules, estimated_bytes, read_report, readable
from guardian.filters.rules import is_cosmetic

from .store import decode

MIN_VALID_SHARE = 0.5
MIN_KEPT_SHARE = 0.5
# `! Expires: 4 days (update frequency)` in ABP lists; some hosts files say `# Expires:`.
_EXPIRES_RE = re.compile(r"^[!#]\s*Expires:\s*(\d+)\s*(d|days?|h|hours?)\b", re.IGNORECASE | re.MULTILINE)
_HEADER_CHARS = 8192
_SAMPLE_LINES = 1000
_MAX_EXPIRES = 14 * 86400  # a typo of "400 days" must not stop updates for a year
_HTML_MARKERS = ("<!doctype html", "<html", "<head", "<body", "<?xml", "<title")


class ValidationError(Exception):
    """The download is not acceptable; the message says why, in words."""


@dataclass(frozen=True, slots=True)
class Checked:
    format: str  # as parsed ("auto" resolved by the engine)
    rules: int
    errors: int
    kinds: dict[str, int]
    expires_seconds: int | None
    refused: dict[str, int]  # reason -> rules refused as unsafe (see guardian/filters/safety.py)
    memory_bytes: int = 0  # what the engine will need for it, about


def check_list(
    list_id: str, data: bytes, fmt: str, previous_rules: int | None, force: bool = False,
    max_rules: int = RefreshConfig().max_rules_per_list,
) -> Checked:
    """Check `data` as the new copy of `list_id`; `previous_rules` is the last good copy's count."""
    if b"\x00" in data:
        raise ValidationError("the download is a binary file, not a text list")
    text = decode(data)
    if looks_like_html(text):
        raise ValidationError("the download is an HTML page, not a list")
    if fmt == "abp":
        # Any text is a valid ABP pattern, so the share check cannot catch a hosts file or
        # a domain list subscribed as abp; the engine's format detection on a sample can.
        sample = "\n".join(_head(text, _SAMPLE_LINES).splitlines())
        seen_as = FilterEngine.from_lists({list_id: sample}).report[list_id].format
        if seen_as != "abp":
            raise ValidationError(f"the download looks like a {seen_as} list, but its format is set to abp")
    if not readable(data):
        _check_size(text, max_rules)  # the general reader holds every rule: bound it before parsing
    try:
        # Parsed as the engine will read it, but without building an index: plain hosts
        # cost a few bytes each, other rules are kept only up to the bound.
        report = read_report(list_id, data, fmt, max_rules)
    except TooManyRules as exc:
        raise ValidationError(_too_many(exc.report.rule_count, max_rules)) from None
    # Refused rules are readable (the format is right) but unsafe: not counted as invalid.
    rules, errors = report.rule_count, report.error_count - sum(report.refused.values())
    if rules > max_rules:  # a hosts line may name several hosts
        raise ValidationError(_too_many(rules, max_rules))
    if rules == 0:
        raise ValidationError(f"no rules found in {report.lines} lines (read as {report.format})")
    if rules < MIN_VALID_SHARE * (rules + errors):
        raise ValidationError(
            f"only {rules} of {rules + errors} rule lines are valid {report.format} rules; is the format right?")
    if previous_rules and rules < MIN_KEPT_SHARE * previous_rules and not force:
        raise ValidationError(
            f"the download has {rules} rules, fewer than half the {previous_rules} of the last good copy"
            " (update with --force to accept it)")
    return Checked(report.format, rules, errors, dict(report.rules), expires_seconds(text), dict(report.refused),
                   estimated_bytes(report))


def _check_size(text: str, max_rules: int) -> None:
    """Refuse a list with more candidate rule lines than allowed, without parsing it."""
    if text.count("\n") <= max_rules:
        return
    candidates = 0
    for line in text.splitlines():
        line = line.strip()
        if line and line[0] not in "!#[" and not is_cosmetic(line):
            candidates += 1
    if candidates > max_rules:
        raise ValidationError(_too_many(candidates, max_rules))


def _too_many(rules: int, max_rules: int) -> str:
    return (f"the list has {rules:,} rules, more than the {max_rules:,} one list may have"
            " (a list that big could use up the memory Guardian filters with)")


def _head(text: str, lines: int) -> str:
    """The first `lines` lines of `text`, without splitting all of a list of millions."""
    end = 0
    for _ in range(lines):
        end = text.find("\n", end) + 1
        if not end:
            return text
    return text[:end]


def looks_like_html(text: str) -> bool:
    head = text[:1024].lstrip().lower()
    return head.startswith("<") and any(marker in head for marker in _HTML_MARKERS)


def expires_seconds(text: str) -> int | None:
    """The list's own minimum refresh interval, from its header comments."""
    found = _EXPIRES_RE.search(text[:_HEADER_CHARS])
    if not found:
        return None
    number = int(found.group(1))
    seconds = number * (86400 if found.group(2).lower().startswith("d") else 3600)
    return min(seconds, _MAX_EXPIRES) or None
