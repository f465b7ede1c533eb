"""The JSON API (docs/api.md) with a browser session; the token path is in test_web_security."""

from __future__ import annotations

from tests.web.conftest import Web

TABLET = "Sam's tablet"


def test_rules_check(admin: Web) -> None:
    def check(rule: str, kind: str = "block") -> dict:
        return admin.api("POST", "/api/rules/check", {"rule": rule, "kind": kind}).get_json()

    assert check("tiktok.com") == {"ok": True, "rule": "tiktok.com", "confirm": None, "notes": [], "warnings": [],
                                   "explanation": "Blocks tiktok.com and all its subdomains, over HTTP and HTTPS."}
    assert check("||ads.example^", "allow")["explanation"].startswith("Allows ads.example")
    assert check("/banner/*$image")["ok"]
    assert not check("x$bogus")["ok"] and "bogus" in check("x$bogus")["explanation"]
    assert not check("##.ad")["ok"]
    assert not check("")["ok"] and not check("a\nb")["ok"] and not check("x" * 3000)["ok"]
    assert admin.api("POST", "/api/rules/check", {"rule": "x", "kind": "maybe"}).status_code == 400
    assert admin.api("POST", "/api/rules/check", ["not", "an", "object"]).status_code == 400


def test_check_status_devices(admin: Web) -> None:
    result = admin.api("POST", "/api/check", {"url": "https://tiktok.com/", "device": TABLET}).get_json()
    assert result["action"] == "block" and result["profile"] == "kids" and result["rule"] == "tiktok.com"
    assert admin.api("POST", "/api/check", {"url": "x.com", "device": "", "address": "bad"}).status_code == 400
    status = admin.get("/api/status").get_json()
    assert status["today"]["requests"] == 0 and status["cache"]["hits"] == 0 and len(status["version"]) == 64
    devices = admin.get("/api/devices").get_json()
    assert devices["configured"][0]["name"] == TABLET


def test_log_api(admin: Web) -> None:
    admin.household.log(host="blocked.example", action="blocked", reason="On the block list", device=TABLET)
    admin.household.log(host="fine.example")
    body = admin.get("/api/log?action=blocked").get_json()
    assert [r["host"] for r in body["records"]] == ["blocked.example"] and body["next_before"] is None
    record_id = body["records"][0]["id"]
    assert "was blocked" in admin.get(f"/api/log/{record_id}").get_json()["summary"]
    assert admin.get("/api/log/424242").status_code == 404
    for bad in ("limit=0", "limit=100000", "action=drop", "since=yesterday", "before=-1"):
        assert admin.get(f"/api/log?{bad}").status_code == 400, bad


def test_pauses_and_allowances(admin: Web) -> None:
    created = admin.api("POST", "/api/pauses", {"scope": "device", "name": TABLET, "minutes": 10})
    assert created.status_code == 201
    allowance = admin.api("POST", "/api/allowances", {"scope": "profile", "name": "kids",
                                                      "host": "https://www.YouTube.com/watch", "minutes": 30})
    assert allowance.get_json()["host"] == "www.youtube.com"
    assert len(admin.get("/api/pauses").get_json()["entries"]) == 2
    for bad in ({"scope": "device", "name": "ghost", "minutes": 10}, {"scope": "house", "name": "x", "minutes": 1},
                {"scope": "profile", "name": "kids", "minutes": 0}, {"scope": "profile", "name": "kids",
                                                                     "minutes": 99999}):
        assert admin.api("POST", "/api/pauses", bad).status_code == 400, bad
    assert admin.api("POST", "/api/allowances", {"scope": "profile", "name": "kids", "host": "a b",
                                                 "minutes": 5}).status_code == 400
    entry_id = created.get_json()["id"]
    assert admin.api("DELETE", f"/api/pauses/{entry_id}").status_code == 200
    assert admin.api("DELETE", f"/api/pauses/{entry_id}").status_code == 404


def test_lists_api(admin: Web) -> None:
    lists = admin.get("/api/lists").get_json()["lists"]
    assert {entry["id"]: entry["rules"] for entry in lists}["local"] == 2
    starter = next(entry for entry in lists if entry["id"] == "starter")
    assert starter["rules"] > 100 and starter["profiles"] == ["default", "kids"]  # built-in lists are counted
    assert admin.api("POST", "/api/lists/refresh", {"ids": ["nope"]}).status_code == 400
    assert admin.api("POST", "/api/lists/refresh", {"ids": ["local"]}).status_code == 202
    assert admin.client.application.extensions["guardian"].refresher.wait(10)
    assert admin.household.refreshes[-1] == ["local"]


def test_profile_rules_api_with_version(admin: Web) -> None:
    version = admin.get("/api/config/version").get_json()["version"]
    added = admin.api("POST", "/api/profiles/rules", {"profile": "kids", "kind": "block", "rule": "games.example",
                                                      "version": version})
    assert added.status_code == 200
    stale = admin.api("POST", "/api/profiles/rules", {"profile": "kids", "kind": "block", "rule": "more.example",
                                                      "version": version})
    assert stale.status_code == 409
    assert admin.api("POST", "/api/profiles/rules", {"profile": "kids", "kind": "block",
                                                     "rule": "games.example"}).status_code == 422
    assert admin.api("POST", "/api/profiles/rules", {"profile": "nobody", "kind": "block",
                                                     "rule": "a.example"}).status_code == 400
    assert admin.api("DELETE", "/api/profiles/rules", {"profile": "kids", "kind": "block",
                                                       "rule": "games.example"}).status_code == 200
    assert admin.household.config.profile("kids").block == ("tiktok.com",)
