"""Behaviour against real data: adblock-rust's filter/request cases, known regressions, and
EasyList + EasyPrivacy. The cases and a reduced EasyList + EasyPrivacy are kept in
tests/data, so these run in a clean clone; the full-size lists come from ../shared when it
is there."""

from __future__ import annotations

import csv
import json
import lzma

import adblockparser
import pytest

from guardian.filters import FilterEngine

from .conftest import DATA

# The cases give the page as a bare "http://" when there is none.
NO_PAGE = ("http://", "https://")
# Every case that fails, with why; anything else failing, or one of these passing, is a change.
EXPECTED_FAILURES = {
    # uBlock Origin counts `fetch` as an xmlhttprequest, so `~xmlhttprequest` excludes it;
    # adblock-rust's case expects the rule to block it.
    ("||tcog.news.com.au^$~xmlhttprequest", "https://a.tcog.news.com.au"),
}
CASES_RUN = 9_354


def load_cases() -> list[dict]:
    with lzma.open(DATA / "conformance" / "matching-test-requests.json.xz", "rt", encoding="utf-8") as cases:
        return json.load(cases)


def test_adblock_rust_cases():
    """Each filter alone, its list's format detected as a subscription's would be (`auto`),
    must match its request; an exception is loaded with its blocking twin and must allow it."""
    run = 0
    failures = set()
    for case in load_cases():
        if case["url"] in NO_PAGE:
            continue
        source = None if case["sourceUrl"] in NO_PAGE else case["sourceUrl"]
        for rule in case["filters"]:
            is_exception = rule.startswith("@@")
            text = f"{rule}\n{rule[2:]}" if is_exception else rule
            decision = FilterEngine.from_lists({"case": text}).match(case["url"], source, case["type"])
            ok = (not decision.blocked and decision.rule == rule) if is_exception else decision.blocked
            run += 1
            if not ok:
                failures.add((rule, case["url"]))
    assert run == CASES_RUN
    assert failures == EXPECTED_FAILURES


def read_regressions() -> list[dict[str, str]]:
    with (DATA / "conformance" / "regressions.tsv").open(encoding="utf-8", newline="") as rows:
        return list(csv.DictReader(rows, delimiter="\t"))


@pytest.fixture(scope="module")
def reduced(reduced_lists, tmp_path_factory) -> FilterEngine:
    return FilterEngine.from_lists(reduced_lists, cache_dir=tmp_path_factory.mktemp("filters-cache"))


@pytest.fixture(scope="module")
def engine(full_lists, tmp_path_factory) -> FilterEngine:
    return FilterEngine.from_lists(full_lists, cache_dir=tmp_path_factory.mktemp("filters-cache"))


SAMPLES = [
    ("https://www.google-analytics.com/analytics.js", "https://news.example/", "script", True),
    ("https://securepubads.g.doubleclick.net/tag/js/gpt.js", "https://news.example/", "script", True),
    ("https://pagead2.googlesyndication.com/pagead/js/adsbygoogle.js", None, "script", True),
    ("https://www.wikipedia.org/", None, "document", False),
    ("https://en.wikipedia.org/static/images/logo.png", "https://en.wikipedia.org/", "image", False),
    ("https://github.com/", None, None, False),
]


def check_match_host(engine: FilterEngine) -> None:
    assert engine.match_host("g.doubleclick.net").blocked
    assert not engine.match_host("doubleclick.net").blocked  # only `$popup` and path rules name it
    assert engine.match_host("pagead2.googlesyndication.com").blocked
    assert not engine.match_host("googlesyndication.com").blocked  # path and $domain= rules only
    assert not engine.match_host("www.wikipedia.org").blocked


def check_redirect_rule_exception(engine: FilterEngine) -> None:
    # EasyPrivacy: `@@||google-analytics.com/analytics.js$redirect-rule,script,domain=mond.how`
    # only cancels a redirect there; the script stays blocked on that site too.
    url = "https://www.google-analytics.com/analytics.js"
    assert engine.match(url, "https://mond.how/", "script").blocked
    assert engine.report["easyprivacy"].skipped["$redirect-rule"] == 1


