"""The cache end to end against a counting fake origin, driven as the core drives it.
Every test passes `now` (a fake clock), so freshness and Age are exact."""

from __future__ import annotations

from email.utils import formatdate

import pytest

from guardian.cache import Cache, Outcome
from guardian.config import CacheConfig

T0 = 1_700_000_000.0
URL = "http://static.example/logo.png"
PNG = ("Content-Type", "image/png")
TAG = ("ETag", '"v1"')


def date(when: float = T0) -> tuple[str, str]:
    return ("Date", formatdate(when, usegmt=True))


def max_age(seconds: int) -> tuple[str, str]:
    return ("Cache-Control", f"max-age={seconds}")


@pytest.fixture
def run(cache, origin, exchange):
    """`run(*request_headers, at=seconds after T0, method=..., url=...)` through the shared cache."""
    def go(*headers: tuple[str, str], at: float = 0, method: str = "GET", url: str = URL):
        return exchange(cache, origin, url, *headers, method=method, now=T0 + at)
    return go


# ---------------------------------------------------------------- hits, misses, Age


def test_miss_then_hit_with_age_and_x_cache(cache, origin, run) -> None:
    origin.serve(URL, PNG, max_age(600), date(), body=b"png!" * 50)
    first = run()
    assert (first.outcome, first.x_cache, first.body) == (Outcome.MISS, "MISS", b"png!" * 50)
    second = run(at=100)
    assert (second.outcome, second.status, second.x_cache, second.body) == (Outcome.HIT, 200, "HIT", b"png!" * 50)
    assert second.get("Age") == "100"
    assert second.get("Content-Length") == "200"
    assert origin.hits == 1
    stats = cache.stats()
    assert (stats["hits"], stats["misses"], stats["bytes_served"], stats["entries"]) == (1, 1, 200, 1)


def test_age_includes_the_upstream_age_and_the_date_skew(origin, run) -> None:
    origin.serve(URL, PNG, max_age(600), date(T0 - 20), ("Age", "30"))
    run()
    assert run(at=10).get("Age") == "40"  # corrected initial age 30 (> apparent 20) + 10 resident


def test_fresh_until_max_age_then_revalidated_with_if_none_match(origin, run) -> None:
    origin.serve(URL, PNG, max_age(60), date(), TAG)
    run()
    assert run(at=59).outcome is Outcome.HIT
    origin.serve(URL, PNG, max_age(60), date(T0 + 61), TAG)
    again = run(at=61)
    assert (again.outcome, again.status, again.x_cache) == (Outcome.REVALIDATE, 200, "REVALIDATED")
    assert again.body == b"x" * 100
    assert ("If-None-Match", '"v1"') in origin.requests[-1][2]
    # The 304 restarted the freshness clock.
    assert run(at=120).outcome is Outcome.HIT
    assert origin.hits == 2


def test_revalidation_uses_if_modified_since_without_etag(origin, run) -> None:
    modified = ("Last-Modified", formatdate(T0 - 5000, usegmt=True))
    origin.serve(URL, PNG, max_age(10), date(), modified)
    run()
    assert run(at=20).x_cache == "REVALIDATED"
    assert ("If-Modified-Since", modified[1]) in origin.requests[-1][2]


def test_stale_without_validators_is_fetched_again(origin, run) -> None:
    origin.serve(URL, PNG, max_age(10), date(), body=b"old")
    run()
    origin.serve(URL, PNG, max_age(10), date(T0 + 20), body=b"new")
    refetched = run(at=20)
    assert (refetched.outcome, refetched.body) == (Outcome.MISS, b"new")
    assert run(at=25).body == b"new"
    assert origin.hits == 2


def test_s_maxage_overrides_max_age_for_a_shared_cache(origin, run) -> None:
    origin.serve(URL, PNG, ("Cache-Control", "max-age=0, s-maxage=300"), date())
    run()
    assert run(at=299).outcome is Outcome.HIT
    assert run(at=301).outcome is Outcome.MISS


def test_expires_relative_to_date(origin, run) -> None:
    # The origin's clock runs an hour ahead: only Expires - Date (120 s) counts, not Expires - now.
    origin.serve(URL, PNG, date(T0 + 3600), ("Expires", formatdate(T0 + 3600 + 120, usegmt=True)))
    run()
    assert run(at=100).outcome is Outcome.HIT
    assert run(at=130).outcome is Outcome.MISS


