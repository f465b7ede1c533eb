"""Safe search without decrypting anything: connect search hosts to their "safe" address.

Google, Bing, DuckDuckGo and YouTube each publish a host name whose servers enforce
safe search for every request, whatever the browser asks: forcesafesearch.google.com,
strict.bing.com, safe.duckduckgo.com, restrict(moderate).youtube.com. Pointing the
search host at that address is what those vendors recommend for networks (as a DNS
CNAME). The proxy does the same for a CONNECT or a plain request: the Verdict's
`connect_host` names the safe host, and the core resolves and connects to it while the
client keeps talking TLS (and Host:) to the name it asked for.

Plain-HTTP search requests can also be rewritten (`target`) to carry the vendor's own
safe parameter; over HTTPS the path is not visible, so the address alone does the work.

Strategy: `SafeSearch.for_profile()` builds one table host -> safe host per setting
combination, so the request path costs one dict lookup, plus a regex only for the
many Google country domains (google.co.uk, google.com.au, google.de, ...).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode

from guardian.proxy.hooks import Edits, Verdict

GOOGLE_SAFE = "forcesafesearch.google.com"
BING_SAFE = "strict.bing.com"
DDG_SAFE = "safe.duckduckgo.com"
YOUTUBE_SAFE = {"moderate": "restrictmoderate.youtube.com", "strict": "restrict.youtube.com"}

BING_HOSTS = ("www.bing.com", "bing.com")
# html. and lite. are DuckDuckGo's no-JavaScript front ends: same searches, same safe host.
DDG_HOSTS = ("duckduckgo.com", "www.duckduckgo.com", "start.duckduckgo.com", "html.duckduckgo.com",
             "lite.duckduckgo.com")
# The five hosts Google's "restrict YouTube content on your network" page (support.google.com/a/
# answer/6214622, the DNS and the HTTP-header options) names, plus the bare youtube.com: it only
# sends browsers on to www.youtube.com, but a link or an app may start there, and through
# the restricted address even that first answer comes from the restricted service.
YOUTUBE_HOSTS = (
    "www.youtube.com", "m.youtube.com", "youtubei.googleapis.com", "youtube.googleapis.com",
    "www.youtube-nocookie.com", "youtube.com",
)
# google.com, google.<cc>, google.co.<cc>, google.com.<cc>, and google.cat, with or without www.
_GOOGLE_SEARCH = re.compile(r"(?:www\.)?google\.(?:com|cat|[a-z]{2}|co\.[a-z]{2}|com\.[a-z]{2})")

# The search paths whose query gains the vendor's parameter, and that parameter.
_PARAMS = {
    GOOGLE_SAFE: ("/search", "safe", "active"),
    BING_SAFE: ("/search", "adlt", "strict"),
    DDG_SAFE: ("", "kp", "1"),  # DuckDuckGo searches at / and /html/ alike: any path with q=
}


# Google's documented header for YouTube's restricted mode, sent on requests to YOUTUBE_HOSTS.
_RESTRICT_HEADER = {"moderate": "Moderate", "strict": "Strict"}


class YouTubeRestrict:
    """Request edits that set `YouTube-Restrict` (replacing the device's own) on top of the
    edits the request already had (see proxy/hooks.py Edits)."""

    __slots__ = ("inner", "value")

    def __init__(self, value: str, inner: Edits | None) -> None:
        self.value = value
        self.inner = inner

    @property
    def judges_responses(self) -> bool:
        return self.inner is not None and self.inner.judges_responses

    def request_headers(self, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        if self.inner is not None:
            headers = self.inner.request_headers(headers)
        return [(k, v) for k, v in headers if k.lower() != "youtube-restrict"] + [("YouTube-Restrict", self.value)]

    def response_verdict(self, fields: Mapping[str, str]) -> Verdict | None:
        return self.inner.response_verdict(fields) if self.inner is not None else None

    def response_headers(self, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return self.inner.response_headers(headers) if self.inner is not None else headers


class SafeSearch:
    """The safe-search rewrite for one profile's settings."""

    __slots__ = ("_google", "_hosts", "_youtube")

    def __init__(self, search: bool, youtube: str) -> None:
        hosts: dict[str, str] = {}
        if search:
            hosts.update(dict.fromkeys(BING_HOSTS, BING_SAFE))
            hosts.update(dict.fromkeys(DDG_HOSTS, DDG_SAFE))
        if youtube in YOUTUBE_SAFE:
            hosts.update(dict.fromkeys(YOUTUBE_HOSTS, YOUTUBE_SAFE[youtube]))
        self._hosts = hosts
        self._google = search
        self._youtube = _RESTRICT_HEADER.get(youtube)

    @property
    def enabled(self) -> bool:
        return bool(self._hosts) or self._google

    def connect_host(self, host: str) -> str | None:
        """The safe host to connect to instead of `host`, or None."""
        safe = self._hosts.get(host)
        if safe is None and self._google and "google." in host and _GOOGLE_SEARCH.fullmatch(host):
            safe = GOOGLE_SAFE
        return safe

    def youtube_restrict(self, host: str) -> str | None:
        """The `YouTube-Restrict` value for a request to a YouTube host, else None."""
        return self._youtube if self._youtube is not None and host in YOUTUBE_HOSTS else None

    @staticmethod
    def reason(safe_host: str) -> str:
        """What connecting to `safe_host` does, in a parent's words."""
        for mode, host in YOUTUBE_SAFE.items():
            if safe_host == host:
                return f"YouTube restricted mode ({mode}): connected to {safe_host}, which enforces it"
        return f"Safe search: connected to {safe_host}"

    @staticmethod
    def target(safe_host: str, target: str) -> str | None:
        """A plain-HTTP search target with the safe parameter set; None to leave it alone."""
        rule = _PARAMS.get(safe_host)
        if rule is None:
            return None
        path, _, query = target.partition("?")
        search_path, name, value = rule
        pairs = parse_qsl(query, keep_blank_values=True)
        if search_path and path != search_path:
            return None
        if not search_path and not any(key == "q" for key, _ in pairs):
            return None
        pairs = [(key, val) for key, val in pairs if key != name] + [(name, value)]
        return f"{path}?{urlencode(pairs)}"
