"""The engine remembers decisions per (URL, page host, request type) and, per request type
and page host, which rules without a token can apply: asked again, in any order, it must
answer exactly as the first time, and as an engine that never saw the request."""

from __future__ import annotations

import json
import lzma

import pytest

from guardian.filters import FilterEngine
from guardian.filters import engine as engine_module

from .conftest import DATA

NO_PAGE = ("http://", "https://")


def twice(engine: FilterEngine, url: str, source: str | None = None, request_type: str | None = None) -> bool:
    first = engine.match(url, source, request_type)
    assert engine.match(url, source, request_type) == first
    return first.blocked


def test_third_party_is_decided_per_page_host(engine_of):
    engine = engine_of("||tracker.example^$third-party")
    url = "https://tracker.example/pixel.gif"
    for _ in range(2):
        assert not twice(engine, url, "https://www.tracker.example/")
        assert twice(engine, url, "https://news.example/")
        assert twice(engine, url)  # no page: party options are not evaluated, the rule applies


def test_first_party_only(engine_of):
    engine = engine_of("/beacon.$~third-party")
    url = "https://shop.example/beacon.js"
    for _ in range(2):
        assert twice(engine, url, "https://shop.example/cart")
        assert not twice(engine, url, "https://other.example/")


def test_domain_option_per_page_host(engine_of):
    engine = engine_of("/banner.$domain=a.example|~b.a.example", "@@/banner.$domain=c.example")
    url = "https://cdn.example/banner.png"
    for _ in range(2):
        assert twice(engine, url, "https://a.example/")
        assert twice(engine, url, "https://www.a.example/")
        assert not twice(engine, url, "https://b.a.example/")
        assert not twice(engine, url, "https://c.example/")
        assert not twice(engine, url)


def test_untokened_rules_per_page_host_and_type(engine_of):
    # Rules with no usable token are filtered per (type, page host): the filter for one
    # host or type must not be reused for another.
    engine = engine_of(r"/^https?:\/\/[a-z]{8,}\.com\/.*/$script,domain=movies.example",
                       r"/\/[0-9a-f]{8}\/go\.js/$third-party", "%2Fevent.gif%3F")
    url = "https://abcdefghij.com/x/1234abcd/go.js"
    for _ in range(2):
        assert twice(engine, url, "https://movies.example/", "script")
        assert not twice(engine, "https://abcdefghij.com/", "https://news.example/", "script")
        assert not twice(engine, "https://abcdefghij.com/", "https://movies.example/", "image")
        assert twice(engine, url, "https://news.example/", "image")  # the second rule, third-party
        assert not twice(engine, url, "https://abcdefghij.com/", "image")  # first-party
        assert twice(engine, "https://x.example/a%2Fevent.gif%3Fb", None, "image")
        assert not twice(engine, "https://x.example/a%2Fevent.gif", None, "image")


def test_request_type_is_part_of_the_key(engine_of):
    engine = engine_of("||ads.example^$script", "@@||ads.example/ok.js$image")
    url = "https://ads.example/ok.js"
    for _ in range(2):
        assert twice(engine, url, None, "script")
        assert not twice(engine, url, None, "image")
        assert not twice(engine, url)  # unknown type: a rule for scripts only does not apply


def test_match_case_urls_are_distinct(engine_of):
    engine = engine_of("/AdBanner/$match-case")
    for _ in range(2):
        assert twice(engine, "https://x.example/AdBanner/1.png")
        assert not twice(engine, "https://x.example/adbanner/1.png")


def test_bounded_and_long_urls_not_kept(engine_of, monkeypatch):
    monkeypatch.setattr(engine_module, "_DECISION_MEMO_LIMIT", 50)
    engine = engine_of("||ads.example^")
    for n in range(200):
        assert not twice(engine, f"https://site.example/page/{n}")
        assert len(engine._decisions) <= 50
    long_url = "https://ads.example/" + "a" * engine_module._DECISION_MEMO_URL
    assert twice(engine, long_url)
    assert (long_url, "", engine_module.request_type_bit(None)) not in engine._decisions


def test_a_made_up_page_host_is_not_kept(engine_of):
    engine = engine_of("/promo.$domain=shop.example", r"/\/[0-9a-f]{8}\/go\.js/$third-party")
    page = "https://" + "a" * 5000 + ".example/"
    for _ in range(2):
        assert not twice(engine, "https://cdn.example/promo.png", page)
        assert twice(engine, "https://cdn.example/1234abcd/go.js", page)
    assert all(len(host) <= 253 for _, host, _ in engine._decisions)
    assert all(len(host) <= 253 for _, _, host in engine._untokened)


def test_every_conformance_request_agrees_with_a_fresh_engine(reduced_lists, tmp_path):
    """All of adblock-rust's requests against the reduced EasyList + EasyPrivacy: asked of one
    engine twice (forwards, then backwards), each answer equals the one an engine that never
    remembered anything gives."""
    with lzma.open(DATA / "conformance" / "matching-test-requests.json.xz", "rt", encoding="utf-8") as cases:
        requests = [(c["url"], None if c["sourceUrl"] in NO_PAGE else c["sourceUrl"], c["type"])
                    for c in json.load(cases) if c["url"] not in NO_PAGE]
    requests += [(url, None, None) for url, _, _ in requests[:2000]]
    remembering = FilterEngine.from_lists(reduced_lists, cache_dir=tmp_path)
    first = [remembering.match(*r) for r in requests]
    again = [remembering.match(*r) for r in reversed(requests)][::-1]
    assert again == first
    assert any(d.blocked for d in first) and not all(d.blocked for d in first)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(engine_module, "_DECISION_MEMO_URL", -1)  # remembers nothing
        patch.setattr(engine_module, "_UNTOKENED_MEMO_LIMIT", 0)  # keeps one filter at a time
        fresh = FilterEngine.from_lists(reduced_lists, cache_dir=tmp_path)
        assert [fresh.match(*r) for r in requests] == first