def test_heuristic_freshness_from_last_modified(origin, run) -> None:
    origin.serve(URL, PNG, date(), ("Last-Modified", formatdate(T0 - 1000, usegmt=True)))
    run()
    assert run(at=99).outcome is Outcome.HIT  # 10 % of 1000 s
    assert run(at=101).outcome is Outcome.REVALIDATE


def test_heuristic_capped_at_one_day(origin, run) -> None:
    origin.serve(URL, PNG, date(), ("Last-Modified", formatdate(T0 - 10**8, usegmt=True)))
    run()
    assert run(at=86399).outcome is Outcome.HIT
    assert run(at=86401).outcome is Outcome.REVALIDATE


def test_no_cache_response_is_stored_but_always_revalidated(origin, run) -> None:
    origin.serve(URL, PNG, ("Cache-Control", "no-cache"), date(), TAG)
    run()
    assert run(at=1).outcome is Outcome.REVALIDATE
    assert run(at=2).x_cache == "REVALIDATED"
    assert origin.hits == 3


def test_must_revalidate_is_never_served_stale(origin, run) -> None:
    origin.serve(URL, PNG, ("Cache-Control", "max-age=5, must-revalidate"), date(), TAG)
    run()
    assert run(at=4).outcome is Outcome.HIT
    assert run(at=6).outcome is Outcome.REVALIDATE


@pytest.mark.parametrize("request_header", [
    ("Cache-Control", "no-cache"), ("Pragma", "no-cache"), ("Cache-Control", "max-age=0"),
])
def test_client_no_cache_forces_revalidation(origin, run, request_header) -> None:
    origin.serve(URL, PNG, max_age(600), date(), TAG)
    run()
    forced = run(request_header, at=1)
    assert (forced.outcome, forced.x_cache) == (Outcome.REVALIDATE, "REVALIDATED")
    assert origin.hits == 2


def test_client_no_cache_refetches_when_there_is_no_validator(origin, run) -> None:
    origin.serve(URL, PNG, max_age(600), date())
    run()
    assert run(("Cache-Control", "no-cache"), at=1).outcome is Outcome.MISS
    assert origin.hits == 2


def test_client_max_age_and_min_fresh(origin, run) -> None:
    origin.serve(URL, PNG, max_age(100), date(), TAG)
    run()
    assert run(("Cache-Control", "max-age=30"), at=20).outcome is Outcome.HIT
    assert run(("Cache-Control", "max-age=30"), at=40).outcome is Outcome.REVALIDATE
    assert run(("Cache-Control", "min-fresh=50"), at=60).outcome is Outcome.REVALIDATE


def test_304_refreshes_headers_and_keeps_body_and_length(origin, run) -> None:
    origin.serve(URL, PNG, max_age(10), date(), TAG, ("X-Version", "1"), body=b"body")
    run()
    origin.serve(URL, PNG, max_age(500), date(T0 + 20), TAG, ("X-Version", "2"), body=b"body")
    run(at=20)
    hit = run(at=400)
    assert (hit.outcome, hit.get("X-Version"), hit.get("Content-Length"), hit.body) == (
        Outcome.HIT, "2", "4", b"body")
    assert hit.get("Age") == "380"


def test_304_without_date_still_refreshes(cache, origin) -> None:
    origin.serve(URL, PNG, max_age(10), date(), TAG)
    with cache.lookup("GET", URL, [], T0) as lookup:
        writer = cache.begin_store(lookup, 200, origin.resources[URL].headers, T0)
        writer.write(b"abc")
        assert writer.finish()
    lookup = cache.lookup("GET", URL, [], T0 + 50)
    assert lookup.outcome is Outcome.REVALIDATE
    served = cache.revalidated(lookup, [TAG], T0 + 50)
    assert (served.status, served.body) == (200, b"abc")
    assert cache.lookup("GET", URL, [], T0 + 55).outcome is Outcome.HIT


