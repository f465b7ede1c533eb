"""Matching semantics, one syntax element or option at a time (uBlock Origin's reading)."""

from __future__ import annotations

import pytest

from guardian.filters import Decision, FilterEngine


def blocked(engine: FilterEngine, url: str, source: str | None = None, request_type: str | None = None) -> bool:
    return engine.match(url, source_url=source, request_type=request_type).blocked


class TestHostAnchor:
    def test_host_and_subdomains(self, engine_of):
        engine = engine_of("||ads.example.com^")
        assert blocked(engine, "https://ads.example.com/x.js")
        assert blocked(engine, "https://a.b.ads.example.com/")
        assert blocked(engine, "http://ads.example.com")

    def test_label_boundary(self, engine_of):
        engine = engine_of("||example.com^")
        assert not blocked(engine, "https://badexample.com/")
        assert not blocked(engine, "https://example.com.evil.net/")
        assert not blocked(engine, "https://other.net/?u=https://example.com/")

    def test_port_is_a_separator(self, engine_of):
        assert blocked(engine_of("||example.com^"), "http://example.com:8080/path")
        assert blocked(engine_of("||example.com^*/ads/"), "http://example.com:8080/x/ads/1")

    def test_host_prefix_without_separator(self, engine_of):
        engine = engine_of("||adserver")
        assert blocked(engine, "https://adserver.net/")
        assert blocked(engine, "https://cdn.adserver2.org/")
        assert not blocked(engine, "https://myadserver.net/")

    def test_host_with_path(self, engine_of):
        engine = engine_of("||cdn.example/ads/")
        assert blocked(engine, "https://cdn.example/ads/1.png")
        assert blocked(engine, "https://x.cdn.example/ads/")
        assert not blocked(engine, "https://cdn.example/news/ads/")
        assert not blocked(engine, "https://cdn.example:81/ads/")

    def test_user_info_and_trailing_dot(self, engine_of):
        engine = engine_of("||tracker.example^")
        assert blocked(engine, "https://user:pw@tracker.example/")
        assert blocked(engine, "https://tracker.example./")

    def test_upper_case_url_and_rule(self, engine_of):
        assert blocked(engine_of("||Tracker.Example^"), "HTTPS://TRACKER.EXAMPLE/A")


class TestSeparatorAndWildcard:
    def test_separator_at_end_of_url(self, engine_of):
        engine = engine_of("/ads^")
        assert blocked(engine, "https://x.example/ads")
        assert blocked(engine, "https://x.example/ads?x=1")
        assert not blocked(engine, "https://x.example/adserver")

    @pytest.mark.parametrize("char", ["_", "-", ".", "%"])
    def test_not_separators(self, engine_of, char):
        assert not blocked(engine_of("/ads^"), f"https://x.example/ads{char}1")

    def test_wildcard(self, engine_of):
        engine = engine_of("/banner/*/img^")
        assert blocked(engine, "https://x.example/banner/2024/img?1")
        assert not blocked(engine, "https://x.example/banner/img")

    def test_start_and_end_anchors(self, engine_of):
        assert blocked(engine_of("|https://ads."), "https://ads.example/")
        assert not blocked(engine_of("|https://ads."), "https://x.example/?https://ads.")
        assert blocked(engine_of(".swf|"), "https://x.example/a.swf")
        assert not blocked(engine_of(".swf|"), "https://x.example/a.swf?x")

    def test_plain_substring(self, engine_of):
        engine = engine_of("-ad-banner.")
        assert blocked(engine, "https://x.example/img/top-ad-banner.png")
        assert not blocked(engine, "https://x.example/img/top-ad-banners/")

    def test_match_case(self, engine_of):
        engine = engine_of("/BannerAd/$match-case")
        assert blocked(engine, "https://x.example/BannerAd/1")
        assert not blocked(engine, "https://x.example/bannerad/1")
        assert blocked(engine_of("/BannerAd/"), "https://x.example/bannerad/1")


class TestRegexRules:
    def test_regex(self, engine_of):
        engine = engine_of(r"/\/ad[0-9]+\.js/")
        assert blocked(engine, "https://x.example/ad123.js")
        assert not blocked(engine, "https://x.example/ad.js")

    def test_dollar_inside_regex_belongs_to_it(self, engine_of):
        engine = engine_of(r"/\.example\/track$/$script")
        assert blocked(engine, "https://x.example/track", request_type="script")
        assert not blocked(engine, "https://x.example/track", request_type="image")
        assert not blocked(engine, "https://x.example/tracker", request_type="script")
        assert blocked(engine_of(r"/\/pixel$/"), "https://x.example/pixel")

    def test_regex_case_insensitive_unless_match_case(self, engine_of):
        assert blocked(engine_of("/ADS/"), "https://x.example/ads")
        assert not blocked(engine_of("/ADS/$match-case"), "https://x.example/ads")


