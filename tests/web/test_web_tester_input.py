"""Issue 17 item 6: the tester reads an address as the proxy would, and says what
YouTube's restricted mode really does for each YouTube host."""

from __future__ import annotations

import html

import pytest

from tests.web.conftest import Web

TABLET = "Sam's tablet"


def verdict(admin: Web, url: str) -> str:
    return html.unescape(admin.get("/tester", query_string={"url": url, "device": TABLET}).text)


@pytest.mark.parametrize(("typed", "why"), [
    ("not a url at all", "“not a url at all” has spaces in it"),
    ("ftp://files.example/a", "it starts with ftp://"),
    ("http://", "names no site"),
    ("http://user@site.example/", "is not a site name"),
    ("https://site.example:99999/", "is not a site name"),
    ("-site.example", "is not a site name"),
])
def test_what_the_proxy_would_refuse_is_not_a_web_address(admin: Web, typed: str, why: str) -> None:
    page = verdict(admin, typed)
    assert "That is not a web address" in page and why in page
    assert 'id="verdict"' not in page and "No rule matched" not in page
    assert f'value="{typed}"' in page  # what was typed stays in the box


def test_a_site_with_a_page_but_no_scheme_is_its_https_address(admin: Web) -> None:
    page = verdict(admin, "tiktok.com/@someone")
    assert "<b>Blocked</b>" in page and "A parent blocked this site" in page
    assert "Over HTTPS Guardian sees only the site name (tiktok.com)" in page


def test_an_international_name_is_read_as_a_browser_sends_it(admin: Web) -> None:
    admin.household.apply_config_edit(lambda doc: doc["profiles"][1]["block"].append("xn--bcher-kva.example"), None)
    assert "<b>Blocked</b>" in verdict(admin, "https://bücher.example/")


@pytest.mark.parametrize("host", ["youtube.com", "www.youtube.com", "m.youtube.com", "youtubei.googleapis.com",
                                  "youtube.googleapis.com", "www.youtube-nocookie.com"])
def test_youtube_strict_says_what_happens_for_every_youtube_host(admin: Web, host: str) -> None:
    admin.household.apply_config_edit(lambda doc: doc["profiles"][1].__setitem__("youtube", "strict"), None)
    for url in (host, f"https://{host}/watch?v=1"):
        page = verdict(admin, url)
        assert "<b>Allowed</b>" in page
        assert "YouTube restricted mode (strict): connected to restrict.youtube.com, which enforces it" in page


def test_youtube_moderate_and_off(admin: Web) -> None:
    admin.household.apply_config_edit(lambda doc: doc["profiles"][1].__setitem__("youtube", "moderate"), None)
    moderate = "YouTube restricted mode (moderate): connected to restrictmoderate.youtube.com"
    assert moderate in verdict(admin, "youtube.com")
    admin.household.apply_config_edit(lambda doc: doc["profiles"][1].__setitem__("youtube", "off"), None)
    assert "No rule matched" in verdict(admin, "youtube.com")