def test_revalidation_answered_with_a_new_body_replaces_the_entry(origin, run) -> None:
    origin.serve(URL, PNG, max_age(10), date(), TAG, body=b"old")
    run()
    origin.serve(URL, PNG, max_age(10), date(T0 + 20), ("ETag", '"v2"'), body=b"new")
    assert run(at=20).body == b"new"
    hit = run(at=21)
    assert (hit.outcome, hit.body, hit.get("ETag")) == (Outcome.HIT, b"new", '"v2"')


def test_revalidation_answered_with_no_store_drops_the_entry(cache, origin, run) -> None:
    origin.serve(URL, PNG, max_age(10), date(), TAG)
    run()
    origin.serve(URL, PNG, ("Cache-Control", "no-store"), date(T0 + 20), ("ETag", '"v2"'))
    run(at=20)
    assert cache.stats()["entries"] == 0


# ---------------------------------------------------------------- what is never stored


@pytest.mark.parametrize("headers", [
    [PNG, ("Cache-Control", "no-store")],
    [PNG, ("Cache-Control", "private, max-age=60")],
    [PNG, max_age(60), ("Set-Cookie", "id=1")],
    [("Content-Type", "text/html"), max_age(60)],
    [("Content-Type", "application/json"), max_age(60)],
    [PNG, max_age(60), ("Vary", "Accept-Encoding, Cookie")],
    [PNG, max_age(60), ("Vary", "*")],
])
def test_unstorable_responses_reach_the_origin_every_time(cache, origin, run, headers) -> None:
    origin.serve(URL, *headers, date())
    assert run().outcome is Outcome.MISS
    assert run(at=1).outcome is Outcome.MISS
    assert origin.hits == 2
    assert cache.stats()["entries"] == 0


def test_error_statuses_are_not_stored(cache, origin, run) -> None:
    origin.serve(URL, PNG, max_age(60), date(), status=503)
    run()
    run(at=1)
    assert origin.hits == 2


def test_authorization_requests_are_stored_only_when_public(cache, origin, run) -> None:
    auth = ("Authorization", "Basic dXNlcjpwdw==")
    origin.serve(URL, PNG, max_age(60), date())
    run(auth)
    assert run(auth, at=1).outcome is Outcome.MISS
    assert cache.stats()["entries"] == 0
    origin.serve(URL, PNG, ("Cache-Control", "public, max-age=60"), date())
    run(auth, at=2)
    assert run(auth, at=3).outcome is Outcome.HIT
    assert run(at=4).outcome is Outcome.HIT


def test_an_entry_stored_without_public_is_not_served_to_authorization(origin, run) -> None:
    origin.serve(URL, PNG, max_age(60), date(), body=b"shared")
    run()
    private = run(("Authorization", "Bearer t"), at=1)
    assert private.outcome is Outcome.MISS
    assert origin.hits == 2


def test_request_no_store_is_not_stored_but_may_be_served(cache, origin, run) -> None:
    origin.serve(URL, PNG, max_age(60), date())
    run(("Cache-Control", "no-store"))
    assert cache.stats()["entries"] == 0
    run()
    assert run(("Cache-Control", "no-store"), at=1).outcome is Outcome.HIT


def test_non_get_methods_bypass_and_unsafe_ones_invalidate(cache, origin, run) -> None:
    origin.serve(URL, PNG, max_age(60), date())
    run()
    assert cache.lookup("OPTIONS", URL, [], T0).outcome is Outcome.BYPASS
    assert cache.stats()["entries"] == 1
    assert cache.lookup("POST", URL, [], T0).outcome is Outcome.BYPASS
    assert cache.stats()["entries"] == 0


def test_range_requests_bypass(cache, origin, run) -> None:
    origin.serve(URL, PNG, max_age(60), date())
    run()
    assert cache.lookup("GET", URL, [("Range", "bytes=0-9")], T0).outcome is Outcome.BYPASS


def test_disabled_cache_bypasses_everything(origin, exchange) -> None:
    off = Cache(CacheConfig(enabled=False))
    origin.serve(URL, PNG, max_age(60), date())
    assert exchange(off, origin, URL).outcome is Outcome.BYPASS
    assert exchange(off, origin, URL).outcome is Outcome.BYPASS
    assert origin.hits == 2
    assert off.stats()["bypasses"] == 2


