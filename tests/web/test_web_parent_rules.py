"""Parents' rules on the settings page: what is typed is read the way the policy reads
it, dead and every-site rules are refused, and every explanation tells the truth about
HTTPS (the proxy sees only the site name of an https:// address)."""

from __future__ import annotations

import html

from tests.web.conftest import Web

TABLET = "Sam's tablet"


def add(admin: Web, rule: str, kind: str = "block", profile: str = "kids", **extra: str) -> str:
    response = admin.post("/profiles/rules/add", {"profile": profile, "kind": kind, "rule": rule, **extra},
                          follow_redirects=True)
    return html.unescape(response.text)


def test_addresses_and_friendly_forms_are_saved_as_the_site(admin: Web) -> None:
    page = add(admin, "https://www.tiktok.com/", profile="default")
    assert "whole site tiktok.com" in page
    for typed in ("*.youtube.test", "games.test.", "||tiktok.org"):
        add(admin, typed, profile="default")
    page = add(admin, "bücher.example", profile="default")
    assert "xn--bcher-kva.example" in page and "international form" in page
    assert admin.household.config.profile("default").block == (
        "tiktok.com", "youtube.test", "games.test", "||tiktok.org^", "xn--bcher-kva.example")


def test_dead_and_every_site_rules_are_refused(admin: Web) -> None:
    assert "contains a space" in add(admin, "tik tok")
    assert "every site" in add(admin, "*") and "every site" in add(admin, "||*^")
    assert admin.household.config.profile("kids").block == ("tiktok.com",)
    add(admin, "||*^", confirm="on")
    assert admin.household.config.profile("kids").block == ("tiktok.com", "||*^")


def test_a_word_without_a_dot_is_saved_with_a_suggestion(admin: Web) -> None:
    page = add(admin, "roblox")
    assert "matches any address that contains it" in page and "||roblox.com^" in page
    assert "roblox" in admin.household.config.profile("kids").block


def test_top_level_domains_are_never_allowed(admin: Web) -> None:
    assert "shared by many unrelated sites" in add(admin, "com", "allow")
    assert "shared by many unrelated sites" in add(admin, "||co.uk^", "allow")
    assert admin.household.config.profile("kids").allow == ()
    refused = admin.api("POST", "/api/allowances", {"scope": "profile", "name": "kids", "host": "test",
                                                     "minutes": 30})
    assert refused.status_code == 400 and "shared by many" in refused.get_json()["error"]
    assert admin.household.pauses.active() == []


def test_the_why_page_never_offers_a_whole_top_level_domain(admin: Web) -> None:
    household = admin.household
    household.log(host="test", action="blocked", reason="On the block list", device=TABLET, profile="kids")
    record = household.log_queries.search(action="blocked").records[0]
    page = admin.get(f"/log/{record.id}").text
    assert "cannot be allowed as a whole" in page and "minutes</button>" not in page
    assert "shared by many" in html.unescape(
        admin.post("/log/allow-minutes", {"record": record.id, "minutes": "30"}, version=False,
                   follow_redirects=True).text)
    admin.post("/log/allow-profile", {"record": record.id}, follow_redirects=True)
    assert household.pauses.active() == [] and household.config.profile("kids").allow == ()


def test_a_page_rule_is_explained_as_plain_http_only(admin: Web) -> None:
    check = admin.api("POST", "/api/rules/check", {"rule": "https://school.example/homework"}).get_json()
    assert check["ok"] and check["rule"] == "||school.example/homework"
    assert "over plain HTTP" in check["explanation"]
    assert "https:// addresses on school.example are not blocked" in check["explanation"]
    add(admin, "https://school.example/homework")
    # The tester reports what the CONNECT gets, and why the rule does not apply.
    result = html.unescape(admin.get("/tester", query_string={"url": "https://school.example/homework",
                                                              "device": TABLET}).text)
    assert "<b>Allowed</b>" in result
    assert "||school.example/homework names a page, so it does not apply to https:// addresses" in result
    plain = admin.get("/tester", query_string={"url": "http://school.example/homework", "device": TABLET}).text
    assert "<b>Blocked</b>" in plain
    # The why page of the HTTPS connection says the same.
    admin.household.log(method="CONNECT", scheme="https", host="school.example", port=443, target="",
                        action="allowed", device=TABLET, profile="kids")
    record = admin.household.log_queries.search(host="school.example").records[0]
    why = html.unescape(admin.get(f"/log/{record.id}").text)
    assert "Guardian sees only the site name (school.example)" in why
    assert "||school.example/homework" in why and "apply only to http:// addresses" in why


def test_the_explanation_follows_the_profiles_https_inspection(admin: Web) -> None:
    def inspect_all(doc) -> None:
        for table in doc["profiles"]:
            if table["name"] == "kids":
                table["inspect_https"] = "all"

    admin.household.apply_config_edit(inspect_all, None)
    inspected = admin.api("POST", "/api/rules/check", {"rule": "https://school.example/homework",
                                                        "profile": "kids"}).get_json()
    assert "over HTTP and over HTTPS (this profile inspects HTTPS on school.example)" in inspected["explanation"]
    plain = admin.api("POST", "/api/rules/check", {"rule": "https://school.example/homework",
                                                    "profile": "default"}).get_json()
    assert "the page part does not apply" in plain["explanation"]
    # a site Guardian never decrypts stays a site-name-only decision, and says so
    bank = admin.api("POST", "/api/rules/check", {"rule": "https://www.paypal.com/kids",
                                                   "profile": "kids"}).get_json()
    assert "the page part does not apply" in bank["explanation"]
