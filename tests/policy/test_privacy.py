"""Privacy for every device, through the real proxy core against a recording origin."""

from __future__ import annotations

from pathlib import Path

import pytest

from guardian.config import ConfigError, parse_config
from guardian.policy import Policy, PolicyHolder
from guardian.policy.privacy import PrivacyRules
from guardian.policy.removeparam import parse_removeparam
from tests.support.client import RawClient

CONFIG = """
timezone = "Europe/London"
data_dir = "{data_dir}"
{household}
[[lists]]
id = "privacy"
url = "file:///dev/null"
[[profiles]]
name = "default"
lists = ["privacy"]
{profile}
"""

LIST = """[Adblock Plus 2.0]
! Title: removeparam rules
$removeparam=sessionref
||127.0.0.1^$removeparam=/^trk_/
$removeparam=keepme
@@$removeparam=keepme
||tracker.example^$removeparam
"""


def _proxy(make_proxy, tmp_path: Path, household: str = "", profile: str = "", list_text: str = LIST):
    config = parse_config(CONFIG.format(data_dir=tmp_path, household=household, profile=profile))
    return make_proxy(decider=PolicyHolder(Policy(config, {"privacy": list_text})))


def _get(port: int, url: str, headers: str = ""):
    client = RawClient(port)
    host = url.split("/")[2]
    client.send(f"GET {url} HTTP/1.1\r\nHost: {host}\r\n{headers}\r\n".encode())
    response = client.read_response()
    client.close()
    return response


def test_tracking_parameters_are_removed_and_the_rest_keep_order_and_spelling(make_proxy, origin, tmp_path) -> None:
    proxy = _proxy(make_proxy, tmp_path)
    query = "utm_source=news&id=7&FBCLID=abc&q=caf%C3%A9+au%20lait&utm_medium=x&gclid=1&empty=&flag&Utm_Campaign=z"
    assert _get(proxy.port, f"{origin.base}/page?{query}").status == 200
    assert origin.stats.requests[0].target == "/page?id=7&q=caf%C3%A9+au%20lait&empty=&flag"
    record = proxy.recorder.wait_for(1)[0]
    # The log keeps what the device asked for, and says what was taken off.
    assert record.target == f"/page?{query}"
    assert record.reason == "Tracking parameters removed: utm_source, FBCLID, utm_medium, gclid, Utm_Campaign"


def test_a_query_of_only_trackers_loses_its_question_mark(make_proxy, origin, tmp_path) -> None:
    proxy = _proxy(make_proxy, tmp_path)
    _get(proxy.port, f"{origin.base}/page?fbclid=1&utm_source=2")
    assert origin.stats.requests[0].target == "/page"


def test_removeparam_rules_from_a_list_apply(make_proxy, origin, tmp_path) -> None:
    proxy = _proxy(make_proxy, tmp_path)
    _get(proxy.port, f"{origin.base}/p?a=1&sessionref=9&trk_id=5&keepme=2&b=3")
    assert origin.stats.requests[0].target == "/p?a=1&keepme=2&b=3"


def test_a_negated_removeparam_keeps_only_what_it_names() -> None:
    rules = parse_removeparam({"l": "||shop.example^$removeparam=~id\n"})
    rule = rules.rules_for("www.shop.example")[0]
    assert [name for name in ("id", "utm", "page") if rule.removes(name, f"{name}=1")] == ["utm", "page"]
    assert rules.rules_for("other.example") == []


def test_removeparam_regexes_and_unsupported_patterns() -> None:
    rules = parse_removeparam({"l": "/ads/*$removeparam=x\n$removeparam=/(a+)+$/\n||a.example^$removeparam,script\n"})
    # A URL pattern other than a domain anchor is skipped and counted; the regex runs on re2.
    assert rules.skipped == 1
    assert len(rules.generic) == 1 and rules.generic[0].removes("n", "n=" + "a" * 50000 + "!") is False


def test_privacy_switched_off_changes_nothing(make_proxy, origin, tmp_path) -> None:
    household = ('[privacy]\nstrip_tracking_parameters = false\nreferer = "full"\n'
                 'global_privacy_control = false\n')
    proxy = _proxy(make_proxy, tmp_path, household=household, list_text="")
    _get(proxy.port, f"{origin.base}/page?utm_source=x", "Referer: http://elsewhere.example/a/b?c\r\n")
    received = origin.stats.requests[0]
    assert received.target == "/page?utm_source=x"
    assert received.header("referer") == "http://elsewhere.example/a/b?c"
    assert received.header("sec-gpc") is None


