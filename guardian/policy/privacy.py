"""Privacy for every device: tracking parameters, referrers, Global Privacy Control, cookies.

Strategy: a profile's privacy settings compile into one `PrivacyRules` whose two methods
run on the request path. `clean_target` splits the query on `&` only when there is one,
and keeps every parameter it does not remove byte for byte and in order (a site must see
the URL it would have seen without the trackers). `header_changes` says what to do to the
request's headers (drop, replace, add) and whether the response's Set-Cookie must go; it
allocates nothing for the common case of a same-site request with nothing to change
beyond the profile's constant Sec-GPC header.

"Site" is the registrable domain (public suffix list): `www.bbc.co.uk` and `static.bbc.co.uk`
are the same site. The page a request comes from is its Referer, else its Origin; a
request with neither is a navigation the person typed or followed, so it is first-party.
"""

from __future__ import annotations

import functools
import re
from typing import NamedTuple
from urllib.parse import unquote

from guardian.config import PrivacyConfig
from guardian.filters.domains import public_suffixes
from guardian.lists.catalog import lists_dir

from .removeparam import RemoveParamRules

_MAX_QUERY = 16 * 1024  # longer queries are left as they are (nothing rewritten beyond this)
# scheme://[userinfo@]host[:port]: group 1 is the origin without userinfo's part, group 2 the host.
# No nested repetition: one pass over at most the authority.
_ORIGIN = re.compile(r"((?:https?|HTTPS?)://)(?:[^/?#@]*@)?(\[[0-9A-Fa-f:.]*\]|[^:/?#\[\]]*)(:[0-9]{1,5})?")


@functools.cache
def tracking_parameters() -> tuple[frozenset[str], tuple[str, ...]]:
    """(exact names, prefixes) of the shipped list, lower case."""
    exact, prefixes = set(), []
    for raw in (lists_dir() / "tracking_parameters.txt").read_text(encoding="utf-8").splitlines():
        line = raw.strip().lower()
        if not line or line.startswith("#"):
            continue
        if line.endswith("*"):
            prefixes.append(line[:-1])
        else:
            exact.add(line)
    return frozenset(exact), tuple(prefixes)


class HeaderChanges(NamedTuple):
    drop: frozenset[str]  # lower-case names of request headers to remove
    add: tuple[tuple[str, str], ...]  # request headers to add (after dropping)
    strip_set_cookie: bool  # remove Set-Cookie from the response


_NO_DROP: frozenset[str] = frozenset()
_DROP_REFERER = frozenset({"referer"})
_DROP_COOKIE = frozenset({"cookie"})
_DROP_BOTH = frozenset({"referer", "cookie"})
_GPC = (("Sec-GPC", "1"),)


class PrivacyRules:
    """One profile's privacy settings, ready for the request path."""

    __slots__ = ("_cookie_exceptions", "_exact", "_gpc", "_prefixes", "_referer", "_removeparam",
                 "_strip", "_third_party_cookies", "constant")

    def __init__(self, config: PrivacyConfig, removeparam: RemoveParamRules | None = None) -> None:
        self._strip = config.strip_tracking_parameters
        self._exact, self._prefixes = tracking_parameters() if self._strip else (frozenset(), ())
        self._removeparam = removeparam if removeparam else None
        self._referer = config.referer
        self._gpc = config.global_privacy_control
        self._third_party_cookies = config.third_party_cookies == "block"
        self._cookie_exceptions = frozenset(public_suffixes.registrable(h) for h in config.cookie_exceptions)
        # What every request gets when nothing depends on where it comes from.
        self.constant = HeaderChanges(_NO_DROP, _GPC if self._gpc else (), False)

    @property
    def does_nothing(self) -> bool:
        return not (self.rewrites_urls or self._gpc or self._referer != "full" or self._third_party_cookies)

    @property
    def rewrites_urls(self) -> bool:
        return self._strip or self._removeparam is not None

    def clean_target(self, host: str, target: str, site_host: str) -> tuple[str, tuple[str, ...]] | None:
        """`target` without its tracking parameters, and the names removed; None if none were."""
        question = target.find("?")
        if question < 0 or not self.rewrites_urls or len(target) - question > _MAX_QUERY:
            return None
        rules = self._removeparam.rules_for(host) if self._removeparam is not None else ()
        if rules:
            rules = [r for r in rules if r.applies_on(site_host)]
        exact, prefixes = self._exact, self._prefixes
        kept: list[str] = []
        removed: list[str] = []
        for part in target[question + 1:].split("&"):
            name = part.partition("=")[0]
            lowered = (unquote(name) if "%" in name else name).lower()
            tracking = bool(name) and (lowered in exact or (bool(prefixes) and lowered.startswith(prefixes)))
            if tracking or (rules and any(rule.removes(name, part) for rule in rules)):
                removed.append(name)
            else:
                kept.append(part)
        if not removed:
            return None
        path = target[:question]
        return (f"{path}?{'&'.join(kept)}" if kept else path), tuple(removed)

    def header_changes(self, host: str, site_host: str | None, referer: str | None,
                       fetch_site: str | None) -> HeaderChanges:
        """What to change in one request's headers, and whether to strip its Set-Cookie.
        `site_host` is the host of the page asking (Referer, else Origin), None if neither."""
        if site_host is None:
            if fetch_site != "cross-site":
                return self.constant  # a navigation: first-party, nothing to trim
            cross_site = True
        else:
            cross_site = not site_host or public_suffixes.is_third_party(host, site_host)
        drop_referer = referer is not None and (
            self._referer == "none" or (self._referer == "origin" and cross_site))
        drop_cookie = self._third_party_cookies and cross_site and \
            public_suffixes.registrable(host) not in self._cookie_exceptions
        if not drop_referer and not drop_cookie:
            return self.constant
        add = self.constant.add
        if drop_referer and self._referer == "origin" and referer is not None:
            trimmed = origin_of(referer)
            if trimmed:
                add = (*add, ("Referer", trimmed))
        drop = _DROP_BOTH if drop_referer and drop_cookie else _DROP_REFERER if drop_referer else _DROP_COOKIE
        return HeaderChanges(drop, add, drop_cookie)


def url_host(url: str) -> str:
    """The lower-case host of an http(s) URL, "" when it has none ("null" origins and the like)."""
    m = _ORIGIN.match(url)
    if m is None:
        return ""
    return m.group(2).strip("[]").rstrip(".").lower()


def origin_of(url: str) -> str | None:
    """`https://example.com/` for any URL on that origin (what strict-origin referrers send)."""
    m = _ORIGIN.match(url)
    if m is None or not m.group(2):
        return None
    return f"{m.group(1).lower()}{m.group(2)}{m.group(3) or ''}/"
