"""What policy does to an allowed request on its way through: file kinds and privacy.

Strategy: `decide()` answers whether a request may go; for a plain-HTTP request (or one
inside an inspected tunnel) that may, `ExchangeRules.review` then says how: the file
kinds the profile blocks (checked on the URL now, and on the response head later), the
tracking parameters to take off the URL and the header changes privacy asks for. The
result travels to the core in `Verdict.edits`, an `ExchangeEdits` the core calls at
three fixed points (request headers, response head, response headers) without knowing
why. Nothing here applies to a CONNECT: a tunnel's insides are not seen.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import NamedTuple

from guardian.memo import remember
from guardian.proxy.hooks import Verdict

from .filetypes import FileKind, FileTypeRules
from .privacy import HeaderChanges, PrivacyRules, url_host
from .schedules import Window

BlockMaker = Callable[[str, str | None], Verdict]  # (reason, schedule name) -> a blocked Verdict


class ScheduledFileTypes(NamedTuple):
    name: str
    label: str  # "School nights"
    window: Window
    rules: FileTypeRules


class FileBlock(NamedTuple):
    kind: FileKind
    schedule: ScheduledFileTypes | None

    def reason(self, profile: str) -> str:
        """"Downloads of programs (.exe) are blocked for Kids[ during School nights]"."""
        during = f" during {self.schedule.label}" if self.schedule is not None else ""
        return f"{self.kind.describe()} are blocked for {profile}{during}"


class ExchangeEdits:
    """The changes one allowed request gets, applied by the core (see proxy/hooks.py)."""

    __slots__ = ("_block", "_changes", "_file_rules", "_profile", "judges_responses")

    def __init__(self, changes: HeaderChanges, file_rules: tuple[FileTypeRules, ...],
                 block: BlockMaker | None, profile: str) -> None:
        self._changes = changes
        self._file_rules = file_rules
        self._block = block
        self._profile = profile
        self.judges_responses = bool(file_rules) and block is not None

    def request_headers(self, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        changes = self._changes
        if changes.drop:
            drop = changes.drop
            headers = [(k, v) for k, v in headers if k.lower() not in drop]
        if changes.add:
            present = {k.lower() for k, _ in headers}
            headers = headers + [(k, v) for k, v in changes.add if k.lower() not in present]
        return headers

    def response_verdict(self, fields: Mapping[str, str]) -> Verdict | None:
        """A blocked Verdict when the response head shows a file kind this profile blocks."""
        if not self._file_rules or self._block is None:
            return None
        content_type, disposition = fields.get("content-type"), fields.get("content-disposition")
        if content_type is None and disposition is None:
            return None
        for rules in self._file_rules:
            kind = rules.match_response(content_type, disposition)
            if kind is not None:
                return self._block(FileBlock(kind, None).reason(self._profile), None)
        return None

    def response_headers(self, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        if self._changes.strip_set_cookie:
            return [(k, v) for k, v in headers if k.lower() != "set-cookie"]
        return headers


class Review(NamedTuple):
    """`review`'s answer: a file block, or the target to send and the edits to apply."""

    blocked: FileBlock | None
    target: str | None  # the target without tracking parameters; None when unchanged
    removed: tuple[str, ...]  # the parameter names taken off
    edits: ExchangeEdits | None



# The part of a review that depends only on the host and the page asking (see
# `ExchangeRules._edits_from_page`): the page's host, the header changes, and the edits that
# make them when no file kind is judged. A plain tuple: made on every first visit.
FromPage = tuple[str | None, HeaderChanges, ExchangeEdits]


# Answers kept per profile (a few pages' worth; at most about 300 KiB); keys (host,
# Referer or Origin, Sec-Fetch-Site) longer than this are not kept.
_FROM_PAGE_MAX = 256
_FROM_PAGE_CHARS = 512


