"""`$removeparam` rules from subscribed lists (uBlock Origin's syntax), kept apart from blocking.

Strategy: these rules never block; they only say which query parameters to take off a
URL, so they live beside the engine (as adblock-rust keeps redirect rules apart), read
from the same list texts. Supported forms, with an optional `$domain=` option:

  $removeparam=name        remove the parameter `name`
  $removeparam=/regex/     remove every parameter whose `name=value` matches
  $removeparam=~name       remove every parameter except `name` (and `~/regex/`)
  $removeparam             remove every parameter
  @@…$removeparam=name     cancels a rule with the same value

with the URL part empty or `*` (every site) or `||domain^` (that domain and below).
Other URL patterns, and regexes when no linear-time engine (google-re2) is installed,
are skipped and counted, so a list cannot make a URL take more than linear time.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from guardian.filters.compact import ListFile

try:
    import re2 as _linear_re  # google-re2: linear time on any input
except ImportError:  # pragma: no cover - depends on the platform's wheels
    _linear_re = None

_MAX_REGEX = 512
_CHUNK = 1 << 20
_MARKERS = ("removeparam", "queryprune")


@dataclass(frozen=True, slots=True)
class _Rule:
    names: frozenset[str]  # exact names; empty with `regex` None and not `keep` -> every parameter
    regex: Any  # a compiled re2 pattern matched against "name=value", or None
    keep: bool  # `~`: remove everything except what matches
    domains: tuple[str, ...]  # $domain=: the sites (of the page asking) it applies on; empty -> any
    raw: str

    def applies_on(self, site_host: str) -> bool:
        return not self.domains or any(
            site_host == d or site_host.endswith("." + d) for d in self.domains)

    def removes(self, name: str, pair: str) -> bool:
        if self.regex is not None:
            hit = self.regex.search(pair) is not None
        elif self.names:
            hit = name in self.names
        else:
            return True
        return hit != self.keep


@dataclass(slots=True)
class RemoveParamRules:
    """Every `$removeparam` rule of a set of lists, indexed by the domain they apply to."""

    generic: list[_Rule] = field(default_factory=list)
    by_domain: dict[str, list[_Rule]] = field(default_factory=dict)
    skipped: int = 0

    def __bool__(self) -> bool:
        return bool(self.generic or self.by_domain)

    def rules_for(self, host: str) -> list[_Rule]:
        """The rules that apply to a request for `host` (its own and its parents' domains)."""
        found = list(self.generic)
        if self.by_domain:
            name = host
            while True:
                found.extend(self.by_domain.get(name, ()))
                dot = name.find(".")
                if dot < 0:
                    break
                name = name[dot + 1:]
        return found


def parse_removeparam(sources: Mapping[str, str | ListFile]) -> RemoveParamRules:
    """The `$removeparam` rules (and their `@@` exceptions) of the given lists, each given
    as its text or as its stored file."""
    rules = RemoveParamRules()
    cancelled: set[tuple[str, str]] = set()
    pending: list[tuple[str, str, _Rule]] = []
    for source in sources.values():
        for line in _candidate_lines(source):
            exception = line.startswith("@@")
            parsed = _parse_line(line[2:] if exception else line)
            if parsed is None:
                rules.skipped += 1
                continue
            anchor, value, rule = parsed
            if exception:
                cancelled.add((anchor, value))
            else:
                pending.append((anchor, value, rule))
    for anchor, value, rule in pending:
        if (anchor, value) in cancelled:
            continue
        if anchor:
            rules.by_domain.setdefault(anchor, []).append(rule)
        else:
            rules.generic.append(rule)
    return rules


@functools.lru_cache(maxsize=64)
def _candidate_lines(source: str | ListFile) -> tuple[str, ...]:
    """The lines of one list that may be removeparam rules. Cached: a rebuild after an edit
    does not read the lists again, and a big list file is read in chunks, never whole."""
    if isinstance(source, str):
        return tuple(_filter_lines(source)) if any(m in source for m in _MARKERS) else ()
    found: list[str] = []
    tail = b""
    try:
        with open(source.path, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                block, _, tail = (tail + chunk).rpartition(b"\n")
                if b"removeparam" in block or b"queryprune" in block:
                    found.extend(_filter_lines(block.decode("utf-8", "replace")))
    except OSError:
        return ()
    if b"removeparam" in tail or b"queryprune" in tail:
        found.extend(_filter_lines(tail.decode("utf-8", "replace")))
    return tuple(found)


def _filter_lines(text: str) -> Iterable[str]:
    for raw in text.splitlines():
        line = raw.strip()
        if line and line[0] not in "!#[" and ("$removeparam" in line or "$queryprune" in line
                                               or ",removeparam" in line or ",queryprune" in line):
            yield line


def _parse_line(line: str) -> tuple[str, str, _Rule] | None:
    """(domain anchor or "", the option's value, the rule); None when unsupported."""
    # The options start at the `$` before the removeparam option: a regex value may hold `$` itself.
    dollar = max(line.find("$removeparam"), line.find("$queryprune"))
    if dollar < 0:
        option = max(line.find(",removeparam"), line.find(",queryprune"))
        dollar = line.rfind("$", 0, option) if option >= 0 else -1
    if dollar < 0:
        return None
    pattern, options = line[:dollar], line[dollar + 1:]
    if pattern in ("", "*"):
        anchor = ""
    elif pattern.startswith("||") and pattern.endswith("^") and _is_domain(pattern[2:-1]):
        anchor = pattern[2:-1].lower()
    else:
        return None
    value: str | None = None
    domains: list[str] = []
    for part in options.split(","):
        name, _, argument = part.partition("=")
        name = name.strip()
        if name in ("removeparam", "queryprune"):
            value = argument
        elif name == "domain":
            domains = [d.strip().lower() for d in argument.split("|") if d.strip() and not d.startswith("~")]
        elif name in ("document", "doc", "xhr", "script", "image", "subdocument", "other", "match-case",
                      "1p", "3p", "first-party", "third-party", "~third-party", "~first-party"):
            continue  # narrowing options we do not distinguish: applying the rule more widely only removes trackers
        else:
            return None
    if value is None:
        return None
    keep = value.startswith("~")
    body = value[1:] if keep else value
    regex = None
    names: frozenset[str] = frozenset()
    if len(body) >= 2 and body.startswith("/") and body.rfind("/") > 0:
        if _linear_re is None or len(body) > _MAX_REGEX:
            return None
        end = body.rfind("/")
        try:
            regex = _linear_re.compile(body[1:end])
        except Exception:  # re2 raises its own error type for what it cannot compile
            return None
    elif body:
        names = frozenset({body})
    elif keep:
        return None  # `~` with nothing after it means nothing
    return anchor, value, _Rule(names, regex, keep, tuple(domains), line)


def _is_domain(text: str) -> bool:
    return bool(text) and all(c.isalnum() or c in "-." for c in text) and "." in text
