"""The string-method matcher (`Glob`) must agree with the regex reading of every pattern."""

from __future__ import annotations

import pytest

from guardian.filters.domains import url_host_span
from guardian.filters.patterns import Glob, bounded_tokens, compile_pattern, pattern_regex
from guardian.filters.rules import parse_line

PATTERNS = [
    "||example.com/ads/", "||example.com^*/ads/", "||example.com^ads", "||ads*banner", "||ads.",
    "||example.com:8080/", "|https://ads.", "|http://*.swf|", ".swf|", "/ads/*banner^", "/ads^",
    "||example.com/x^", "banner*ad*", "||example.com/*.js|", "||ample.com/", "^ads^", "/a^b/",
]
URLS = [
    "https://example.com/ads/1", "https://x.example.com:8080/ads/", "https://example.com/ads",
    "https://adserver.net/banner", "https://cdn.ads.example/x", "https://ads.com/", "http://a.b/c.swf",
    "https://example.com/x", "https://example.com/x?y", "https://example.com/x.y", "https://ample.com/",
    "https://example.com/a/b.js", "https://s.net/ads/top-banner", "https://s.net/ads/top-banner-2",
    "https://s.net/a/b/", "https://example.com", "https://example.com/ads?banner",
]


@pytest.mark.parametrize("text", PATTERNS)
def test_glob_agrees_with_regex(text):
    rule = parse_line(text)
    matcher = compile_pattern(rule.flags, rule.pattern)
    regex = pattern_regex(rule.flags, rule.pattern)
    for url in URLS:
        _, start, end = url_host_span(url)
        assert matcher.matches(url, start, end) == (regex.search(url) is not None), url


def test_common_shapes_need_no_regex():
    for text in ("||example.com/ads/", "||example.com^*/ads/", "/ads/*banner^", "|https://ads."):
        rule = parse_line(text)
        assert isinstance(compile_pattern(rule.flags, rule.pattern), Glob), text


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("||cdn.example/ads/", ["cdn", "example", "ads"]),
        ("/banner/*/img^", ["banner", "img"]),
        ("ads.js", []),
        ("-ad-banner.", ["ad", "banner"]),
        ("|http://ad*", ["http"]),
        ("/re/", []),
    ],
)
def test_bounded_tokens(text, tokens):
    rule = parse_line(text)
    assert bounded_tokens(rule.flags, rule.pattern) == tokens