class ExchangeRules:
    """A profile's file kinds (always and during schedules) and its privacy settings."""

    __slots__ = ("_always", "_constant_review", "_file_kinds", "_from_page", "_privacy", "_profile_name",
                 "_scheduled", "constant_edits")

    def __init__(self, profile_name: str, always: FileTypeRules | None,
                 scheduled: tuple[ScheduledFileTypes, ...], privacy: PrivacyRules) -> None:
        self._profile_name = profile_name
        self._always = always
        self._scheduled = scheduled
        self._privacy = privacy
        # Shared by every request that needs only the profile's constant header changes.
        self.constant_edits = ExchangeEdits(privacy.constant, (), None, profile_name)
        self._constant_review = Review(None, None, (), self.constant_edits)
        self._file_kinds = always is not None or bool(scheduled)
        self._from_page: dict[tuple[str, str | None, str | None, str | None], FromPage] = {}

    def review(self, host: str, target: str, minute: int, headers: Mapping[str, str],
               block: BlockMaker) -> Review:
        if not self._file_kinds and "?" not in target and "referer" not in headers and "origin" not in headers \
                and headers.get("sec-fetch-site") != "cross-site":
            # No query to clean and no page it comes from (a navigation, or a client like
            # wrk or an app): only the profile's constant edits apply.
            return self._constant_review
        file_rules = self._active_file_rules(minute) if self._file_kinds else ()
        for rules, schedule in file_rules:
            kind = rules.match_request(target)
            if kind is not None:
                return Review(FileBlock(kind, schedule), None, (), None)
        site_host, changes, edits = self._edits_from_page(
            host, headers.get("referer"), headers.get("origin"), headers.get("sec-fetch-site"))
        cleaned = self._privacy.clean_target(host, target, site_host or host)
        if file_rules:
            edits = ExchangeEdits(changes, tuple(r for r, _ in file_rules), block, self._profile_name)
        if cleaned is None:
            return self._constant_review if edits is self.constant_edits else Review(None, None, (), edits)
        return Review(None, cleaned[0], cleaned[1], edits)

    def _edits_from_page(self, host: str, referer: str | None, origin: str | None,
                         fetch_site: str | None) -> FromPage:
        """What privacy changes for a request to `host` from the page its fields name. A
        page's requests (tens, to a few hosts) ask the same again: the answers, which
        depend on nothing else, are remembered (bounded in entries and in length, as the
        fields come from clients)."""
        key = (host, referer, None if referer else origin, fetch_site)
        found = self._from_page.get(key)
        if found is None:
            found = self._read_page(host, referer, origin, fetch_site)
            if len(host) + len(referer or origin or "") + len(fetch_site or "") <= _FROM_PAGE_CHARS:
                remember(self._from_page, key, found, _FROM_PAGE_MAX)
        return found

    def _read_page(self, host: str, referer: str | None, origin: str | None, fetch_site: str | None) -> FromPage:
        site_url = referer or origin
        site_host = url_host(site_url) if site_url else None
        changes = self._privacy.header_changes(host, site_host, referer, fetch_site)
        edits = self.constant_edits if changes is self._privacy.constant else \
            ExchangeEdits(changes, (), None, self._profile_name)
        return site_host, changes, edits

    def _active_file_rules(self, minute: int) -> list[tuple[FileTypeRules, ScheduledFileTypes | None]]:
        active: list[tuple[FileTypeRules, ScheduledFileTypes | None]] = []
        if self._always is not None:
            active.append((self._always, None))
        for schedule in self._scheduled:
            if schedule.window.active(minute):
                active.append((schedule.rules, schedule))
        return active

    def file_kind_of(self, target: str, minute: int) -> FileBlock | None:
        """For explanations: the file kind a URL's path would be blocked as, now."""
        for rules, schedule in self._active_file_rules(minute):
            kind = rules.match_request(target)
            if kind is not None:
                return FileBlock(kind, schedule)
        return None

    @property
    def has_schedules(self) -> bool:
        return bool(self._scheduled)
