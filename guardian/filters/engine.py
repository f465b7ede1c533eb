"""FilterEngine: decide whether a request is blocked, and by which rule of which list.

Decision order follows uBlock Origin:
1. Find a blocking rule that matches. None: the request is allowed, rule None.
2. If it is `$important`, it decides. Otherwise look for a matching exception; none:
   blocked by the rule found.
3. An exception matched: an `$important` blocking rule would still win, so look for one
   (rare, hence only now); otherwise the exception allows the request.

Each search walks the index (see index.py): the host and its parents in the host tables,
then each distinct token of the URL in the token table. A candidate rule is tested from
cheapest to dearest: type bit, a plain substring, then party and `$domain=`, and only then
a pattern's matcher (built on first use), so a rule for one site never runs its pattern on
another site's URLs. Party and `$domain=` need the page's host; when it is unknown, party
options are not evaluated and a `$domain=` rule applies only if it excludes domains only.

A decision is remembered per (URL, page host, request type), everything a rule can ask
of a request, so a URL asked again costs one dict lookup; an engine never changes, and a
list change builds a new one.

URLs are matched as browsers and uBlock Origin see them: percent-encoded unreserved
characters (`%62` for `b`) are decoded first, so an encoding cannot slip past a path rule.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from guardian.memo import remember

from .aside import build_aside
from .cache import cache_path, lists_key, read_cache, write_cache
from .compact import HostTable, ListFile, cached_table, load_table, open_source, plain_hosts_of, read_list_file
from .domains import domain_applies, public_suffixes, url_host, url_host_span
from .index import RuleIndex, StoredRule, read_list
from .patterns import TOKEN_RE, Glob, RegexMatcher, compile_pattern, required_substring
from .report import ParseReport
from .request_types import DOCUMENT, request_type_bit
from .rules import (
    FIRST_PARTY,
    HAS_ENTITIES,
    HAS_INCLUDES,
    IMPORTANT,
    MATCH_CASE,
    PARTY_FLAGS,
    PLAIN,
    THIRD_PARTY,
)


class Decision(NamedTuple):
    blocked: bool
    rule: str | None  # the deciding rule's text; the exception's when one allowed the request
    list: str | None  # name of the list the rule came from


NOT_MATCHED = Decision(False, None, None)
_NEAREST_MEMO_LIMIT = 16_384  # hosts; about 2 MiB
# Decisions remembered per (URL, page host, type): a household fetches the same URLs again
# (a page's assets, an app's polling) and the index never changes under an engine. Long
# URLs (tracking queries, data) are rarely asked twice and are not kept: at most about 1 MiB.
_DECISION_MEMO_LIMIT = 2048
_DECISION_MEMO_URL = 320
# Rules without a token, filtered for a request type and a page host: at most 2048 of these
# short tuples (a household's pages are on a few hundred sites).
_UNTOKENED_MEMO_LIMIT = 2048
# A page host longer than DNS allows (a made-up Referer) is never kept by either memo.
_MEMO_HOST = 253

_PERCENT_RE = re.compile(r"%([0-9A-Fa-f]{2})")
# RFC 3986 unreserved characters: their encoded and plain forms are the same URL.
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def decode_unreserved(url: str) -> str:
    """`url` with percent-encoded unreserved characters decoded (`/%62ad` -> `/bad`)."""
    if "%" not in url:
        return url
    return _PERCENT_RE.sub(_decode_one, url)


def _decode_one(found: re.Match[str]) -> str:
    code = int(found.group(1), 16)
    return chr(code) if code in _UNRESERVED else found.group()


class _Request:
    """One request's facts, computed once and shared by every rule tested against it."""

    __slots__ = ("host", "host_end", "host_start", "source_host", "third_party", "type_bit", "url", "url_lower")

    def __init__(
        self, url: str, url_lower: str, host_span: tuple[str, int, int], source_host: str, type_bit: int
    ) -> None:
        self.url = url
        self.url_lower = url_lower
        self.host, self.host_start, self.host_end = host_span
        self.source_host = source_host  # "" when the page is unknown
        self.type_bit = type_bit
        self.third_party: bool | None = None  # worked out when a rule first asks


class _Untokened(NamedTuple):
    """A rule without a token, with a substring any URL its pattern matches holds ("" when
    none is known): most URLs pass over it with one `in` test."""

    rule_id: int
    rule: StoredRule
    screen: str


