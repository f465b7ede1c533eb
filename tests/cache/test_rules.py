"""RFC 9111 header logic, rule by rule, without a cache around it."""

from __future__ import annotations

from email.utils import formatdate

import pytest

from guardian.cache import rules
from guardian.cache.rules import RequestFacts, ResponseFacts
from guardian.config import CacheConfig

T0 = 1_700_000_000.0
PNG = ("Content-Type", "image/png")


def date(when: float) -> str:
    return formatdate(when, usegmt=True)


def facts(*headers: tuple[str, str], status: int = 200, request_time: float = T0,
          response_time: float = T0) -> ResponseFacts:
    return ResponseFacts.read(status, list(headers), request_time, response_time)


def reason(*headers: tuple[str, str], status: int = 200, authorized: bool = False,
           config: CacheConfig | None = None) -> str | None:
    found = facts(*headers, status=status)
    return rules.uncacheable_reason(status, list(headers), found, authorized, config or CacheConfig())


# ---------------------------------------------------------------- parsing


def test_cache_control_directives_and_quoted_arguments() -> None:
    cc = rules.parse_cache_control([("Cache-Control", 'Public, max-age=60, private="Set-Cookie, X"'),
                                    ("cache-control", "no-transform")])
    assert cc == {"public": None, "max-age": "60", "private": "Set-Cookie, X", "no-transform": None}


def test_conflicting_or_invalid_delta_seconds_count_as_stale() -> None:
    conflict = rules.parse_cache_control([("Cache-Control", "max-age=60, max-age=3600")])
    assert rules.delta_seconds(conflict, "max-age") == 0
    assert rules.delta_seconds({"max-age": "soon"}, "max-age") == 0
    assert rules.delta_seconds({"max-age": None}, "max-age") == 0
    assert rules.delta_seconds({}, "max-age") is None
    assert rules.delta_seconds({"max-age": "99999999999"}, "max-age") == rules.MAX_DELTA


@pytest.mark.parametrize("text", [
    "Sun, 06 Nov 1994 08:49:37 GMT",  # IMF-fixdate
    "Sunday, 06-Nov-94 08:49:37 GMT",  # obsolete RFC 850
    "Sun Nov  6 08:49:37 1994",  # asctime, no zone: GMT
])
def test_http_dates_in_all_three_forms(text: str) -> None:
    assert rules.parse_http_date(text) == 784111777.0


@pytest.mark.parametrize("text", ["0", "-1", "", "tomorrow", None])
def test_invalid_http_dates(text: str | None) -> None:
    assert rules.parse_http_date(text) is None


def test_cache_url_normalises_scheme_and_host_only() -> None:
    assert rules.cache_url("HTTP://Example.COM/A/b.png?X=1#frag") == "http://example.com/A/b.png?X=1"
    assert rules.cache_url("http://example.com") == "http://example.com/"
    assert rules.cache_url("http://example.com?q") == "http://example.com/?q"


def test_cache_url_skips_the_rebuild_only_where_it_changes_nothing() -> None:
    # The quick check for an already normal URL must agree with the full normalisation
    # on every URL, normal or not: generated from the characters that matter to it.
    import random
    pieces = ["http", "HTTP", "h", "1", "+", "://", ":", "/", "//", "?", "#", "a", "B", ".", "80", "İ", "é", "-"]
    rng = random.Random(15)
    urls = ["".join(rng.choice(pieces) for _ in range(rng.randrange(1, 10))) for _ in range(20000)]
    urls += ["http://127.0.0.1:8081/small.txt", "http://Example.com/", "http://a?b/c", "a://b://c/", "://x/y"]
    skipped = 0
    for url in urls:
        assert rules.cache_url(url) == rules._normalised(url), url
        skipped += rules._already_a_key(url)
    assert skipped > 100  # the quick path was taken, not only the full one


def test_accept_encoding_normalised_for_the_variant_key() -> None:
    assert rules.normalise_accept_encoding("gzip, deflate, br") == "br,deflate,gzip"
    assert rules.normalise_accept_encoding("br,GZIP ,deflate") == "br,deflate,gzip"
    assert rules.normalise_accept_encoding("gzip;q=1.0, identity; q=0.5") == "gzip;q=1.0,identity;q=0.5"
    assert rules.normalise_accept_encoding(None) == ""


@pytest.mark.parametrize(("value", "allowed"), [
    ("image/png", True), ("IMAGE/WebP; q=1", True), ("text/css; charset=utf-8", True),
    ("font/woff2", True), ("text/html", False), ("application/json", False), (None, False), ("", False),
])
def test_content_types_with_wildcards(value: str | None, allowed: bool) -> None:
    assert rules.content_type_allowed(value, CacheConfig().content_types) is allowed