class TestExceptions:
    def test_exception_allows_and_is_reported(self, engine_of):
        engine = engine_of("||ads.example^", "@@||ads.example/ok/")
        assert engine.match("https://ads.example/ok/1") == Decision(False, "@@||ads.example/ok/", "custom")
        assert engine.match("https://ads.example/no/1") == Decision(True, "||ads.example^", "custom")

    def test_exception_alone_decides_nothing(self, engine_of):
        assert engine_of("@@||ok.example^").match("https://ok.example/") == Decision(False, None, None)

    def test_important_beats_exception(self, engine_of):
        engine = engine_of("||ads.example^", "@@||ads.example^", "||ads.example/x$important")
        assert engine.match("https://ads.example/x") == Decision(True, "||ads.example/x$important", "custom")
        assert engine.match("https://ads.example/y") == Decision(False, "@@||ads.example^", "custom")

    def test_exception_with_type(self, engine_of):
        engine = engine_of("||ads.example^", "@@||ads.example^$image")
        assert not blocked(engine, "https://ads.example/a.png", request_type="image")
        assert blocked(engine, "https://ads.example/a.js", request_type="script")


class TestParty:
    def test_third_party(self, engine_of):
        engine = engine_of("||track.example^$third-party")
        assert blocked(engine, "https://track.example/p", "https://news.example.org/")
        assert not blocked(engine, "https://track.example/p", "https://www.track.example/")

    @pytest.mark.parametrize("option", ["3p", "~first-party", "~1p"])
    def test_third_party_aliases(self, engine_of, option):
        engine = engine_of(f"||track.example^${option}")
        assert blocked(engine, "https://track.example/p", "https://news.example.org/")
        assert not blocked(engine, "https://track.example/p", "https://track.example/")

    @pytest.mark.parametrize("option", ["first-party", "1p", "~third-party"])
    def test_first_party(self, engine_of, option):
        engine = engine_of(f"/pixel.gif${option}")
        assert blocked(engine, "https://a.site.co.uk/pixel.gif", "https://www.site.co.uk/")
        assert not blocked(engine, "https://other.co.uk/pixel.gif", "https://www.site.co.uk/")

    def test_public_suffix_decides_party(self, engine_of):
        engine = engine_of("||a.co.uk^$third-party")
        assert blocked(engine, "https://a.co.uk/", "https://b.co.uk/")

    def test_unknown_page_evaluates_no_party(self, engine_of):
        assert blocked(engine_of("||t.example^$third-party"), "https://t.example/")
        assert blocked(engine_of("||t.example^$first-party"), "https://t.example/")


class TestDomainOption:
    def test_included_and_excluded(self, engine_of):
        engine = engine_of("/ads.js$domain=news.example|~sport.news.example")
        assert blocked(engine, "https://cdn.net/ads.js", "https://news.example/")
        assert blocked(engine, "https://cdn.net/ads.js", "https://www.news.example/")
        assert not blocked(engine, "https://cdn.net/ads.js", "https://sport.news.example/")
        assert not blocked(engine, "https://cdn.net/ads.js", "https://other.example/")

    def test_most_specific_entry_wins(self, engine_of):
        engine = engine_of("/ads.js$domain=~news.example|live.sport.news.example")
        assert blocked(engine, "https://cdn.net/ads.js", "https://live.sport.news.example/")
        assert not blocked(engine, "https://cdn.net/ads.js", "https://sport.news.example/")

    def test_exclusions_only(self, engine_of):
        engine = engine_of("/ads.js$domain=~news.example")
        assert blocked(engine, "https://cdn.net/ads.js", "https://other.example/")
        assert not blocked(engine, "https://cdn.net/ads.js", "https://a.news.example/")

    def test_unknown_page(self, engine_of):
        assert not blocked(engine_of("/ads.js$domain=news.example"), "https://cdn.net/ads.js")
        assert blocked(engine_of("/ads.js$domain=~news.example"), "https://cdn.net/ads.js")

    def test_entity(self, engine_of):
        engine = engine_of("/ads.js$domain=google.*")
        assert blocked(engine, "https://cdn.net/ads.js", "https://www.google.co.uk/")
        assert blocked(engine, "https://cdn.net/ads.js", "https://google.de/")
        assert not blocked(engine, "https://cdn.net/ads.js", "https://google.example.com/")
        assert not blocked(engine, "https://cdn.net/ads.js", "https://notgoogle.com/")

    def test_entity_exclusion(self, engine_of):
        engine = engine_of("/ads.js$domain=~google.*")
        assert not blocked(engine, "https://cdn.net/ads.js", "https://mail.google.fr/")
        assert blocked(engine, "https://cdn.net/ads.js", "https://bing.com/")

    def test_from_is_domain(self, engine_of):
        assert blocked(engine_of("/ads.js$from=news.example"), "https://c.net/ads.js", "https://news.example/")


