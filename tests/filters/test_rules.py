"""The parser: what each line is taken for, and what is refused and why."""

from __future__ import annotations

import pytest

from guardian.filters import FilterEngine, check_rule
from guardian.filters.request_types import ALL_TYPES, IMAGE, SCRIPT
from guardian.filters.rules import (
    EXCEPTION,
    IMPORTANT,
    REGEX,
    THIRD_PARTY,
    Invalid,
    NetworkRule,
    Skipped,
    parse_line,
)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("", "blank"),
        ("! Title: EasyList", "comment"),
        ("[Adblock Plus 2.0]", "comment"),
        ("!#if env_mobile", "directive"),
        ("!#include easylist_mobile.txt", "directive"),
        ("##.ad-banner", "cosmetic"),
        ("example.com,~shop.example.com##.ad", "cosmetic"),
        ("example.com#@#.ad", "cosmetic"),
        ("example.com#?#div:has(> .ad)", "cosmetic"),
        ("example.com##+js(set-constant, x, 1)", "scriptlet or style injection"),
        ("example.com#$#abort-on-property-read x", "scriptlet or style injection"),
        ("example.com#%#//scriptlet('x')", "scriptlet or style injection"),
        ("example.com##^script:has-text(ad)", "html filter"),
        ("example.com$$script[data-ad]", "html filter"),
        ("# a comment", "comment"),
    ],
)
def test_skipped_lines(line, reason):
    assert parse_line(line) == Skipped(reason)


@pytest.mark.parametrize(
    "line",
    ["||example.com/#ad", "/page.html#anchor$script", "||example.com/a#b##c", r"/ad#[0-9]+/"],
)
def test_hash_inside_a_network_rule(line):
    assert isinstance(parse_line(line), NetworkRule)


def test_plain_host_rule():
    rule = parse_line("||ads.example.com^")
    assert rule.host == "ads.example.com"
    assert rule.types == ALL_TYPES and rule.domains is None


def test_options():
    rule = parse_line("@@||ads.example^$script,image,3p,important,domain=a.example|~b.example")
    assert rule.flags & EXCEPTION and rule.flags & IMPORTANT and rule.flags & THIRD_PARTY
    assert rule.types == SCRIPT | IMAGE
    assert rule.domains == {"a.example": True, "b.example": False}


def test_regex_rule_with_dollar():
    rule = parse_line(r"/banner\d+$/$image")
    assert rule.flags & REGEX and rule.pattern == r"banner\d+$" and rule.types == IMAGE


@pytest.mark.parametrize(
    ("line", "reason_start"),
    [
        ("||a.example^$bogus", "unsupported option $bogus"),
        ("||a.example^$method=post", "unsupported option $method"),
        ("/ab(c/", "regular expression does not compile"),
        ("||a.example^$third-party,first-party", "both $third-party"),
        ("||a.example^$script,~script", "no request type left"),
        ("||a.example^$domain=", "unsupported $domain="),
        ("||a.example^$domain=/re/", "unsupported $domain="),
    ],
)
def test_invalid(line, reason_start):
    parsed = parse_line(line)
    assert isinstance(parsed, Invalid)
    assert parsed.reason.startswith(reason_start)


def test_invalid_lines_are_counted_with_line_numbers():
    engine = FilterEngine.from_lists({"l": "||ok.example^\n||a.example^$bogus\n\n/ab(c/\n"})
    report = engine.report["l"]
    assert report.error_count == 2
    assert [error[0] for error in report.errors] == [2, 4]
    assert engine.match("https://ok.example/").blocked


def test_report_kinds_and_reasons():
    text = "\n".join(["! c", "||a.example^", "@@||a.example/ok", "/re/", "##.ad", "||p.example^$popup",
                      "||x.example^$badfilter"])
    report = FilterEngine.from_lists({"l": text}).report["l"]
    assert report.format == "abp"
    assert report.rules == {"host": 1, "exception pattern": 1, "regex": 1, "badfilter": 1}
    assert report.skipped == {"comment": 1, "cosmetic": 1, "$popup": 1}
    assert "l: abp format" in report.render()


class TestCheckRule:
    def test_valid(self):
        ok, explanation = check_rule("||ads.example^$third-party")
        assert ok and explanation == "blocks ads.example and its subdomains (third-party requests only)"

    def test_exception(self):
        assert check_rule("@@||ok.example^") == (True, "allows ok.example and its subdomains")

    def test_error(self):
        assert check_rule("||a.example^$bogus") == (False, "unsupported option $bogus")

    def test_ignored(self):
        ok, explanation = check_rule("example.com##.ad")
        assert not ok and "cosmetic" in explanation