class TestReducedLists:
    """Always run: the subset of EasyList + EasyPrivacy in tests/data."""

    def test_loads(self, reduced):
        easylist, easyprivacy = reduced.report["easylist"], reduced.report["easyprivacy"]
        assert easylist.format == easyprivacy.format == "abp"
        assert reduced.rule_count > 2_000
        assert easylist.error_count + easyprivacy.error_count == 0
        assert easylist.skipped["cosmetic"] > 300
        assert easylist.rules["regex"] + easyprivacy.rules["regex"] >= 20

    @pytest.mark.parametrize("row", read_regressions(), ids=lambda row: row["url"][:50])
    def test_regressions(self, reduced, row):
        decision = reduced.match(row["url"], row["sourceUrl"], row["type"])
        assert decision.blocked == (row["blocked"] == "true"), decision

    @pytest.mark.parametrize(("url", "source", "request_type", "expected"), SAMPLES)
    def test_sample_urls(self, reduced, url, source, request_type, expected):
        assert reduced.match(url, source, request_type).blocked == expected

    def test_match_host(self, reduced):
        check_match_host(reduced)

    def test_a_redirect_rule_exception_does_not_unblock(self, reduced):
        check_redirect_rule_exception(reduced)

    def test_restart_from_cache_agrees(self, reduced, reduced_lists, tmp_path):
        FilterEngine.from_lists(reduced_lists, cache_dir=tmp_path)
        restarted = FilterEngine.from_lists(reduced_lists, cache_dir=tmp_path)
        assert restarted.rule_count == reduced.rule_count
        request = ("https://www.google-analytics.com/analytics.js", "https://a.example/", "script")
        assert restarted.match(*request) == reduced.match(*request)


class TestFullLists:
    """The full snapshot, when ../shared is present."""

    def test_loads_nearly_everything(self, engine):
        easylist, easyprivacy = engine.report["easylist"], engine.report["easyprivacy"]
        assert engine.rule_count > 100_000
        assert easylist.error_count + easyprivacy.error_count < 20
        assert not easylist.refused and not easyprivacy.refused
        assert easylist.skipped["cosmetic"] > 10_000

    def test_regressions(self, engine):
        for row in read_regressions():
            decision = engine.match(row["url"], row["sourceUrl"], row["type"])
            assert decision.blocked == (row["blocked"] == "true"), (row["url"], decision)

    @pytest.mark.parametrize(("url", "source", "request_type", "expected"), SAMPLES)
    def test_sample_urls(self, engine, url, source, request_type, expected):
        assert engine.match(url, source, request_type).blocked == expected

    def test_match_host(self, engine):
        check_match_host(engine)

    def test_a_redirect_rule_exception_does_not_unblock(self, engine):
        check_redirect_rule_exception(engine)

    def test_reduced_lists_are_a_faithful_subset(self, full_lists, reduced_lists):
        for name, text in reduced_lists.items():
            full_lines = set(full_lists[name].splitlines())
            assert all(line in full_lines for line in text.splitlines()), name


def test_second_opinion_from_adblockparser():
    """Classic rules only, where adblockparser is known to be right."""
    rules = ["||ads.example^", "/banner/*/img^", "|https://track.", "@@||ads.example/ok/", "-ad-banner."]
    theirs = adblockparser.AdblockRules(rules, use_re2=False)  # its re2 support predates google-re2
    ours = FilterEngine.from_lists({"l": "\n".join(rules)})
    for url in ("https://ads.example/x", "https://ads.example/ok/1", "https://x.net/banner/a/img?1",
                "https://track.example/", "https://x.net/top-ad-banner.png", "https://clean.example/"):
        assert ours.match(url).blocked == theirs.should_block(url), url