@pytest.mark.parametrize(("patterns", "value", "allowed"), [
    (("*/*",), "application/json", True), (("*/*",), "; charset=x", True), (("*/*",), None, False),
    (("text/*",), "TEXT/plain", True), (("text/*",), "textual/plain", False), (("text/*",), "text", False),
    (("text/css",), "text/css;x=1", True), (("text/css",), "text/cs", False), ((), "text/css", False),
])
def test_content_type_patterns(patterns: tuple[str, ...], value: str | None, allowed: bool) -> None:
    assert rules.content_type_allowed(value, patterns) is allowed
    assert rules.ContentTypes.of(patterns).allows(value) is allowed


def test_content_types_remembered_agree_with_a_fresh_judgement_and_stay_bounded() -> None:
    types = rules.ContentTypes.of(CacheConfig().content_types)
    values = [f"{kind}/{sub}{params}" for kind in ("image", "TEXT", "text", "font", "application")
              for sub in ("css", "html", "png", "javascript", "json", "Plain")
              for params in ("", "; charset=utf-8", " ;x=1")]
    values += ["image/" + "x" * 200, "text/html; " + "y" * 200]
    for _ in range(2):  # the second time from the memo
        for value in values:
            assert types.allows(value) is rules.ContentTypes.of(CacheConfig().content_types).allows(value), value
    for n in range(3 * rules._JUDGED_MAX):  # an origin inventing types: the memo is emptied, not grown
        types.allows(f"x-{n}/y")
    assert len(types._judged) <= rules._JUDGED_MAX
    assert all(len(value) <= rules._JUDGED_CHARS for value in types._judged)


def test_request_facts_read_again_are_the_same_and_differ_with_the_fields() -> None:
    gzip = [("Accept-Encoding", "gzip, br"), ("User-Agent", "x")]
    assert RequestFacts.read(gzip) is RequestFacts.read(list(gzip))  # kept: the same object
    assert RequestFacts.read([("accept-encoding", "gzip, br")]).accept_encoding == "br,gzip"
    assert RequestFacts.read([("Accept-Encoding", "deflate")]).accept_encoding == "deflate"
    assert RequestFacts.read([*gzip, ("Cache-Control", "no-cache")]).no_cache
    assert not RequestFacts.read(gzip).no_cache
    authorized = [("Authorization", "Basic eDp5"), *gzip]
    assert RequestFacts.read(authorized).authorized
    assert RequestFacts.read(authorized) is not RequestFacts.read(authorized)  # credentials are never kept
    assert not any(name == "authorization" for fields in rules._READ_BEFORE for name, _ in fields)


def test_request_facts() -> None:
    req = RequestFacts.read([("Cache-Control", "max-age=0"), ("Authorization", "Basic x"),
                             ("Accept-Encoding", "gzip, br"), ("Range", "bytes=0-1")])
    assert (req.no_cache, req.authorized, req.ranged, req.accept_encoding) == (True, True, True, "br,gzip")
    assert RequestFacts.read([("Pragma", "no-cache")]).no_cache
    assert not RequestFacts.read([]).no_cache


# ---------------------------------------------------------------- freshness (§4.2.1, §4.2.2)


def test_s_maxage_beats_max_age_beats_expires() -> None:
    expires = ("Expires", date(T0 + 50))
    assert facts(("Cache-Control", "max-age=10, s-maxage=20"), expires, ("Date", date(T0))).lifetime == 20
    assert facts(("Cache-Control", "max-age=10"), expires, ("Date", date(T0))).lifetime == 10
    assert facts(expires, ("Date", date(T0))).lifetime == 50


def test_expires_is_relative_to_date_not_to_the_local_clock() -> None:
    # The origin's clock is 1000 s behind ours: Expires - Date still gives 60 s.
    found = facts(("Date", date(T0 - 1000)), ("Expires", date(T0 - 940)))
    assert found.lifetime == 60


def test_invalid_expires_means_already_expired() -> None:
    assert facts(("Expires", "0"), ("Last-Modified", date(T0 - 86400))).lifetime == 0


def test_heuristic_is_ten_percent_of_last_modified_age_capped_at_a_day() -> None:
    assert facts(("Date", date(T0)), ("Last-Modified", date(T0 - 1000))).lifetime == 100
    assert facts(("Date", date(T0)), ("Last-Modified", date(T0 - 365 * 86400))).lifetime == 86400
    assert facts(("Date", date(T0))).lifetime == 0  # nothing to go on


def test_no_cache_response_has_zero_lifetime() -> None:
    assert facts(("Cache-Control", "no-cache, max-age=3600")).lifetime == 0


# ---------------------------------------------------------------- age (§4.2.3)


def test_age_takes_the_larger_of_apparent_age_and_corrected_age_value() -> None:
    # Date says the response is 30 s old on arrival; Age says 100 (+2 s on the way).
    found = facts(("Date", date(T0 - 30)), ("Age", "100"), request_time=T0 - 2, response_time=T0)
    assert found.initial_age == 102
    assert rules.current_age(found.initial_age, T0, T0 + 10) == 112
    found = facts(("Date", date(T0 - 30)), request_time=T0, response_time=T0)
    assert found.initial_age == 30


