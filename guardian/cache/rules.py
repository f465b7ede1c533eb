"""RFC 9111 header logic for a shared cache, as pure functions of headers and times.

Strategy: everything the cache decides from headers lives here, with no state and no
locks, so each rule can be tested on its own. The request is read once into
`RequestFacts`, the response once into `ResponseFacts`; the cache keeps only the
numbers it needs later (initial age, freshness lifetime, validators). Times are POSIX
seconds (floats) so tests can pass a fake clock.

Where the RFC leaves room, the choices lean towards storing less: any `private` (even
the qualified form) or `Set-Cookie` makes a response unstorable, an invalid or repeated
delta-seconds value counts as 0 (stale), and `Vary` on anything but `Accept-Encoding`
makes a response unstorable.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email.utils import mktime_tz, parsedate_tz

from guardian.config import CacheConfig
from guardian.memo import remember

Headers = Sequence[tuple[str, str]]

# RFC 9110 §15.1 "heuristically cacheable" statuses, minus 204 (no content type to
# check) and 206 (only complete bodies are stored).
STORABLE_STATUSES = frozenset({200, 203, 300, 301, 308, 404, 405, 410, 414, 501})
HEURISTIC_FRACTION = 0.1  # of the time since Last-Modified (RFC 9111 §4.2.2)
HEURISTIC_CAP = 86400.0  # one day
MAX_DELTA = 2**31  # RFC 9111 §1.2.2: larger delta-seconds mean "a very long time"

# Never stored: hop-by-hop fields (RFC 9110 §7.6.1), fields recomputed on each hit
# (Age, X-Cache) and Content-Length, which is set from the stored body itself.
_NOT_STORED = frozenset({
    "connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer",
    "upgrade", "proxy-authenticate", "proxy-authorization", "age", "x-cache", "content-length",
})
# RFC 9110 §15.4.5: what a 304 carries over from the stored response.
_NOT_MODIFIED_FIELDS = frozenset({
    "cache-control", "content-location", "date", "etag", "expires", "last-modified", "vary",
})
_URL_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)([^#]*)")
_DIRECTIVE_RE = re.compile(
    r"([!#$%&'*+.^_`|~0-9A-Za-z-]+)(?:[ \t]*=[ \t]*(?:\"((?:[^\"\\]|\\.)*)\"|([^\s,\"]*)))?"
)


def header(headers: Headers, name: str) -> str | None:
    """The first value of `name` (lower-case), or None."""
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def header_values(headers: Headers, name: str) -> list[str]:
    return [value for key, value in headers if key.lower() == name]


def comma_tokens(headers: Headers, name: str) -> set[str]:
    """Lower-cased list items of every `name` field (e.g. Vary, Pragma)."""
    return {
        item.strip().lower()
        for value in header_values(headers, name)
        for item in value.split(",")
        if item.strip()
    }


def parse_cache_control(headers: Headers) -> dict[str, str | None]:
    """Directive -> argument (None when bare). A directive repeated with a different
    argument keeps an empty one, which `delta_seconds` reads as 0: RFC 9111 §4.2.1
    encourages treating such conflicts as stale."""
    directives: dict[str, str | None] = {}
    for value in header_values(headers, "cache-control"):
        for match in _DIRECTIVE_RE.finditer(value):
            name = match.group(1).lower()
            arg = match.group(2) if match.group(2) is not None else match.group(3)
            if name in directives and directives[name] != arg:
                arg = ""
            directives[name] = arg
    return directives


def delta_seconds(directives: dict[str, str | None], name: str) -> int | None:
    """A delta-seconds directive: None when absent, 0 when malformed."""
    if name not in directives:
        return None
    arg = directives[name]
    if arg is None or not (arg.isascii() and arg.isdigit()):
        return 0
    return min(int(arg), MAX_DELTA)


def parse_http_date(value: str | None) -> float | None:
    """An HTTP-date (any of the three RFC 9110 §5.6.7 forms) as POSIX seconds."""
    if not value:
        return None
    parsed = parsedate_tz(value)
    if parsed is None:
        return None
    if parsed[9] is None:  # asctime form: no zone, and HTTP dates are always GMT
        parsed = (*parsed[:9], 0)
    try:
        return float(mktime_tz(parsed))
    except (OverflowError, ValueError):
        return None


def cache_url(url: str) -> str:
    """The URL as a key: scheme and host lower-cased, no fragment. Path and query are
    kept byte for byte because origins may treat their case as meaningful. (A regex,
    not `urlsplit`, whose internal cache would hold on to recent URLs.)"""
    return url if _already_a_key(url) else _normalised(url)


def _normalised(url: str) -> str:
    match = _URL_RE.match(url)
    if match is None:
        return url.partition("#")[0]
    scheme, authority, rest = match.groups()
    return f"{scheme.lower()}://{authority.lower()}{'/' if not rest.startswith('/') else ''}{rest}"


def _already_a_key(url: str) -> bool:
    """Whether `cache_url` would return `url` unchanged, seen without the regex and the
    rebuild: no fragment, and a path after the authority with nothing upper-case or "?"
    before it (an invalid scheme makes no difference: the URL is then its own key). The
    proxy core builds every URL it asks about this way."""
    path_start = url.find("/", url.find("://") + 3)
    if path_start < 0 or "#" in url:
        return False
    head = url[:path_start]
    return "://" in head and head.islower() and "?" not in head


def normalise_accept_encoding(value: str | None) -> str:
    """Accept-Encoding reduced to a canonical form, so `gzip, br` and `br,gzip` share
    one stored variant."""
    if not value:
        return ""
    items = {"".join(item.split()).lower() for item in value.split(",")}
    return ",".join(sorted(item for item in items if item))


def content_type_allowed(value: str | None, patterns: Iterable[str]) -> bool:
    """Whether the media type (parameters ignored) matches one of the configured
    patterns; `type/*` matches a whole top-level type."""
    return ContentTypes.of(patterns).allows(value)


# Content-Type values judged before, per configuration: an origin sends the same few.
# Values come from origins, so the memo is bounded in entries and in length.
_JUDGED_MAX = 256
_JUDGED_CHARS = 100


class ContentTypes:
    """The configured content types, compiled once per configuration: a set of exact
    types and a tuple of `type/` prefixes, so a response's type is one set lookup and one
    `startswith`, not a walk over the patterns; a value judged before is one dict lookup."""

    __slots__ = ("_judged", "exact", "prefixes")

    def __init__(self, exact: frozenset[str], prefixes: tuple[str, ...]) -> None:
        self.exact = exact
        self.prefixes = prefixes
        self._judged: dict[str, bool] = {}

    @classmethod
    def of(cls, patterns: Iterable[str]) -> ContentTypes:
        patterns = tuple(patterns)
        prefixes = ("",) if "*/*" in patterns else tuple(p[:-1] for p in patterns if p.endswith("/*"))
        return cls(frozenset(patterns), prefixes)

    def allows(self, value: str | None) -> bool:
        if not value:
            return False
        judged = self._judged.get(value)
        if judged is None:
            judged = self._judge(value)
            if len(value) <= _JUDGED_CHARS:
                remember(self._judged, value, judged, _JUDGED_MAX)
        return judged

    def _judge(self, value: str) -> bool:
        media = value.split(";", 1)[0].strip().lower()
        return media in self.exact or media.startswith(self.prefixes)


def stored_headers(headers: Headers) -> list[tuple[str, str]]:
    """The response's end-to-end fields as they are kept with a stored body."""
    named = comma_tokens(headers, "connection") | comma_tokens(headers, "proxy-connection")
    return [(k, v) for k, v in headers if k.lower() not in _NOT_STORED and k.lower() not in named]