# ---------------------------------------------------------------- Vary: Accept-Encoding


def test_vary_accept_encoding_keeps_one_variant_per_encoding(cache, origin, run) -> None:
    origin.serve(URL, PNG, max_age(60), date(), ("Vary", "Accept-Encoding"), body=b"gz")
    run(("Accept-Encoding", "gzip, br"))
    assert run(("Accept-Encoding", "br,gzip"), at=1).outcome is Outcome.HIT
    assert run(at=2).outcome is Outcome.MISS  # no Accept-Encoding: another variant
    assert run(at=3).outcome is Outcome.HIT
    assert run(("Accept-Encoding", "gzip, br"), at=4).body == b"gz"
    assert cache.stats()["entries"] == 2
    assert origin.hits == 2


def test_response_without_vary_serves_every_encoding(origin, run) -> None:
    origin.serve(URL, PNG, max_age(60), date())
    run(("Accept-Encoding", "gzip"))
    assert run(("Accept-Encoding", "br"), at=1).outcome is Outcome.HIT


# ---------------------------------------------------------------- HEAD and conditionals


def test_head_is_answered_from_a_stored_get_without_body(origin, run) -> None:
    origin.serve(URL, PNG, max_age(60), date(), body=b"z" * 300)
    run()
    head = run(method="HEAD", at=1)
    assert (head.outcome, head.status, head.body, head.get("Content-Length")) == (Outcome.HIT, 200, b"", "300")
    assert origin.hits == 1


def test_head_miss_is_forwarded_and_stores_nothing(cache, origin, run) -> None:
    origin.serve(URL, PNG, max_age(60), date())
    assert run(method="HEAD").outcome is Outcome.MISS
    assert cache.stats()["entries"] == 0
    assert run(at=1).outcome is Outcome.MISS
    assert origin.requests[0][0] == "HEAD"


def test_head_revalidation_refreshes_without_body(origin, run) -> None:
    origin.serve(URL, PNG, max_age(10), date(), TAG)
    run()
    origin.serve(URL, PNG, max_age(10), date(T0 + 20), TAG)
    head = run(method="HEAD", at=20)
    assert (head.x_cache, head.body) == ("REVALIDATED", b"")
    assert run(at=21).outcome is Outcome.HIT


def test_client_if_none_match_on_a_hit_gets_304(cache, origin, run) -> None:
    origin.serve(URL, PNG, max_age(60), date(), TAG)
    run()
    answer = run(("If-None-Match", '"v1"'), at=1)
    assert (answer.outcome, answer.status, answer.body, answer.x_cache) == (Outcome.HIT, 304, b"", "HIT")
    assert answer.get("ETag") == '"v1"' and answer.get("Content-Length") is None
    assert run(("If-None-Match", '"v0"'), at=2).status == 200
    assert cache.stats()["bytes_served"] == 100


def test_client_if_modified_since_on_a_hit(origin, run) -> None:
    modified = formatdate(T0 - 1000, usegmt=True)
    origin.serve(URL, PNG, max_age(60), date(), ("Last-Modified", modified))
    run()
    assert run(("If-Modified-Since", modified), at=1).status == 304
    assert run(("If-Modified-Since", formatdate(T0 - 2000, usegmt=True)), at=2).status == 200


def test_revalidation_sends_the_caches_validator_and_answers_the_clients(origin, run) -> None:
    origin.serve(URL, PNG, max_age(10), date(), TAG)
    run()
    answer = run(("If-None-Match", '"old"'), at=20)
    sent = origin.requests[-1][2]
    assert ("If-None-Match", '"v1"') in sent and ("If-None-Match", '"old"') not in sent
    assert (answer.status, answer.x_cache) == (200, "REVALIDATED")
    assert run(("If-None-Match", '"v1"'), ("Cache-Control", "no-cache"), at=21).status == 304


# ---------------------------------------------------------------- streaming into the store


def test_body_growing_past_the_object_limit_is_not_stored_and_client_gets_it_all(cache, origin, run) -> None:
    big = b"q" * (cache.config.max_object_bytes + 1)
    origin.serve(URL, PNG, max_age(60), date(), body=big, chunk=4096)  # no Content-Length: chunked
    assert run().body == big
    assert cache.stats()["entries"] == 0
    assert run(at=1).outcome is Outcome.MISS


