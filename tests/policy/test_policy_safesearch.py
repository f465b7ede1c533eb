"""Safe search: search hosts connect to the vendor's safe address; plain HTTP also gets the parameter."""

from __future__ import annotations

import pytest

from guardian.policy.safesearch import SafeSearch

# A resolver we control: the proxy core resolves `connect_host or host`.
FAKE_DNS = {
    "www.google.com": "142.250.1.1",
    "forcesafesearch.google.com": "216.239.38.120",
    "www.bing.com": "13.107.21.200",
    "strict.bing.com": "204.79.197.220",
    "restrict.youtube.com": "216.239.38.119",
    "restrictmoderate.youtube.com": "216.239.38.119",
}


@pytest.mark.parametrize(("host", "safe"), [
    ("www.google.com", "forcesafesearch.google.com"),
    ("google.com", "forcesafesearch.google.com"),
    ("www.google.co.uk", "forcesafesearch.google.com"),
    ("google.de", "forcesafesearch.google.com"),
    ("www.google.com.au", "forcesafesearch.google.com"),
    ("www.bing.com", "strict.bing.com"),
    ("bing.com", "strict.bing.com"),
    ("duckduckgo.com", "safe.duckduckgo.com"),
    ("start.duckduckgo.com", "safe.duckduckgo.com"),
    ("www.youtube.com", "restrict.youtube.com"),
    ("m.youtube.com", "restrict.youtube.com"),
    ("youtubei.googleapis.com", "restrict.youtube.com"),
    ("www.youtube-nocookie.com", "restrict.youtube.com"),
    ("youtube.googleapis.com", "restrict.youtube.com"),
    ("youtube.com", "restrict.youtube.com"),
    ("music.youtube.com", None),
    ("mail.google.com", None),
    ("www.googleapis.com", None),
    ("google.evil.example", None),
    ("images.bing.com.evil.example", None),
    ("example.com", None),
])
def test_safe_hosts_for_a_strict_profile(host: str, safe: str | None) -> None:
    assert SafeSearch(True, "strict").connect_host(host) == safe


def test_youtube_modes_are_independent_of_search() -> None:
    assert SafeSearch(False, "moderate").connect_host("www.youtube.com") == "restrictmoderate.youtube.com"
    assert SafeSearch(False, "moderate").connect_host("www.google.com") is None
    assert SafeSearch(True, "off").connect_host("www.youtube.com") is None
    assert not SafeSearch(False, "off").enabled


def test_the_core_resolves_the_safe_name() -> None:
    safe = SafeSearch(True, "strict")
    for host in ("www.google.com", "www.bing.com"):
        resolved = FAKE_DNS[safe.connect_host(host) or host]
        assert resolved == FAKE_DNS[safe.connect_host(host)]
        assert resolved != FAKE_DNS[host]


@pytest.mark.parametrize(("safe_host", "target", "rewritten"), [
    ("forcesafesearch.google.com", "/search?q=cats", "/search?q=cats&safe=active"),
    ("forcesafesearch.google.com", "/search?q=cats&safe=off", "/search?q=cats&safe=active"),
    ("forcesafesearch.google.com", "/maps?q=x", None),
    ("strict.bing.com", "/search?q=a+b", "/search?q=a+b&adlt=strict"),
    ("strict.bing.com", "/search?adlt=off&q=x", "/search?q=x&adlt=strict"),
    ("safe.duckduckgo.com", "/?q=cats", "/?q=cats&kp=1"),
    ("safe.duckduckgo.com", "/html/?q=cats&kp=-2", "/html/?q=cats&kp=1"),
    ("safe.duckduckgo.com", "/about", None),
    ("restrict.youtube.com", "/watch?v=1", None),
])
def test_plain_http_search_targets_get_the_parameter(safe_host: str, target: str, rewritten: str | None) -> None:
    assert SafeSearch.target(safe_host, target) == rewritten
