"""Hosts files and domain lists: the quirks of real published files, and format detection."""

from __future__ import annotations

import pytest

from guardian.filters import FilterEngine
from guardian.filters.hosts import detect_format, domain_line, hosts_line

HOSTS_FILE = """\
# StevenBlack-style header
127.0.0.1 localhost
127.0.0.1 localhost.localdomain
255.255.255.255 broadcasthost
::1 localhost ip6-localhost ip6-loopback
0.0.0.0 0.0.0.0
0.0.0.0 ads.example.com
0.0.0.0 Track.Example.NET # trailing comment
127.0.0.1\tone.example two.example   three.example
   # indented comment
0.0.0.0 bad_host!
"""


def test_hosts_line_quirks():
    assert hosts_line("0.0.0.0 0.0.0.0") == ([], None)
    assert hosts_line("127.0.0.1 localhost") == ([], None)
    assert hosts_line("0.0.0.0 a.example # note") == (["a.example"], None)
    assert hosts_line("0.0.0.0 a.example b.example") == (["a.example", "b.example"], None)
    assert hosts_line("#0.0.0.0 a.example") == ([], None)
    assert hosts_line("0.0.0.0 a.example.") == (["a.example"], None)
    assert hosts_line("0.0.0.0 bad!host")[1] is not None


def test_domain_line():
    assert domain_line("ads.example.com") == (["ads.example.com"], None)
    assert domain_line("*.ads.example.com") == (["ads.example.com"], None)
    assert domain_line("||ads.example.com^") == (["ads.example.com"], None)
    assert domain_line("ads.example.com # note") == (["ads.example.com"], None)
    assert domain_line("# comment") == ([], None)
    assert domain_line("two words")[1] is not None


def test_hosts_file_engine():
    engine = FilterEngine.from_lists({"stevenblack": HOSTS_FILE})
    report = engine.report["stevenblack"]
    assert report.format == "hosts"
    assert report.rules["host"] == 5
    assert report.error_count == 1 and report.errors[0][0] == 11
    assert engine.match("https://sub.ads.example.com/x").blocked
    assert engine.match("https://track.example.net/").rule == "0.0.0.0 Track.Example.NET"
    assert engine.match("http://two.example/").blocked
    assert not engine.match("http://localhost/").blocked
    assert not engine.match("http://0.0.0.0/").blocked


def test_domains_list_engine():
    engine = FilterEngine.from_lists({"domains": "# list\nads.example\ntracker.example\n"})
    assert engine.report["domains"].format == "domains"
    assert engine.match("https://x.ads.example/") == engine.match_host("ads.example")
    assert engine.match("https://tracker.example/").rule == "tracker.example"
    assert not engine.match("https://example/").blocked


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (HOSTS_FILE, "hosts"),
        ("a.example\nb.example\n", "domains"),
        ("[Adblock Plus 2.0]\nads.example\n", "abp"),
        ("||a.example^\n##.ad\n/banner/\n", "abp"),
        ("", "abp"),
    ],
)
def test_detect_format(text, expected):
    assert detect_format(text.splitlines()) == expected


COSMETIC_ONLY = "example.com##.ad\nnews.example#$#body { color: red }\nshop.example#%#log()\n##+js(noeval)\n"


def test_cosmetic_only_list_without_header_is_abp_and_blocks_nothing():
    engine = FilterEngine.from_lists({"c": COSMETIC_ONLY})
    assert engine.report["c"].format == "abp"
    assert engine.rule_count == 0
    for host in ("example.com", "news.example", "shop.example"):
        assert not engine.match_host(host).blocked
        assert not engine.match(f"https://{host}/").blocked


def test_cosmetic_line_in_a_domain_list_is_an_error_not_a_block():
    engine = FilterEngine.from_lists({"d": "ads.example\nexample.com##.ad\n"}, formats={"d": "domains"})
    assert engine.match_host("ads.example").blocked
    assert not engine.match_host("example.com").blocked
    assert "cosmetic rule" in engine.report["d"].errors[0][2]


def test_forced_format():
    text = "ads.example\n"
    assert FilterEngine.from_lists({"l": text}, formats={"l": "abp"}).report["l"].format == "abp"
    assert FilterEngine.from_lists({"l": text}, formats={"l": "domains"}).match_host("ads.example").blocked
    with pytest.raises(ValueError, match="unknown list format"):
        FilterEngine.from_lists({"l": text}, formats={"l": "xml"})
