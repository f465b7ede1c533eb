"""The string-method matcher (`Glob`) must agree with the regex reading of every pattern."""

from __future__ import annotations

import re

import pytest

from guardian.filters.domains import url_host_span
from guardian.filters.linear_regex import required_literal
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


@pytest.mark.parametrize(
    ("source", "literal"),
    [
        (r"(https?:\/\/)104\.154\..{100,}", "104.154."),
        (r"^https?:\/\/.*\/.*sw[0-9._].*", "http"),
        (r"\/[0-9a-f]{32}\/invoke\.js", "/invoke.js"),
        (r"ab?c", "a"),
        (r"abc|def", ""),
        (r"ads+x", "ads"),
        (r"x{0,3}yz", "yz"),
        (r"[]ab]cde", "cde"),
        (r"a\dbcd", "bcd"),
        (r"(?i)Banner", ""),
    ],
)
def test_required_literal_is_conservative(source, literal):
    assert required_literal(source) == literal


def test_list_regex_agrees_with_python_re():
    """RE2 plus the literal shortcut give Python's answers on the shapes lists use."""
    sources = [r"(https?:\/\/)104\.154\..{100,}", r"^https?:\/\/.*\/.*sw[0-9._].*", r"track(er|ing)\.js",
               r"\/[a-z]{2,}\.[a-z]+\/ad[sx]?\/", r"^https?:\/\/[^\/]+\/(ads?|banners?)\/"]
    urls = ["http://104.154.1.2/" + "x" * 120, "https://x.example/a/sw1.js", "https://t.example/tracking.js",
            "https://a.example/ab.cd/ads/", "https://a.example/banner/1", "https://a.example/", "http://104.154.1.2/"]
    for source in sources:
        rule = parse_line(f"/{source}/")
        matcher = compile_pattern(rule.flags, rule.pattern)
        for url in urls:
            _, start, end = url_host_span(url)
            expected = re.search(source, url, re.IGNORECASE) is not None
            assert matcher.matches(url, start, end) == expected, (source, url)