def merge_not_modified(stored: Headers, fresh: Headers) -> list[tuple[str, str]]:
    """RFC 9111 §4.3.4: a 304's fields replace the stored ones of the same name;
    Content-Length stays the stored body's."""
    update = stored_headers(fresh)
    replaced = {k.lower() for k, _ in update}
    kept = [(k, v) for k, v in stored if k.lower() not in replaced]
    return kept + update


def not_modified_headers(headers: Headers) -> list[tuple[str, str]]:
    """The subset of a full response's fields that a 304 to the client carries."""
    return [(k, v) for k, v in headers if k.lower() in _NOT_MODIFIED_FIELDS]


def with_x_cache(headers: Headers, label: str) -> list[tuple[str, str]]:
    """`headers` with our `X-Cache: label`, replacing any an upstream cache sent."""
    return [(k, v) for k, v in headers if k.lower() != "x-cache"] + [("X-Cache", label)]


# The request fields RequestFacts reads: the rest (most of a browser's) are skipped in one pass.
_REQUEST_FIELDS = frozenset({
    "cache-control", "pragma", "authorization", "range", "accept-encoding", "if-none-match", "if-modified-since",
})
_REQUEST_FIELD_LENGTHS = frozenset(len(name) for name in _REQUEST_FIELDS)


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """What the cache needs to know about a request, read once."""

    no_cache: bool  # Cache-Control: no-cache, max-age=0 or Pragma: no-cache: revalidate
    no_store: bool
    max_age: int | None
    min_fresh: int
    authorized: bool
    ranged: bool
    accept_encoding: str  # normalised, part of the key of Vary: Accept-Encoding entries
    if_none_match: str | None
    if_modified_since: str | None

    @classmethod
    def read(cls, headers: Headers) -> RequestFacts:
        wanted = []
        for key, value in headers:
            if len(key) in _REQUEST_FIELD_LENGTHS:  # most of a browser's fields: no lower() needed
                key = key.lower()
                if key in _REQUEST_FIELDS:
                    wanted.append((key, value))
        if not wanted:
            return _PLAIN_REQUEST
        # A browser sends the same few of these (its Accept-Encoding above all) on most
        # requests: the facts are immutable, so those read before are reused. Credentials
        # and long values (validators) are not kept.
        fields = tuple(wanted)
        found = _READ_BEFORE.get(fields)
        if found is None:
            found = cls._read(wanted)
            if sum(len(value) for _, value in wanted) <= _READ_BEFORE_CHARS and not found.authorized:
                remember(_READ_BEFORE, fields, found, _READ_BEFORE_LIMIT)
        return found

    @classmethod
    def _read(cls, headers: Headers) -> RequestFacts:
        cc = parse_cache_control(headers)
        max_age = delta_seconds(cc, "max-age")
        return cls(
            no_cache="no-cache" in cc or max_age == 0 or "no-cache" in comma_tokens(headers, "pragma"),
            no_store="no-store" in cc,
            max_age=max_age,
            min_fresh=delta_seconds(cc, "min-fresh") or 0,
            authorized=header(headers, "authorization") is not None,
            ranged=header(headers, "range") is not None,
            accept_encoding=normalise_accept_encoding(", ".join(header_values(headers, "accept-encoding"))),
            if_none_match=header(headers, "if-none-match"),
            if_modified_since=header(headers, "if-modified-since"),
        )