class TestTypes:
    def test_positive_types(self, engine_of):
        engine = engine_of("||cdn.example^$script,image")
        assert blocked(engine, "https://cdn.example/a", request_type="script")
        assert blocked(engine, "https://cdn.example/a", request_type="image")
        assert not blocked(engine, "https://cdn.example/a", request_type="stylesheet")

    def test_unknown_type_meets_only_untyped_rules(self, engine_of):
        assert not blocked(engine_of("||cdn.example^$script"), "https://cdn.example/a")
        assert blocked(engine_of("||cdn.example^$~script"), "https://cdn.example/a")
        assert blocked(engine_of("||cdn.example^"), "https://cdn.example/a")

    def test_negated_types(self, engine_of):
        engine = engine_of("||cdn.example^$~image,~media")
        assert not blocked(engine, "https://cdn.example/a", request_type="image")
        assert blocked(engine, "https://cdn.example/a", request_type="script")

    @pytest.mark.parametrize(
        ("option", "request_type"),
        [("css", "stylesheet"), ("xhr", "xmlhttprequest"), ("xmlhttprequest", "fetch"), ("frame", "subdocument"),
         ("doc", "document"), ("document", "main_frame"), ("subdocument", "sub_frame"), ("ping", "ping"),
         ("beacon", "ping"), ("media", "media"), ("font", "font"), ("websocket", "websocket"),
         ("other", "other"), ("object", "object"), ("object-subrequest", "object")],
    )
    def test_aliases(self, engine_of, option, request_type):
        assert blocked(engine_of(f"||cdn.example^${option}"), "https://cdn.example/a", request_type=request_type)

    def test_untyped_rule_blocks_documents(self, engine_of):
        assert blocked(engine_of("||cdn.example^"), "https://cdn.example/", request_type="document")
        assert blocked(engine_of("/ads/*"), "https://x.example/ads/page", request_type="document")

    def test_all(self, engine_of):
        engine = engine_of("||cdn.example^$all")
        for request_type in ("document", "script", "websocket", "other"):
            assert blocked(engine, "https://cdn.example/", request_type=request_type)


class TestBadfilter:
    def test_cancels_its_twin(self, engine_of):
        assert not blocked(engine_of("||ads.example^", "||ads.example^$badfilter"), "https://ads.example/")

    def test_option_order_does_not_matter(self, engine_of):
        engine = engine_of("||ads.example^$script,third-party", "||ads.example^$third-party,badfilter,script")
        assert not blocked(engine, "https://ads.example/", request_type="script")

    def test_leaves_others(self, engine_of):
        engine = engine_of("||ads.example^$script", "||ads.example^$badfilter")
        assert blocked(engine, "https://ads.example/", request_type="script")

    def test_across_lists(self):
        engine = FilterEngine.from_lists({"a": "||ads.example^", "b": "||ads.example^$badfilter"})
        assert not engine.match("https://ads.example/").blocked
        assert engine.report["a"].skipped["cancelled by $badfilter"] == 1