def test_age_ignores_invalid_values_and_clock_running_backwards() -> None:
    assert facts(("Age", "abc"), ("Date", date(T0))).initial_age == 0
    assert rules.current_age(5, T0, T0 - 100) == 5


# ---------------------------------------------------------------- storing (§3)


def test_a_plain_image_with_freshness_is_storable() -> None:
    assert reason(PNG, ("Cache-Control", "max-age=60")) is None


@pytest.mark.parametrize(("headers", "why"), [
    ([PNG, ("Cache-Control", "no-store, max-age=60")], "no-store"),
    ([PNG, ("Cache-Control", "private, max-age=60")], "private"),
    ([PNG, ("Cache-Control", 'private="Set-Cookie", max-age=60')], "private"),
    ([PNG, ("Cache-Control", "max-age=60"), ("Set-Cookie", "a=b")], "set-cookie"),
    ([PNG, ("Cache-Control", "max-age=60"), ("Vary", "*")], "vary"),
    ([PNG, ("Cache-Control", "max-age=60"), ("Vary", "Accept-Encoding, User-Agent")], "vary"),
    ([("Content-Type", "text/html"), ("Cache-Control", "max-age=60")], "content-type"),
    ([("Content-Type", "application/json"), ("Cache-Control", "max-age=60")], "content-type"),
    ([("Cache-Control", "max-age=60")], "content-type"),
    ([PNG, ("Cache-Control", "max-age=60"), ("Content-Length", str(5 * 2**20))], "too large"),
    ([PNG], "no freshness and no validator"),
])
def test_unstorable_responses(headers: list[tuple[str, str]], why: str) -> None:
    assert reason(*headers) == why


def test_vary_accept_encoding_alone_is_storable() -> None:
    assert reason(PNG, ("Cache-Control", "max-age=60"), ("Vary", "accept-encoding")) is None
    assert facts(("Vary", "Accept-Encoding")).varies_on_encoding


@pytest.mark.parametrize("status", [206, 302, 304, 500, 503])
def test_statuses_not_stored(status: int) -> None:
    assert reason(PNG, ("Cache-Control", "max-age=60"), status=status) == f"status {status}"


def test_authorization_needs_public_or_s_maxage() -> None:
    assert reason(PNG, ("Cache-Control", "max-age=60"), authorized=True) == "authorization"
    assert reason(PNG, ("Cache-Control", "public, max-age=60"), authorized=True) is None
    assert reason(PNG, ("Cache-Control", "s-maxage=60"), authorized=True) is None


def test_no_cache_response_with_a_validator_is_stored_for_revalidation() -> None:
    assert reason(PNG, ("Cache-Control", "no-cache"), ("ETag", '"v1"')) is None


def test_configured_content_types_are_used() -> None:
    config = CacheConfig(content_types=("application/json",))
    assert reason(("Content-Type", "application/json"), ("Cache-Control", "max-age=9"), config=config) is None
    assert reason(PNG, ("Cache-Control", "max-age=9"), config=config) == "content-type"


# ---------------------------------------------------------------- headers kept and merged


def test_stored_headers_drop_hop_by_hop_age_and_x_cache() -> None:
    kept = rules.stored_headers([
        ("Connection", "close, X-Trace"), ("X-Trace", "1"), ("Transfer-Encoding", "chunked"),
        ("Age", "5"), ("X-Cache", "HIT from cdn"), ("Content-Length", "9"), PNG, ("ETag", '"a"'),
    ])
    assert kept == [PNG, ("ETag", '"a"')]


def test_304_fields_replace_stored_ones_but_not_content_length() -> None:
    stored = [PNG, ("ETag", '"a"'), ("Cache-Control", "max-age=1"), ("Content-Length", "9")]
    merged = rules.merge_not_modified(stored, [("Cache-Control", "max-age=99"), ("Content-Length", "0")])
    assert merged == [PNG, ("ETag", '"a"'), ("Content-Length", "9"), ("Cache-Control", "max-age=99")]


def test_client_conditionals() -> None:
    def req(*headers: tuple[str, str]) -> RequestFacts:
        return RequestFacts.read(list(headers))

    lm = date(T0 - 100)
    assert rules.client_not_modified(req(("If-None-Match", '"x", W/"a"')), '"a"', None)
    assert rules.client_not_modified(req(("If-None-Match", "*")), '"a"', None)
    assert not rules.client_not_modified(req(("If-None-Match", '"b"')), '"a"', lm)
    # If-None-Match takes precedence over If-Modified-Since.
    assert not rules.client_not_modified(req(("If-None-Match", '"b"'), ("If-Modified-Since", date(T0))), '"a"', lm)
    assert rules.client_not_modified(req(("If-Modified-Since", date(T0))), None, lm)
    assert not rules.client_not_modified(req(("If-Modified-Since", date(T0 - 200))), None, lm)
    assert not rules.client_not_modified(req(), '"a"', lm)


def test_with_x_cache_replaces_an_upstream_label() -> None:
    assert rules.with_x_cache([("X-Cache", "HIT"), PNG], "MISS") == [PNG, ("X-Cache", "MISS")]