_PLAIN_REQUEST = RequestFacts._read(())
# Request facts by the fields they were read from; validators (If-None-Match) vary, so bounded.
_READ_BEFORE: dict[tuple[tuple[str, str], ...], RequestFacts] = {}
_READ_BEFORE_LIMIT = 256
_READ_BEFORE_CHARS = 128


@dataclass(frozen=True, slots=True)
class ResponseFacts:
    """The freshness numbers of a response (RFC 9111 §4.2), read once on arrival."""

    directives: dict[str, str | None]
    lifetime: float  # freshness lifetime in seconds; 0 means "always revalidate"
    initial_age: float  # corrected_initial_age of §4.2.3
    shared_with_authorization: bool  # §3.5: may be stored/served for Authorization requests
    varies_on_encoding: bool
    etag: str | None
    last_modified: str | None

    @classmethod
    def read(cls, status: int, headers: Headers, request_time: float, response_time: float) -> ResponseFacts:
        cc = parse_cache_control(headers)
        date = parse_http_date(header(headers, "date"))
        if date is None:
            date = response_time  # §4.2.3: a recipient without Date uses the receipt time
        age = (header(headers, "age") or "").strip()
        age_value = min(int(age), MAX_DELTA) if age.isascii() and age.isdigit() else 0  # invalid: ignored
        apparent_age = max(0.0, response_time - date)
        corrected_age = age_value + max(0.0, response_time - request_time)
        return cls(
            directives=cc,
            lifetime=freshness_lifetime(status, headers, cc, date),
            initial_age=max(apparent_age, corrected_age),
            # RFC 9111 §3.5 also lists must-revalidate; the issue allows only these two.
            shared_with_authorization="public" in cc or "s-maxage" in cc,
            varies_on_encoding="accept-encoding" in comma_tokens(headers, "vary"),
            etag=header(headers, "etag"),
            last_modified=header(headers, "last-modified"),
        )

    @property
    def has_validator(self) -> bool:
        return self.etag is not None or self.last_modified is not None


