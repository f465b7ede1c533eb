"""Load lists into rules and file each rule where a request will look for it.

Three places, searched in this order for each request:
- `plain_hosts`: `||host^` rules with no option (about 80% of EasyList + EasyPrivacy),
  and every line of a hosts file or domain list. A dict from host to the list it came
  from; a request looks up its host and each parent domain, a handful of dict probes.
- `*_hosts`: other rules whose pattern is a whole host (`||host^$third-party`), by host.
- `*_tokens`: the rest, each under the rarest of its bounded tokens (see patterns.py); a
  request looks up each token of its URL. `*_untokened` holds the few rules with no
  usable token, tried for every request.
Blocking rules and exceptions are kept apart so an allowed request never walks the
exceptions. `$badfilter` rules remove their twins here, before anything is filed.

On disk everything is plain tuples, dicts, strs and ints, so the index marshals.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .hosts import FORMATS, detect_format, domain_line, hosts_line
from .patterns import bounded_tokens
from .report import ParseReport
from .request_types import ALL_TYPES
from .rules import BADFILTER, EXCEPTION, HOST_ANCHOR, REGEX, NetworkRule, Refused, Skipped, parse_line, twin_key
from .safety import too_broad


@dataclass(slots=True)
class StoredRule:
    """A rule as the engine tests it. Slotted attributes read faster than tuple indexing;
    on disk it is a plain tuple (`astuple`, `StoredRule(*fields)`) so the index still
    marshals."""

    raw: str
    flags: int
    types: int
    pattern: str
    domains: dict[str, bool] | None
    list_id: int

    def astuple(self) -> tuple[str, int, int, str, dict[str, bool] | None, int]:
        return self.raw, self.flags, self.types, self.pattern, self.domains, self.list_id


# Tokens found in most URLs: filing a rule under one would make every request try it.
_COMMON_TOKENS = frozenset({
    "http", "https", "www", "com", "net", "org", "js", "css", "html", "htm", "php", "json",
    "png", "gif", "jpg", "jpeg", "svg", "webp", "min", "static", "cdn", "assets", "img",
    "images", "api", "v1", "v2", "1", "2", "3", "0",
})
_COMMON_PENALTY = 100_000


def rule_kind(rule: NetworkRule) -> str:
    if rule.flags & BADFILTER:
        return "badfilter"
    shape = "host" if rule.host is not None else "regex" if rule.flags & REGEX else "pattern"
    return f"exception {shape}" if rule.flags & EXCEPTION else shape


def read_list(name: str, text: str, fmt: str = "auto") -> tuple[list[tuple[int, NetworkRule]], ParseReport]:
    """Parse a list's text into (line number, rule) pairs and its parse report."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown list format {fmt!r}; expected one of {', '.join(FORMATS)}")
    lines = text.splitlines()
    if fmt == "auto":
        fmt = detect_format(lines)
    report = ParseReport(name, fmt, lines=len(lines))
    rules: list[tuple[int, NetworkRule]] = []
    if fmt == "abp":
        for number, line in enumerate(lines, 1):
            parsed = parse_line(line)
            if isinstance(parsed, NetworkRule):
                broad = too_broad(parsed)
                if broad is not None:
                    report.add_refused(number, line.strip(), broad)
                    continue
                rules.append((number, parsed))
                report.rules[rule_kind(parsed)] += 1
            elif isinstance(parsed, Refused):
                report.add_refused(number, line.strip(), parsed.reason)
            elif isinstance(parsed, Skipped):
                report.skipped[parsed.reason] += 1
            else:
                report.add_error(number, line.strip(), parsed.reason)
        return rules, report
    read_hosts = hosts_line if fmt == "hosts" else domain_line
    for number, line in enumerate(lines, 1):
        names, error = read_hosts(line)
        if error is not None:
            report.add_error(number, line.strip(), error)
        elif not names:
            report.skipped["comment or blank" if not line.split("#", 1)[0].strip() else "not a target"] += 1
        raw = line.split("#", 1)[0].strip()
        for host in names:
            rules.append((number, NetworkRule(raw, HOST_ANCHOR, ALL_TYPES, host + "^", None, host)))
            report.rules["host"] += 1
    return rules, report