def test_declared_length_over_the_limit_is_refused_at_the_head(cache) -> None:
    headers = [PNG, max_age(60), ("Content-Length", str(cache.config.max_object_bytes + 1))]
    with cache.lookup("GET", URL, [], T0) as lookup:
        assert cache.begin_store(lookup, 200, headers, T0) is None


def test_writer_stops_by_itself_and_finish_reports_it(cache) -> None:
    lookup = cache.lookup("GET", URL, [], T0)
    writer = cache.begin_store(lookup, 200, [PNG, max_age(60)], T0)
    writer.write(b"a" * cache.config.max_object_bytes)
    assert writer.active
    writer.write(b"a")
    assert not writer.active
    assert not writer.finish()


def test_broken_body_is_not_stored(cache, origin, run) -> None:
    origin.serve(URL, PNG, max_age(60), date(), body=b"w" * 5000, chunk=1000, complete=False)
    run()
    assert cache.stats()["entries"] == 0


def test_body_shorter_than_content_length_is_not_stored(cache) -> None:
    lookup = cache.lookup("GET", URL, [], T0)
    writer = cache.begin_store(lookup, 200, [PNG, max_age(60), ("Content-Length", "10")], T0)
    writer.write(b"12345")
    assert not writer.finish()
    assert cache.stats()["entries"] == 0


def test_writer_context_aborts_on_exception(cache) -> None:
    lookup = cache.lookup("GET", URL, [], T0)
    with pytest.raises(ConnectionError), cache.begin_store(lookup, 200, [PNG, max_age(60)], T0) as writer:
        writer.write(b"part")
        raise ConnectionError("client went away")
    assert not writer.active
    assert cache.stats()["entries"] == 0


def test_stored_headers_lose_hop_by_hop_and_upstream_x_cache(origin, run) -> None:
    origin.serve(URL, PNG, max_age(60), date(), ("Connection", "keep-alive"), ("Keep-Alive", "timeout=5"),
                 ("Transfer-Encoding", "chunked"), ("X-Cache", "HIT from cdn"))
    run()
    hit = run(at=1)
    names = [k.lower() for k, _ in hit.headers]
    assert not {"connection", "keep-alive", "transfer-encoding"} & set(names)
    assert names.count("x-cache") == 1 and hit.x_cache == "HIT"


# ---------------------------------------------------------------- administration


def test_configure_shrinks_drops_and_disables(cache, origin, exchange) -> None:
    for n in range(5):
        origin.serve(f"http://s.example/{n}.png", PNG, max_age(60), date(), body=bytes(2000))
        exchange(cache, origin, f"http://s.example/{n}.png", now=T0)
    origin.serve("http://s.example/a.css", ("Content-Type", "text/css"), max_age(60), date())
    exchange(cache, origin, "http://s.example/a.css", now=T0)
    assert cache.stats()["entries"] == 6
    cache.configure(CacheConfig(max_bytes=6000, max_object_bytes=4000))
    assert cache.stats()["bytes"] <= 6000 and cache.stats()["evictions"] >= 3
    cache.configure(CacheConfig(max_bytes=6000, max_object_bytes=4000, content_types=("image/*",)))
    assert exchange(cache, origin, "http://s.example/a.css", now=T0 + 1).outcome is Outcome.MISS
    cache.configure(CacheConfig(enabled=False))
    assert cache.stats()["entries"] == 0
    assert cache.lookup("GET", "http://s.example/4.png", [], T0).outcome is Outcome.BYPASS


def test_stats_and_clear(cache, origin, run) -> None:
    origin.serve(URL, PNG, max_age(10), date(), TAG)
    run()
    run(at=1)
    run(at=20)
    stats = cache.stats()
    assert {k: stats[k] for k in ("hits", "misses", "revalidations", "stored", "entries")} == {
        "hits": 1, "misses": 1, "revalidations": 1, "stored": 2, "entries": 1}
    assert stats["bytes_served"] == 200 and stats["bytes"] > 100
    assert cache.clear() == 1
    assert (cache.stats()["entries"], cache.stats()["bytes"], cache.stats()["hits"]) == (0, 0, 1)