def freshness_lifetime(status: int, headers: Headers, cc: dict[str, str | None], date: float) -> float:
    """RFC 9111 §4.2.1, shared-cache order: s-maxage, max-age, Expires - Date, then the
    heuristic. `no-cache` responses get 0 so every use is revalidated."""
    if "no-cache" in cc:
        return 0.0
    for name in ("s-maxage", "max-age"):
        seconds = delta_seconds(cc, name)
        if seconds is not None:
            return float(seconds)
    expires = header_values(headers, "expires")
    if expires:
        when = parse_http_date(expires[0])
        # An invalid Expires ("0", "-1") means already expired (§5.3).
        return max(0.0, when - date) if when is not None and len(expires) == 1 else 0.0
    last_modified = parse_http_date(header(headers, "last-modified"))
    if last_modified is not None and status in STORABLE_STATUSES:
        return min(HEURISTIC_CAP, max(0.0, (date - last_modified) * HEURISTIC_FRACTION))
    return 0.0


def current_age(initial_age: float, response_time: float, now: float) -> float:
    """RFC 9111 §4.2.3: the corrected initial age plus the time spent in this cache."""
    return initial_age + max(0.0, now - response_time)


def uncacheable_reason(
    status: int, headers: Headers, facts: ResponseFacts, authorized: bool, config: CacheConfig
) -> str | None:
    """Why a response to a GET must not be stored by this shared cache (RFC 9111 §3 and
    the issue's static-assets scope), or None when it may be."""
    cc = facts.directives
    if status not in STORABLE_STATUSES:
        return f"status {status}"
    if "no-store" in cc:
        return "no-store"
    if "private" in cc:
        return "private"
    if authorized and not facts.shared_with_authorization:
        return "authorization"
    if header(headers, "set-cookie") is not None:
        return "set-cookie"
    if comma_tokens(headers, "vary") - {"accept-encoding"}:
        return "vary"
    if not content_type_allowed(header(headers, "content-type"), config.content_types):
        return "content-type"
    length = header(headers, "content-length")
    if length is not None and length.strip().isdigit() and int(length) > config.max_object_bytes:
        return "too large"
    if facts.lifetime <= 0 and not facts.has_validator:
        return "no freshness and no validator"  # it could never be used
    return None


def quick_refusal(status: int, headers: Headers, content_types: ContentTypes) -> str | None:
    """The reasons not to store a response that its status and one pass over its fields
    show (most answers a household fetches: pages, data, other content types), so the
    freshness arithmetic and date parsing run only for candidates. `uncacheable_reason`
    remains the whole rule."""
    if status not in STORABLE_STATUSES:
        return f"status {status}"
    content_type = None
    for key, value in headers:
        if len(key) not in (10, 12):  # neither "set-cookie" nor "content-type": no lower() needed
            continue
        key = key.lower()
        if key == "set-cookie":
            return "set-cookie"
        if key == "content-type" and content_type is None:
            content_type = value
    if not content_types.allows(content_type):
        return "content-type"
    return None


def client_not_modified(request: RequestFacts, etag: str | None, last_modified: str | None) -> bool:
    """RFC 9110 §13.2.2 for a GET/HEAD answered from the store: If-None-Match (weak
    comparison) takes precedence; If-Modified-Since is used only without it."""
    if request.if_none_match is not None:
        if etag is None:
            return False
        wanted = {tag.strip().removeprefix("W/") for tag in request.if_none_match.split(",")}
        return "*" in wanted or etag.strip().removeprefix("W/") in wanted
    since = parse_http_date(request.if_modified_since)
    modified = parse_http_date(last_modified)
    return since is not None and modified is not None and modified <= since
