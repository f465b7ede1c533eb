"""ExchangeRules.review answers a request with no page behind it and no query with the
profile's constant edits at once; everything else still goes through the whole review."""

from __future__ import annotations

from guardian.config import PrivacyConfig
from guardian.policy.exchange import ExchangeRules
from guardian.policy.filetypes import FileTypeRules
from guardian.policy.privacy import PrivacyRules
from guardian.proxy.hooks import Verdict


def block(reason: str, schedule: str | None) -> Verdict:
    return Verdict(allowed=False, reason=reason, schedule=schedule)


def rules(**privacy: object) -> ExchangeRules:
    return ExchangeRules("kids", None, (), PrivacyRules(PrivacyConfig(**privacy)))  # type: ignore[arg-type]


def test_a_request_from_no_page_without_a_query_gets_the_constant_edits() -> None:
    exchange = rules(third_party_cookies="block")
    for headers in ({}, {"host": "x.example", "accept": "*/*"}, {"sec-fetch-site": "same-origin"}):
        review = exchange.review("ads.tracker.example", "/pixel.gif", 0, headers, block)
        assert (review.blocked, review.target, review.removed) == (None, None, ())
        assert review.edits is exchange.constant_edits
        assert review.edits.request_headers([("Accept", "*/*")]) == [("Accept", "*/*"), ("Sec-GPC", "1")]


def test_what_a_request_carries_still_counts() -> None:
    exchange = rules(third_party_cookies="block")
    cross = exchange.review("ads.tracker.example", "/p.gif", 0, {"sec-fetch-site": "cross-site"}, block)
    assert cross.edits is not None and "cookie" in cross.edits._changes.drop
    origin = exchange.review("ads.tracker.example", "/p.gif", 0, {"origin": "https://news.example"}, block)
    assert origin.edits is not None and "cookie" in origin.edits._changes.drop
    referred = exchange.review("ads.tracker.example", "/p.gif", 0,
                               {"referer": "https://news.example/story?id=1"}, block)
    assert referred.edits is not None
    assert referred.edits.request_headers([("Referer", "https://news.example/story?id=1")]) == [
        ("Sec-GPC", "1"), ("Referer", "https://news.example/")]
    query = exchange.review("shop.example", "/item?id=7&utm_source=mail", 0, {}, block)
    assert (query.target, query.removed) == ("/item?id=7", ("utm_source",))


def test_file_kinds_are_checked_without_a_page_or_a_query() -> None:
    exchange = ExchangeRules("kids", FileTypeRules(["programs"]), (), PrivacyRules(PrivacyConfig()))
    review = exchange.review("downloads.example", "/setup.exe", 0, {}, block)
    assert review.blocked is not None and review.blocked.reason("kids").startswith("Downloads of programs")
    assert exchange.review("downloads.example", "/readme.txt", 0, {}, block).blocked is None


def test_what_a_page_changes_is_remembered_as_it_was_worked_out() -> None:
    """The remembered answer for (host, Referer or Origin, Sec-Fetch-Site) is the one worked
    out afresh, for every privacy setting and every kind of page; the memo stays bounded."""
    from itertools import product

    from guardian.policy import exchange as module

    hosts = ["ads.tracker.example", "news.example", "static.news.example", "cdn.other.example", "192.168.1.5"]
    pages = [None, "", "https://news.example/story?id=1", "http://www.news.example/", "https://cdn.other.example/a",
             "null", "not a url", "https://[::1]:8443/x"]
    for settings in ({}, {"third_party_cookies": "block"}, {"referer": "none"}, {"referer": "full"},
                     {"global_privacy_control": False, "third_party_cookies": "block"}):
        exchange = rules(**settings)
        for _ in range(2):  # the second time from the memo
            for host, referer, origin, site in product(hosts, pages, pages, (None, "cross-site", "same-site")):
                site_host, changes, edits = exchange._edits_from_page(host, referer, origin, site)
                fresh_host, fresh_changes, fresh_edits = exchange._read_page(host, referer, origin, site)
                assert (site_host, changes, edits._changes) == (fresh_host, fresh_changes, fresh_edits._changes)
                headers = [("Referer", referer or "x"), ("Cookie", "a=1"), ("Accept", "*/*")]
                assert edits.request_headers(headers) == fresh_edits.request_headers(headers)
    for n in range(3 * module._FROM_PAGE_MAX):  # pages a client invents: emptied when full, never grown
        exchange._edits_from_page("ads.tracker.example", f"https://site{n}.example/", None, None)
    exchange._edits_from_page("ads.tracker.example", "https://long.example/" + "x" * 1000, None, None)
    exchange._edits_from_page("ads.tracker.example", "https://a.example/", None, "x" * 60000)  # any client field
    assert len(exchange._from_page) <= module._FROM_PAGE_MAX
    assert all(len(host) + len(referer or origin or "") + len(site or "") <= module._FROM_PAGE_CHARS
               for host, referer, origin, site in exchange._from_page)
