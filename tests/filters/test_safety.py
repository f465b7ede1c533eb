"""Rules a list may not carry: regexes that need backtracking, and exceptions or
`$badfilter`s that reach a whole top-level domain or public suffix."""

from __future__ import annotations

import pytest

from guardian.filters import FilterEngine
from guardian.filters.compact import ListFile
from guardian.filters.rules import Refused, parse_line

STARTER_LIKE = "||ads.example.com^\n||tracker.example.net^\n||doubleclick.net^\n"


@pytest.mark.parametrize("regex", [r"/(a)\1/", r"/ads(?=\.js)/", r"/(?<!x)banner/", r"/x(?!y)/$script"])
def test_regex_needing_backtracking_is_refused_with_a_report(regex):
    assert isinstance(parse_line(regex), Refused)
    engine = FilterEngine.from_lists({"l": f"||ok.example^\n{regex}\n"})
    report = engine.report["l"]
    assert engine.rule_count == 1
    assert report.error_count == 1 and report.refused == {"regular expression that cannot run in linear time": 1}
    (line_number, line, reason) = report.errors[0]
    assert (line_number, line) == (2, regex) and reason.startswith("refused: regular expression")
    assert "refuse regular expression that cannot run in linear time" in report.render()


def test_linear_regexes_still_match():
    engine = FilterEngine.from_lists({"l": r"/^https?:\/\/[0-9a-z]{8,}\.xyz\/.*/$third-party"})
    assert engine.match("https://abcdefgh1.xyz/x", "https://news.example/").blocked
    assert not engine.match("https://abc.xyz/x", "https://news.example/").blocked


@pytest.mark.parametrize(
    "rule",
    ["@@||com^", "@@||com", "@@||co.uk^", "@@||github.io^", "@@*", "@@|https://", "@@|http://", "@@.com^",
     "@@/.*/", "@@^", "@@$document", "@@*$image", "@@||com^$third-party", "@@*$domain=com", "@@*$domain=~a.example"],
)
def test_exception_reaching_a_whole_suffix_is_refused_and_other_lists_keep_blocking(rule):
    engine = FilterEngine.from_lists({"starter": STARTER_LIKE, "careless": f"{rule}\n@@||ok.example^\n"})
    report = engine.report["careless"]
    assert report.error_count == 1 and "switch off the other lists" in report.errors[0][2]
    assert sum(report.refused.values()) == 1
    for url in ("https://ads.example.com/x.js", "http://tracker.example.net/p", "https://ad.doubleclick.net/"):
        assert engine.match(url, "https://news.example/", "script").blocked, url
    assert engine.match_host("ads.example.com").blocked and engine.match_host("ad.doubleclick.net").blocked


@pytest.mark.parametrize(
    "rule", ["@@||example.com^", "@@||ads.example.com/ok.js", "@@*$image,domain=news.example", "@@||x.lan^",
             "@@/banner/ok/", "@@||com^*/approved/", "@@*$script,domain=google.*"],
)
def test_narrow_exceptions_are_kept(rule):
    assert FilterEngine.from_lists({"l": rule}).report["l"].error_count == 0


def test_narrow_exception_still_applies_across_lists():
    engine = FilterEngine.from_lists({"starter": STARTER_LIKE, "fixes": "@@||ads.example.com/ok.js"})
    assert not engine.match("https://ads.example.com/ok.js").blocked
    assert engine.match("https://ads.example.com/other.js").blocked


@pytest.mark.parametrize("rule", ["||com^$badfilter", "*$badfilter", "||co.uk^$badfilter"])
def test_badfilter_reaching_a_whole_suffix_is_refused(rule):
    engine = FilterEngine.from_lists({"a": "||com^\n||ads.example.com^", "b": rule})
    assert engine.report["b"].error_count == 1
    assert engine.report["a"].skipped["cancelled by $badfilter"] == 0


def test_refusals_survive_the_index_cache(tmp_path):
    lists = {"careless": "@@||com^\n/(a)\\1/\n||ads.example^"}
    FilterEngine.from_lists(lists, cache_dir=tmp_path)
    restarted = FilterEngine.from_lists(lists, cache_dir=tmp_path)
    assert restarted.report["careless"].refused == FilterEngine.from_lists(lists).report["careless"].refused
    assert sum(restarted.report["careless"].refused.values()) == 2


def test_a_list_read_from_its_file_refuses_the_same_rules(tmp_path):
    """Stored lists reach the engine as files (compact host tables): same refusals, same report."""
    text = "[Adblock Plus 2.0]\n||ads.example^\n@@||com^\n@@*$image\n/(a)\\1/\n@@||ok.example^\n"
    path = tmp_path / "careless.txt"
    path.write_text(text)
    from_file = FilterEngine.from_lists({"starter": STARTER_LIKE, "careless": ListFile.of(path)})
    from_text = FilterEngine.from_lists({"starter": STARTER_LIKE, "careless": text})
    assert from_file.report["careless"].refused == from_text.report["careless"].refused
    assert sum(from_file.report["careless"].refused.values()) == 3
    assert from_file.match("https://ads.example.com/x.js").blocked
    assert from_file.match_host("ad.doubleclick.net").blocked