@dataclass(slots=True)
class RuleIndex:
    list_names: list[str]
    rules: list[StoredRule]
    # host -> list id, or (list id, raw) when the raw text is not `||host^`
    plain_hosts: dict[str, int | tuple[int, str]]
    block_hosts: dict[str, tuple[int, ...]]  # host -> rule ids
    exception_hosts: dict[str, tuple[int, ...]]
    block_tokens: dict[str, tuple[int, ...]]  # token -> rule ids
    exception_tokens: dict[str, tuple[int, ...]]
    block_untokened: tuple[int, ...]
    exception_untokened: tuple[int, ...]
    reports: list[ParseReport]
    # Plain host rules of these lists (by id) are in their compact host tables (compact.py).
    compact_lists: tuple[int, ...] = ()
    # Twin keys of the `$badfilter` rules: those without options cancel compact host rules.
    cancelled: frozenset[str] = frozenset()

    @property
    def rule_count(self) -> int:
        return len(self.plain_hosts) + len(self.rules)

    def to_plain(self) -> tuple[Any, ...]:
        return (
            self.list_names, [rule.astuple() for rule in self.rules], self.plain_hosts,
            self.block_hosts, self.exception_hosts, self.block_tokens, self.exception_tokens,
            self.block_untokened, self.exception_untokened,
            [report.to_plain() for report in self.reports], self.compact_lists, self.cancelled,
        )

    @classmethod
    def from_plain(cls, plain: tuple[Any, ...]) -> RuleIndex:
        (list_names, rules, plain_hosts, block_hosts, exception_hosts, block_tokens, exception_tokens,
         block_untokened, exception_untokened, reports, compact_lists, cancelled) = plain
        return cls(
            list_names, [StoredRule(*rule) for rule in rules], plain_hosts, block_hosts, exception_hosts,
            block_tokens, exception_tokens, block_untokened, exception_untokened,
            reports=[ParseReport.from_plain(report) for report in reports],
            compact_lists=tuple(compact_lists), cancelled=frozenset(cancelled),
        )

    @classmethod
    def build(cls, lists: Mapping[str, str], formats: Mapping[str, str] | None = None) -> RuleIndex:
        formats = formats or {}
        parsed = [read_list(name, text, formats.get(name, "auto")) for name, text in lists.items()]
        return cls.from_parsed(list(lists), parsed)

    @classmethod
    def from_parsed(
        cls, list_names: list[str], parsed: list[tuple[list[tuple[int, NetworkRule]], ParseReport]],
        compact_lists: tuple[int, ...] = (),
    ) -> RuleIndex:
        """The index of lists already read (in list id order); `compact_lists` names those
        whose plain host rules were set aside for host tables."""
        reports = [report for _, report in parsed]
        cancelled = {twin_key(rule) for rules, _ in parsed for _, rule in rules if rule.flags & BADFILTER}
        builder = _Builder()
        for list_id, (rules, report) in enumerate(parsed):
            for _, rule in rules:
                if rule.flags & BADFILTER:
                    continue
                if cancelled and twin_key(rule) in cancelled:
                    report.rules[rule_kind(rule)] -= 1
                    report.skipped["cancelled by $badfilter"] += 1
                    continue
                builder.add(rule, list_id)
        index = builder.finish(list_names, reports)
        index.compact_lists = compact_lists
        index.cancelled = frozenset(key for key in cancelled if "$" not in key) if compact_lists else frozenset()
        return index


class _Builder:
    def __init__(self) -> None:
        self.rules: list[StoredRule] = []
        self.plain_hosts: dict[str, int | tuple[int, str]] = {}
        self.block_hosts: dict[str, list[int]] = {}
        self.exception_hosts: dict[str, list[int]] = {}
        self.tokenised: list[tuple[int, list[str]]] = []  # (rule id, bounded tokens)

    def add(self, rule: NetworkRule, list_id: int) -> None:
        host = rule.host
        plain = rule.flags == HOST_ANCHOR and rule.types == ALL_TYPES and rule.domains is None
        if host is not None and plain:
            if host not in self.plain_hosts:
                # Most raws are `||host^`, rebuilt from the key at match time instead of stored.
                self.plain_hosts[host] = list_id if rule.raw == f"||{host}^" else (list_id, rule.raw)
            return
        rule_id = len(self.rules)
        self.rules.append(StoredRule(rule.raw, rule.flags, rule.types, rule.pattern, rule.domains, list_id))
        if host is not None:
            by_host = self.exception_hosts if rule.flags & EXCEPTION else self.block_hosts
            by_host.setdefault(host, []).append(rule_id)
        else:
            self.tokenised.append((rule_id, bounded_tokens(rule.flags, rule.pattern)))

    def finish(self, list_names: list[str], reports: list[ParseReport]) -> RuleIndex:
        frequency = Counter(token for _, tokens in self.tokenised for token in set(tokens))
        for token in _COMMON_TOKENS & frequency.keys():
            frequency[token] += _COMMON_PENALTY
        block_tokens: dict[str, list[int]] = {}
        exception_tokens: dict[str, list[int]] = {}
        block_untokened: list[int] = []
        exception_untokened: list[int] = []
        for rule_id, tokens in self.tokenised:
            exception = self.rules[rule_id].flags & EXCEPTION
            if tokens:
                rarest = min(tokens, key=lambda token: (frequency[token], -len(token)))
                (exception_tokens if exception else block_tokens).setdefault(rarest, []).append(rule_id)
            else:
                (exception_untokened if exception else block_untokened).append(rule_id)
        return RuleIndex(
            list_names=list_names,
            rules=self.rules,
            plain_hosts=self.plain_hosts,
            block_hosts=_frozen(self.block_hosts),
            exception_hosts=_frozen(self.exception_hosts),
            block_tokens=_frozen(block_tokens),
            exception_tokens=_frozen(exception_tokens),
            block_untokened=tuple(block_untokened),
            exception_untokened=tuple(exception_untokened),
            reports=reports,
        )


def _frozen(buckets: dict[str, list[int]]) -> dict[str, tuple[int, ...]]:
    return {key: tuple(ids) for key, ids in buckets.items()}