class TestRedirectAndSkippedOptions:
    def test_redirect_blocks(self, engine_of):
        assert blocked(engine_of("||ads.example/x.js$redirect=noop.js"), "https://ads.example/x.js")

    def test_redirect_rule_never_blocks_on_its_own(self):
        # uBlock Origin: it only redirects what another rule blocks; a proxy cannot redirect.
        engine = FilterEngine.from_lists({"l": "*$script,redirect-rule=noopjs,domain=blog24.me"})
        assert not engine.match("https://cdn.example/app.js", "https://blog24.me/", "script").blocked
        assert engine.report["l"].skipped["$redirect-rule"] == 1

    def test_redirect_rule_beside_a_block_keeps_the_block(self, engine_of):
        engine = engine_of("||ads.example^", "||ads.example/x.js$redirect-rule=noop.js")
        assert blocked(engine, "https://ads.example/x.js")

    @pytest.mark.parametrize("exception", ["@@||ads.example/x.js$redirect-rule", "@@||ads.example/x.js$redirect=noop"])
    def test_redirect_exception_is_not_a_full_exception(self, engine_of, exception):
        # EasyPrivacy's `@@||google-analytics.com/analytics.js$redirect-rule,domain=...` cancels
        # a redirect on one site, not the block.
        engine = engine_of("||ads.example^", exception)
        assert blocked(engine, "https://ads.example/x.js")

    @pytest.mark.parametrize(
        "option",
        ["popup", "generichide", "elemhide", "specifichide", "genericblock", "csp=script-src 'none'",
         "removeparam=utm_source", "rewrite=abp-resource:blank-js", "cname"],
    )
    def test_no_proxy_meaning_is_skipped_and_counted(self, option):
        engine = FilterEngine.from_lists({"l": f"||ads.example^${option}"})
        assert not engine.match("https://ads.example/").blocked
        assert sum(engine.report["l"].skipped.values()) == 1

    def test_popup_with_other_types_keeps_them(self, engine_of):
        assert blocked(engine_of("||ads.example^$popup,script"), "https://ads.example/", request_type="script")


class TestDecision:
    def test_list_name(self):
        engine = FilterEngine.from_lists({"easylist": "||a.example^", "custom": "||b.example^"})
        assert engine.match("https://b.example/") == Decision(True, "||b.example^", "custom")
        assert engine.match("https://a.example/").list == "easylist"

    def test_not_matched(self, engine_of):
        assert engine_of("||a.example^").match("https://c.example/") == Decision(False, None, None)

    def test_rule_count(self, engine_of):
        assert engine_of("||a.example^", "/ads/*", "@@||a.example/ok", "! comment").rule_count == 3


class TestMatchHost:
    def test_host_rules(self, engine_of):
        engine = engine_of("||ads.example^", "||cdn.example/ads/", "/banner/")
        assert engine.match_host("ads.example") == Decision(True, "||ads.example^", "custom")
        assert engine.match_host("x.ads.example:443").blocked
        assert not engine.match_host("cdn.example").blocked
        assert not engine.match_host("banner.example").blocked

    def test_types(self, engine_of):
        assert engine_of("||ads.example^$document").match_host("ads.example").blocked
        assert engine_of("||ads.example^$all").match_host("ads.example").blocked
        assert not engine_of("||ads.example^$script").match_host("ads.example").blocked

    def test_exceptions_on_the_host_only(self, engine_of):
        assert not engine_of("||ads.example^", "@@||ok.ads.example^").match_host("ok.ads.example").blocked
        assert engine_of("||ads.example^", "@@||ads.example/ok/").match_host("ads.example").blocked

    def test_domain_option_needs_a_page(self, engine_of):
        assert not engine_of("||ads.example^$domain=news.example").match_host("ads.example").blocked
        assert engine_of("||ads.example^$third-party").match_host("ads.example").blocked

    def test_hosts_file_line(self):
        engine = FilterEngine.from_lists({"hosts": "0.0.0.0 ads.example\n0.0.0.0 track.example\n"})
        assert engine.match_host("ads.example") == Decision(True, "0.0.0.0 ads.example", "hosts")


class TestPercentEncoding:
    """URLs are matched as browsers and uBlock Origin see them: unreserved characters decoded."""

    @pytest.mark.parametrize("path", ["/%62adpath/x", "/%62%61%64path/x", "/b%41dpath/x", "/%62adpath/%78"])
    def test_encoded_unreserved_characters_do_not_escape_a_path_rule(self, engine_of, path):
        assert blocked(engine_of("/badpath/*"), f"http://site.example{path}")

    def test_reserved_characters_stay_encoded(self, engine_of):
        # `%2F` is not `/`: a server may treat them differently, and so do browsers.
        assert not blocked(engine_of("/a/b/"), "http://site.example/a%2Fb/")
        assert blocked(engine_of("/a%2fb/"), "http://site.example/a%2Fb/")

    def test_host_and_tokens(self, engine_of):
        assert blocked(engine_of("||ads.example^"), "http://%61ds.example/x")
        assert blocked(engine_of("/banner/ad.gif"), "http://x.example/%62anner/ad.gif")