class FilterEngine:
    def __init__(self, index: RuleIndex, tables: Mapping[int, HostTable] | None = None) -> None:
        self._index = index
        self._rules = index.rules
        self._list_names = index.list_names
        self._plain_hosts = index.plain_hosts
        # (table, list id) in list order: the plain host rules of lists read from files
        tables = tables or {}
        self._tables = tuple((tables[list_id], list_id) for list_id in sorted(tables))
        self._cancelled = index.cancelled or None
        self._nearest_memo: dict[str, tuple[int, str, int] | None] = {}
        self._decisions: dict[tuple[str, str, int], Decision] = {}
        self._suffixes = public_suffixes
        self._matchers: dict[int, Glob | RegexMatcher] = {}  # built on first use, by rule id
        # The rules without a token are tried on every request: keep, per request type and
        # page host, only those whose type and `$domain=` admit it (a script-only regex never
        # runs for a page or an image, one site's rule never on another's pages), each with a
        # substring a URL must hold for its pattern to match (see _Untokened).
        self._untokened: dict[tuple[bool, int, str], tuple[_Untokened, ...]] = {}
        self._screened: dict[int, _Untokened] = {}

    @classmethod
    def from_lists(
        cls,
        lists: Mapping[str, str | ListFile],
        formats: Mapping[str, str] | None = None,
        cache_dir: Path | str | None = None,
        *,
        aside: bool = False,
    ) -> FilterEngine:
        """Build from {list name: text or ListFile}; formats maps a name to "auto", "abp",
        "hosts" or "domains" (default "auto"). A list given as a file keeps its plain host
        rules in a compact host table mapped from beside the file (compact.py). With
        cache_dir, reuse the index built for the same lists last time, or build it and save
        it there (and the host tables beside their lists); with `aside` too, the build runs
        in a helper process and this one loads what it saved (aside.py)."""
        formats = dict(formats or {})
        if cache_dir is None:
            return cls._build(lists, formats, persist=False)
        path = cache_path(Path(cache_dir), lists_key(lists, formats))
        payload = read_cache(path)
        if payload is None and aside and build_aside(lists, formats, Path(cache_dir)):
            payload = read_cache(path)
        if payload is not None:
            try:
                index = RuleIndex.from_plain(payload)
            except (TypeError, ValueError, KeyError):
                index = None  # the right checksum on the wrong shape: an older layout; rebuild
            tables = _cached_tables(index, list(lists.values())) if index is not None else None
            if index is not None and tables is not None:
                return cls(index, tables)
        engine = cls._build(lists, formats, persist=True)
        # A read-only or full disk costs the next restart time, not this load.
        with contextlib.suppress(OSError):
            write_cache(path, engine._index.to_plain())
        return engine

    @classmethod
    def _build(cls, lists: Mapping[str, str | ListFile], formats: Mapping[str, str], persist: bool) -> FilterEngine:
        parsed = []
        tables: dict[int, HostTable] = {}
        for list_id, (name, source) in enumerate(lists.items()):
            fmt = formats.get(name, "auto")
            if isinstance(source, str):
                parsed.append(read_list(name, source, fmt))
                continue
            source, handle = open_source(source)
            with handle:  # streamed: a list of millions of lines is never held whole
                read = read_list_file(name, handle, fmt)
                table = load_table(source, read, persist) if read is not None else None
                if read is not None and table is not None:
                    parsed.append((read.rules, read.report))
                    tables[list_id] = table
                else:  # a file the general path must read (see compact.readable), or one replaced meanwhile
                    handle.seek(0)
                    parsed.append(read_list(name, handle.read().decode("utf-8-sig", errors="replace"), fmt))
        index = RuleIndex.from_parsed(list(lists), parsed, tuple(tables))
        for list_id, table in tables.items():
            _count_cancelled(table, index.reports[list_id], index.cancelled)
        return cls(index, tables)

    @classmethod
    def from_files(
        cls, paths: list[str | os.PathLike[str]], fmt: str = "auto", cache_dir: Path | str | None = None
    ) -> FilterEngine:
        """Build from list files, each named by its file name's stem."""
        lists: dict[str, str | ListFile] = {Path(path).stem: ListFile.of(path) for path in paths}
        return cls.from_lists(lists, dict.fromkeys(lists, fmt), cache_dir)

    @property
    def report(self) -> dict[str, ParseReport]:
        return {report.list_name: report for report in self._index.reports}

    @property
    def rule_count(self) -> int:
        return self._index.rule_count + sum(self._index.reports[list_id].compact for _, list_id in self._tables)

    def match(self, url: str, source_url: str | None = None, request_type: str | None = None) -> Decision:
        source_host = url_host(source_url.lower()) if source_url else ""
        type_bit = request_type_bit(request_type)
        # Everything a rule can ask of a request (pattern, host, party, `$domain=`, type)
        # follows from these three, so a remembered decision is the decision.
        key = (url, source_host, type_bit)
        decisions = self._decisions
        found = decisions.get(key)
        if found is not None:
            return found
        decoded = decode_unreserved(url)
        url_lower = decoded.lower()
        request = _Request(decoded, url_lower, url_host_span(url_lower), source_host, type_bit)
        decision = self._decide(request, with_tokens=True)
        if len(url) <= _DECISION_MEMO_URL and len(source_host) <= _MEMO_HOST:
            remember(decisions, key, decision, _DECISION_MEMO_LIMIT)
        return decision

    def match_host(self, host: str) -> Decision:
        """Decide on a host alone (a CONNECT tunnel): only rules that are the host itself
        (`||host^`, hosts and domain lines) and apply to documents take part."""
        host = host.lower()
        if host.startswith("["):
            host = host[: host.find("]") + 1]
        elif host.count(":") == 1:
            host = host.partition(":")[0]
        host = host.rstrip(".")
        return self._decide(_Request("", "", (host, 0, 0), "", DOCUMENT), with_tokens=False)

    def _decide(self, request: _Request, with_tokens: bool) -> Decision:
        index = self._index
        block_tokens = index.block_tokens if with_tokens else None
        exception_tokens = index.exception_tokens if with_tokens else None
        block_untokened = self._untokened_for(True, request) if with_tokens else ()
        block = self._search(request, True, index.block_hosts, block_tokens, block_untokened, False)
        if block is None:
            return NOT_MATCHED
        if not block[1] & IMPORTANT:
            allow = self._search(
                request, False, index.exception_hosts, exception_tokens,
                self._untokened_for(False, request) if with_tokens else (), False,
            )
            if allow is not None:
                important = self._search(
                    request, False, index.block_hosts, block_tokens, block_untokened, True
                )
                if important is None:
                    return Decision(False, allow[0], self._list_names[allow[2]])
                block = important
        return Decision(True, block[0], self._list_names[block[2]])

    def _untokened_for(self, block: bool, request: _Request) -> tuple[_Untokened, ...]:
        """The block (or exception) rules without a token whose types include the request's
        and whose `$domain=` admits its page host."""
        key = (block, request.type_bit, request.source_host)
        memo = self._untokened
        try:
            return memo[key]
        except KeyError:
            pass
        every = self._index.block_untokened if block else self._index.exception_untokened
        rules = self._rules
        kept = []
        for rule_id in every:
            rule = rules[rule_id]
            if rule.types & request.type_bit and self._domains_admit(rule, request.source_host):
                screened = self._screened.get(rule_id)
                if screened is None:
                    screened = self._screened[rule_id] = _Untokened(
                        rule_id, rule, required_substring(rule.flags, rule.pattern))
                kept.append(screened)
        found = tuple(kept)
        if len(request.source_host) <= _MEMO_HOST:
            remember(memo, key, found, _UNTOKENED_MEMO_LIMIT)
        return found

    def _search(
        self,
        request: _Request,
        with_plain: bool,
        by_host: dict[str, tuple[int, ...]],
        by_token: dict[str, tuple[int, ...]] | None,
        untokened: tuple[_Untokened, ...],
        important_only: bool,
    ) -> tuple[str, int, int] | None:
        """(raw, flags, list id) of the first rule in these tables that applies.

        With important_only, only `$important` rules count; by_token None means host
        rules only (match_host).
        """
        rules = self._rules
        host = request.host
        plain_hosts = self._plain_hosts if with_plain else None
        # The nearest level a compact host table blocks, found in one walk per table; the
        # walk below returns it at that level, after the same level's host dict.
        nearest = self._nearest(host) if with_plain and self._tables else None
        depth = 0
        while host:
            if plain_hosts is not None:
                origin = plain_hosts.get(host)
                if origin is not None:
                    if isinstance(origin, int):
                        return f"||{host}^", 0, origin
                    return origin[1], 0, origin[0]
                if nearest is not None and nearest[0] == depth:
                    return nearest[1], 0, nearest[2]
            rule_ids = by_host.get(host)
            if rule_ids is not None:
                for rule_id in rule_ids:
                    rule = rules[rule_id]
                    if (not important_only or rule.flags & IMPORTANT) and self._applies(rule, request):
                        return rule.raw, rule.flags, rule.list_id
            dot = host.find(".")
            if dot < 0:
                break
            host = host[dot + 1 :]
            depth += 1
        if by_token is None:
            return None
        # Each token once: a URL repeating one token thousands of times must not walk its
        # rules thousands of times.
        url, url_lower, type_bit = request.url, request.url_lower, request.type_bit
        for token in dict.fromkeys(TOKEN_RE.findall(url_lower)):
            rule_ids = by_token.get(token)
            if rule_ids is None:
                continue
            for rule_id in rule_ids:
                # The cheapest tests inline, before any call: type, `$important`, a plain substring.
                rule = rules[rule_id]
                if not rule.types & type_bit:
                    continue
                flags = rule.flags
                if important_only and not flags & IMPORTANT:
                    continue
                if flags & PLAIN:
                    if rule.pattern in (url if flags & MATCH_CASE else url_lower) and self._applies(rule, request):
                        return rule.raw, flags, rule.list_id
                elif self._applies(rule, request) and self._pattern_matches(rule_id, rule, request):
                    return rule.raw, flags, rule.list_id
        # Type and `$domain=` are already settled for these (_untokened_for).
        for rule_id, rule, screen in untokened:
            flags = rule.flags
            if important_only and not flags & IMPORTANT:
                continue
            if screen and screen not in (url if flags & MATCH_CASE else url_lower):
                continue
            if flags & PARTY_FLAGS and not self._party_admits(flags, request):
                continue
            if self._pattern_matches(rule_id, rule, request):
                return rule.raw, flags, rule.list_id
        return None

    def _nearest(self, host: str) -> tuple[int, str, int] | None:
        """(depth, rule text, list id) of the nearest level of `host` a host table blocks.
        Remembered per host: a household asks about the same few hundred hosts all day,
        and the tables never change under an engine."""
        memo = self._nearest_memo
        try:
            return memo[host]
        except KeyError:
            pass
        nearest: tuple[int, str, int] | None = None
        for table, list_id in self._tables:
            found = table.find_nearest(host, self._cancelled, 127 if nearest is None else nearest[0])
            if found is not None:
                nearest = (found[0], found[1], list_id)
        if len(host) <= _MEMO_HOST:  # the proxy refuses longer hosts; others (a check, a page) pass unremembered
            remember(memo, host, nearest, _NEAREST_MEMO_LIMIT)
        return nearest

    def _pattern_matches(self, rule_id: int, rule: StoredRule, request: _Request) -> bool:
        flags = rule.flags
        target = request.url if flags & MATCH_CASE else request.url_lower
        if flags & PLAIN:
            return rule.pattern in target
        matcher = self._matchers.get(rule_id)
        if matcher is None:
            matcher = self._matchers[rule_id] = compile_pattern(flags, rule.pattern)
        return matcher.matches(target, request.host_start, request.host_end)

    def _applies(self, rule: StoredRule, request: _Request) -> bool:
        """Type, party and `$domain=` checks (the pattern is already known to match)."""
        flags = rule.flags
        if not rule.types & request.type_bit:
            return False
        if flags & PARTY_FLAGS and not self._party_admits(flags, request):
            return False
        return rule.domains is None or self._domains_admit(rule, request.source_host)

    def _party_admits(self, flags: int, request: _Request) -> bool:
        """`$third-party` / `$~third-party` against the request (not evaluated without a page)."""
        if not request.source_host:
            return True
        third_party = request.third_party
        if third_party is None:
            third_party = request.third_party = self._suffixes.is_third_party(request.host, request.source_host)
        return not ((flags & THIRD_PARTY and not third_party) or (flags & FIRST_PARTY and third_party))

    def _domains_admit(self, rule: StoredRule, source_host: str) -> bool:
        """The rule's `$domain=` against the page host ("" when unknown)."""
        domains = rule.domains
        if domains is None:
            return True
        flags = rule.flags
        if not source_host:
            return not flags & HAS_INCLUDES
        return domain_applies(
            domains, bool(flags & HAS_INCLUDES), bool(flags & HAS_ENTITIES), source_host, self._suffixes
        )



def _cached_tables(index: RuleIndex, sources: list[str | ListFile]) -> dict[int, HostTable] | None:
    """The mapped host tables a cached index relies on; None if one is gone or stale."""
    tables = {}
    for list_id in index.compact_lists:
        source = sources[list_id]
        table = cached_table(source) if isinstance(source, ListFile) else None
        if table is None:
            return None
        tables[list_id] = table
    return tables


def _count_cancelled(table: HostTable, report: ParseReport, cancelled: frozenset[str]) -> None:
    """Move the table's rules a `$badfilter` cancels from loaded to skipped in the report
    (they stay in the shared table; lookups pass over them)."""
    for key in cancelled:
        for host in plain_hosts_of(key, report.format)[0]:
            if table.find(host) == key:
                report.rules["host"] -= 1
                report.compact -= 1
                report.skipped["cancelled by $badfilter"] += 1