def test_cross_site_referrers_are_trimmed_to_the_origin(make_proxy, origin, tmp_path) -> None:
    proxy = _proxy(make_proxy, tmp_path)
    _get(proxy.port, f"{origin.base}/a", "Referer: https://news.example:8443/story/42?user=me\r\n")
    _get(proxy.port, f"{origin.base}/b", f"Referer: {origin.base}/from/here?x=1\r\n")
    cross, same = origin.stats.requests
    assert cross.header("referer") == "https://news.example:8443/"
    assert same.header("referer") == f"{origin.base}/from/here?x=1"


def test_referer_none_sends_no_referrer(make_proxy, origin, tmp_path) -> None:
    proxy = _proxy(make_proxy, tmp_path, profile='[profiles.privacy]\nreferer = "none"\n')
    _get(proxy.port, f"{origin.base}/b", f"Referer: {origin.base}/from/here\r\n")
    assert origin.stats.requests[0].header("referer") is None


def test_global_privacy_control_is_sent_once(make_proxy, origin, tmp_path) -> None:
    proxy = _proxy(make_proxy, tmp_path)
    _get(proxy.port, f"{origin.base}/a")
    _get(proxy.port, f"{origin.base}/b", "Sec-GPC: 1\r\n")
    assert [r.header("sec-gpc") for r in origin.stats.requests] == ["1", "1"]
    assert sum(1 for k, _ in origin.stats.requests[1].headers if k.lower() == "sec-gpc") == 1


def test_a_device_cannot_name_itself_to_a_site_through_the_edited_headers(make_proxy, origin, tmp_path) -> None:
    """Only Guardian says which device asks (signed, and only to its own page): a device's own
    Guardian-Client goes nowhere, however the privacy edits rebuild the header list."""
    proxy = _proxy(make_proxy, tmp_path)
    _get(proxy.port, f"{origin.base}/a", "Guardian-Client: 10.0.0.9 forged\r\nReferer: https://news.example/x\r\n"
         "Cookie: id=1\r\n")
    received = origin.stats.requests[0]
    assert received.header("sec-gpc") == "1" and received.header("referer") == "https://news.example/"
    assert not [k for k, _ in received.headers if k.lower() == "guardian-client"]


@pytest.mark.parametrize(("referer", "stripped"), [
    ("http://news.example/story", True),  # another site: a third-party request
    (None, False),  # a navigation
    ("{base}/page", False),  # the same site
])
def test_third_party_cookies_are_stripped_both_ways(make_proxy, origin, tmp_path, referer, stripped) -> None:
    proxy = _proxy(make_proxy, tmp_path, household='[privacy]\nthird_party_cookies = "block"\n')
    headers = "Cookie: id=42\r\n" + (f"Referer: {referer.format(base=origin.base)}\r\n" if referer else "")
    response = _get(proxy.port, f"{origin.base}/download?type=text/plain&cookie=seen%3D1", headers)
    assert (origin.stats.requests[0].header("cookie") is None) == stripped
    assert (response.header("set-cookie") is None) == stripped


def test_sign_in_providers_keep_their_cookies(make_proxy, tmp_path) -> None:
    with pytest.raises(ConfigError, match="is not a host name"):
        parse_config('[privacy]\nthird_party_cookies = "block"\ncookie_exceptions = ["127.0.0.1"]\n')
    config = parse_config('[privacy]\nthird_party_cookies = "block"\n'
                          'cookie_exceptions = ["accounts.example.com"]\n')
    rules = PrivacyRules(config.privacy)
    news = "https://news.example/story"
    # The exception stands for its whole site; other third parties lose their cookies.
    assert "cookie" not in rules.header_changes("login.example.com", "news.example", news, None).drop
    assert "cookie" in rules.header_changes("ads.tracker.example", "news.example", news, None).drop
    # Without a Referer or Origin, the browser's own word decides.
    assert "cookie" in rules.header_changes("ads.tracker.example", None, None, "cross-site").drop
    assert rules.header_changes("ads.tracker.example", None, None, "same-origin") is rules.constant


def test_removeparam_rules_are_read_from_a_stored_list_file_in_chunks(tmp_path) -> None:
    from guardian.filters.compact import ListFile

    stored = tmp_path / "big.txt"
    filler = "".join(f"||host{i}.example^\n" for i in range(80_000))  # more than one read chunk
    stored.write_text(filler + "$removeparam=sessionref\n" + filler + "||shop.example^$removeparam=~id")
    rules = parse_removeparam({"big": ListFile.of(stored)})
    assert [r.raw for r in rules.generic] == ["$removeparam=sessionref"]
    assert [r.raw for r in rules.rules_for("www.shop.example")] == [
        "$removeparam=sessionref", "||shop.example^$removeparam=~id"]
