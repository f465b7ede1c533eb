"""Hosts of URLs, registrable domains, and the `$domain=` test.

Registrable domains (eTLD+1) come from the public suffix list snapshot `tldextract` ships,
matched by guardian/filters/suffixes.py: offline, writing nothing. Lookups are memoised per host because a proxy
sees the same few hundred hosts over and over; the memo is cleared when it grows large so
a long-running proxy's memory stays bounded.
"""

from __future__ import annotations

import re

from guardian.filters.suffixes import LazySuffixTable, looks_like_ipv4, suffix_table
from guardian.memo import remember

# Scheme, optional user info, then the host: a bracketed IPv6 address or up to the port.
_HOST_RE = re.compile(r"[a-z][a-z0-9+.-]*://(?:[^/?#@]*@)?(\[[^\]/?#]*\]|[^/?#:]*)")
_MEMO_LIMIT = 50_000


def url_host(url_lower: str) -> str:
    """The host of an already lower-cased URL, without port or trailing dot ("" if none)."""
    return url_host_span(url_lower)[0]


def url_host_span(url_lower: str) -> tuple[str, int, int]:
    """(host without trailing dot, start, end) of the host as written in the URL."""
    found = _HOST_RE.match(url_lower)
    if found is None:
        return "", 0, 0
    start, end = found.span(1)
    host = found.group(1)
    return (host[:-1] if host.endswith(".") else host), start, end


class PublicSuffixes:
    """Registrable domains and public suffixes of hosts, from the bundled snapshot only.

    One instance (`public_suffixes`) serves every engine: the suffix list is the same for
    all, and building it costs about 50 ms.
    """

    def __init__(self, table: LazySuffixTable = suffix_table) -> None:
        self._table = table
        self._memo: dict[str, tuple[str, str]] = {}

    def _split(self, host: str) -> tuple[str, str]:
        """(registrable domain, public suffix) of a host; an IP address is its own domain."""
        split = self._memo.get(host)
        if split is None:
            if "." not in host or host.startswith("[") or looks_like_ipv4(host):
                split = (host, "")
            else:
                labels = host.split(".")
                length = self._table.suffix_length(labels, private=False)
                if 0 < length < len(labels):
                    split = (".".join(labels[-length - 1:]), ".".join(labels[-length:]))
                else:
                    # A top-level label the list does not know (`.example`, `.lan`), or a host
                    # that is itself a suffix: the list's own default rule, `*`, makes the last
                    # label the suffix.
                    split = (".".join(labels[-2:]), labels[-1])
            remember(self._memo, host, split, _MEMO_LIMIT)
        return split

    def is_suffix(self, host: str) -> bool:
        """Whether `host` is a top-level domain or a public suffix (ICANN or private section:
        `com`, `co.uk`, `github.io`); a single label the list does not know counts too."""
        if "." not in host:
            return bool(host)
        return self.listed(host)

    def listed(self, host: str) -> bool:
        """Whether the list (either section) names `host` itself as a public suffix."""
        if looks_like_ipv4(host):
            return False
        labels = host.split(".")
        return self._table.suffix_length(labels, private=True) == len(labels)

    def registrable(self, host: str) -> str:
        return self._split(host)[0]

    def is_third_party(self, host: str, source_host: str) -> bool:
        return self._split(host)[0] != self._split(source_host)[0]

    def entity(self, host: str) -> str | None:
        """`host` with its public suffix replaced by `*` (`www.google.*`), None if it has none."""
        suffix = self._split(host)[1]
        if not suffix or len(suffix) >= len(host):
            return None
        return host[: -len(suffix)] + "*"


public_suffixes = PublicSuffixes()


def domain_applies(
    domains: dict[str, bool], has_includes: bool, has_entities: bool, source_host: str,
    suffixes: PublicSuffixes,
) -> bool:
    """Whether a `$domain=` list admits a page on `source_host`.

    The most specific entry wins: walk the host from itself up to its top label and take
    the first entry met, checking `name.*` entity entries beside the plain name at each
    level. No entry met: the rule applies only if it lists no included domain.
    """
    entity = suffixes.entity(source_host) if has_entities else None
    host = source_host
    while True:
        verdict = domains.get(host)
        if verdict is not None:
            return verdict
        if entity is not None:
            verdict = domains.get(entity)
            if verdict is not None:
                return verdict
        dot = host.find(".")
        if dot < 0:
            return not has_includes
        host = host[dot + 1 :]
        if entity is not None:
            dot = entity.find(".")
            # Once only the suffix is left ("*"), there is no entity name to test.
            entity = entity[dot + 1 :] if dot >= 0 and entity[dot + 1 :] != "*" else None
