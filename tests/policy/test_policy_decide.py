"""The precedence table, end to end through Policy.decide and Policy.explain."""

from __future__ import annotations

import json
import socket
from datetime import timedelta
from pathlib import Path

import pytest

from guardian.config import Config, parse_config
from guardian.policy import CUSTOM_LIST, NeighbourTable, PauseStore, Policy, PolicyHolder, SeenDevices
from guardian.policy.blockpage import TRANSPARENT_GIF
from tests.policy.conftest import BEDTIME, HOMEWORK, HOUSEHOLD, LISTS, NOON, connect, get

SAM = "192.168.1.23"
KIDS_ROOM = "192.168.2.5"
PARENT = "192.168.1.10"
STRANGER = "192.168.9.9"


def explain(policy: Policy, url: str, client: str = SAM, at=NOON, **kwargs) -> dict:
    return policy.explain(url, client, at, **kwargs)


# ---------------------------------------------------------------- the precedence table


def test_unknown_devices_use_the_default_profile(policy: Policy) -> None:
    result = explain(policy, "https://www.tiktok.com/", STRANGER)
    assert result == {"action": "allow", "reason": "No rule matched", "rule": None, "list": None,
                      "schedule": None, "device": None, "profile": "default", "note": None}
    assert explain(policy, "https://ads.example/x.js", STRANGER)["action"] == "block"


def test_a_parents_block_rule(policy: Policy) -> None:
    assert explain(policy, "https://www.tiktok.com/@someone") == {
        "action": "block", "reason": "A parent blocked this site", "rule": "||tiktok.com^", "list": CUSTOM_LIST,
        "schedule": None, "device": "Sam's tablet", "profile": "kids",
        "note": "Over HTTPS Guardian sees only the site name (www.tiktok.com), not the page, so this is what the "
                "connection to the site gets."}


def test_a_bare_host_rule_means_the_site_not_any_url_containing_it(policy: Policy) -> None:
    assert explain(policy, "https://www.games.example/play")["rule"] == "games.example"
    assert explain(policy, "https://search.example/?q=games.example")["action"] == "allow"


def test_an_adblock_rule_of_a_parent_uses_the_engine(policy: Policy) -> None:
    result = explain(policy, "http://x.example/casino/chips.png", request_type="image")
    assert (result["action"], result["rule"], result["list"]) == ("block", "/casino/*$image", CUSTOM_LIST)
    assert explain(policy, "http://x.example/casino/page.html", request_type="document")["action"] == "allow"


def test_a_parents_allow_rule_beats_their_block_rules_and_the_lists(policy: Policy) -> None:
    # ok.tiktok.com: `@@` in the block list joins the allow rules; the social list blocks tiktok.com.
    assert explain(policy, "https://ok.tiktok.com/")["rule"] == "@@||ok.tiktok.com^"
    for url, rule in (("https://ok.tiktok.com/", "@@||ok.tiktok.com^"),
                      ("https://www.school.example/", "||school.example^"),
                      ("https://homework.social.example/", "@@||homework.social.example^")):
        assert explain(policy, url) == {
            "action": "allow", "reason": "Allowed by a parent's rule", "rule": rule, "list": CUSTOM_LIST,
            "schedule": None, "device": "Sam's tablet", "profile": "kids", "note": None}


def test_subscribed_lists_and_their_exceptions(policy: Policy) -> None:
    blocked = explain(policy, "https://social.example/feed")
    assert (blocked["action"], blocked["rule"], blocked["list"]) == ("block", "||social.example^", "social")
    assert blocked["reason"] == 'On the block list "Social networks"'
    excepted = explain(policy, "http://ads.example/pixel.png", request_type="image")
    assert (excepted["action"], excepted["rule"], excepted["list"]) == ("allow", "@@||ads.example^$image", "ads")
    # Over HTTPS only the CONNECT is seen: an exception for images cannot let it through.
    tunnel = explain(policy, "https://ads.example/pixel.png", request_type="image")
    assert (tunnel["action"], tunnel["rule"]) == ("block", "||ads.example^")
    assert "does not apply to https:// addresses" in tunnel["note"]
    # The adults' profile does not subscribe to the social list.
    assert explain(policy, "https://social.example/feed", PARENT)["action"] == "allow"


def test_a_schedules_own_rules_apply_only_in_its_window(policy: Policy) -> None:
    result = explain(policy, "https://www.youtube.com/watch?v=1", at=HOMEWORK)
    assert result == {"action": "block", "reason": "Homework until 18:00", "rule": "||youtube.com^",
                      "list": CUSTOM_LIST, "schedule": "homework", "device": "Sam's tablet", "profile": "kids",
                      "note": "Over HTTPS Guardian sees only the site name (www.youtube.com), not the page, so this "
                              "is what the connection to the site gets."}
    assert explain(policy, "https://roblox.com/", at=HOMEWORK)["schedule"] == "homework"
    assert explain(policy, "https://www.youtube.com/watch?v=1", at=NOON)["action"] == "allow"
    assert explain(policy, "https://www.school.example/", at=HOMEWORK)["action"] == "allow"


def test_bedtime_blocks_everything_for_that_profiles_devices_only(policy: Policy) -> None:
    for url in ("https://www.school.example/", "https://ok.tiktok.com/", "https://example.org/", "wikipedia.org"):
        result = explain(policy, url, at=BEDTIME)
        assert (result["action"], result["reason"], result["schedule"]) == ("block", "Bedtime until 07:00", "bedtime")
        assert result["rule"] is None
    assert explain(policy, "https://example.org/", KIDS_ROOM, at=BEDTIME)["action"] == "block"
    assert explain(policy, "https://example.org/", PARENT, at=BEDTIME)["action"] == "allow"
    assert explain(policy, "https://example.org/", STRANGER, at=BEDTIME)["action"] == "allow"
    assert explain(policy, "https://example.org/", at=BEDTIME + timedelta(hours=9))["action"] == "allow"


def test_a_naive_time_is_local_in_the_configured_zone(policy: Policy) -> None:
    assert explain(policy, "https://example.org/", at=BEDTIME.replace(tzinfo=None))["action"] == "block"


def test_a_pause_beats_schedules_and_rules_for_its_target_only(policy: Policy, pauses: PauseStore) -> None:
    pauses.add_pause("device", "Sam's tablet", 60, now=BEDTIME.timestamp() - 60)
    result = explain(policy, "https://www.tiktok.com/", at=BEDTIME)
    assert result["action"] == "allow"
    assert result["reason"].startswith("Filtering is paused for the device Sam's tablet until 22:59")
    assert explain(policy, "https://www.tiktok.com/", KIDS_ROOM, at=BEDTIME)["action"] == "block"
    assert explain(policy, "https://www.tiktok.com/", at=BEDTIME + timedelta(hours=1))["action"] == "block"


def test_an_allowance_lets_one_host_through_a_schedule(policy: Policy, pauses: PauseStore) -> None:
    pauses.add_allowance("profile", "kids", "youtube.com", 60, now=HOMEWORK.timestamp())
    result = explain(policy, "https://m.youtube.com/watch?v=1", KIDS_ROOM, at=HOMEWORK)
    assert result["action"] == "allow"
    assert result["reason"] == "youtube.com is allowed for the profile kids until 17:30"
    assert explain(policy, "https://roblox.com/", KIDS_ROOM, at=HOMEWORK)["action"] == "block"


# ---------------------------------------------------------------- Verdicts for the proxy core


def test_decide_identifies_the_device_by_mac(policy: Policy) -> None:
    verdict = policy.decide(get("http://www.tiktok.com/", client="192.168.1.77"), NOON)
    assert (verdict.allowed, verdict.device, verdict.profile) == (False, "Sam's tablet", "kids")
    assert policy.decide(get("http://www.tiktok.com/", client="192.168.1.79"), NOON).device == "Parent laptop"


def test_a_blocked_page_gets_the_block_page(policy: Policy) -> None:
    verdict = policy.decide(get("http://www.tiktok.com/video", accept="text/html,*/*;q=0.8"), NOON)
    headers = dict(verdict.headers)
    assert (verdict.allowed, verdict.status) == (False, 403)
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Content-Length"] == str(len(verdict.body))
    assert headers["Cache-Control"] == "no-store"
    page = verdict.body.decode()
    assert "http://www.tiktok.com/video" in page and "A parent blocked this site" in page
    assert "Rule ||tiktok.com^ from a parent&#x27;s own rules" in page
    assert (verdict.rule, verdict.list_id, verdict.reason) == ("||tiktok.com^", CUSTOM_LIST,
                                                              "A parent blocked this site")


def test_a_blocked_image_gets_the_gif_and_a_script_an_empty_script(policy: Policy) -> None:
    image = policy.decide(get("http://ads.example/banner/x", accept="image/avif,image/*", Sec_Fetch_Dest="image"),
                          NOON)
    # ads.example images are excepted by the list; the /banner/ rule still matches on another host:
    assert image.allowed
    image = policy.decide(get("http://cdn.example/banner/x", Sec_Fetch_Dest="image"), NOON)
    assert (image.allowed, image.status, image.body) == (False, 200, TRANSPARENT_GIF)
    script = policy.decide(get("http://ads.example/tag.js", accept="*/*", Sec_Fetch_Dest="script"), NOON)
    assert (script.allowed, script.body, dict(script.headers)["Content-Type"]) == (
        False, b"", "application/javascript")


def test_a_blocked_connect_gets_403_with_the_reason(policy: Policy) -> None:
    verdict = policy.decide(connect("www.tiktok.com"), NOON)
    headers = dict(verdict.headers)
    assert (verdict.allowed, verdict.status) == (False, 403)
    assert headers["X-Guardian-Block"] == "A parent blocked this site"
    assert headers["Content-Length"] == str(len(verdict.body))
    bedtime = policy.decide(connect("example.org"), BEDTIME)
    assert dict(bedtime.headers)["X-Guardian-Block"] == "Bedtime until 07:00"
    assert bedtime.schedule == "bedtime"
    assert not policy.decide(connect("ads.example"), NOON).allowed  # a list, by host alone


def test_safe_search_for_connect_and_plain_http(policy: Policy) -> None:
    tunnel = policy.decide(connect("www.google.co.uk"), NOON)
    assert (tunnel.allowed, tunnel.connect_host, tunnel.target) == (True, "forcesafesearch.google.com", None)
    plain = policy.decide(get("http://www.bing.com/search?q=cats"), NOON)
    assert (plain.connect_host, plain.target) == ("strict.bing.com", "/search?q=cats&adlt=strict")
    assert policy.decide(connect("www.youtube.com"), NOON).connect_host == "restrict.youtube.com"
    # The default profile has no safe search.
    assert policy.decide(connect("www.google.com", client=STRANGER), NOON).connect_host is None


def test_safe_search_stays_on_during_an_allowance(policy: Policy, pauses: PauseStore) -> None:
    pauses.add_allowance("device", "Sam's tablet", "youtube.com", 30, now=HOMEWORK.timestamp())
    verdict = policy.decide(connect("www.youtube.com"), HOMEWORK)
    assert verdict.allowed and verdict.connect_host == "restrict.youtube.com"
    assert verdict.reason is not None and verdict.reason.startswith("youtube.com is allowed")


def test_an_allowed_request_nothing_matched_says_nothing(policy: Policy) -> None:
    verdict = policy.decide(get("http://example.org/"), NOON)
    assert (verdict.allowed, verdict.reason, verdict.rule, verdict.connect_host, verdict.target) == (
        True, None, None, None, None)
    assert (verdict.device, verdict.profile) == ("Sam's tablet", "kids")


def test_a_decision_does_no_dns_or_network_io(policy: Policy, monkeypatch: pytest.MonkeyPatch) -> None:
    def tripwire(*args, **kwargs):
        raise AssertionError("a decision touched the network")

    for name in ("getaddrinfo", "gethostbyname", "create_connection"):
        monkeypatch.setattr(socket, name, tripwire)
    for request in (get("http://www.tiktok.com/"), get("http://unheard-of.invalid/x"), connect("www.google.com"),
                    connect("ads.example"), get("http://www.bing.com/search?q=x", client=STRANGER)):
        policy.decide(request, BEDTIME)
        policy.decide(request, NOON)


# ---------------------------------------------------------------- building snapshots


def test_bad_parent_rules_are_reported_and_skipped(policy: Policy) -> None:
    assert len(policy.problems) == 1
    assert "'||bad$unknownoption' skipped" in policy.problems[0]
    assert "profile 'kids', block" in policy.problems[0]


def test_profiles_with_the_same_lists_share_one_engine(config: Config, policy: Policy) -> None:
    engines = {p.name: p.engine for p in (policy._unknown.profile,
                                          *(w.profile for w in policy._devices._exact.values()))}
    assert engines["default"] is engines["adults"]
    assert engines["kids"] is not engines["default"]
    rebuilt = Policy(config, dict(LISTS), previous=policy)
    assert rebuilt._unknown.profile.engine is engines["default"]
    changed = Policy(config, {**LISTS, "ads": "||other.example^\n"}, previous=policy)
    assert changed._unknown.profile.engine is not engines["default"]


def test_a_list_without_a_stored_copy_is_reported(config: Config) -> None:
    policy = Policy(config, {"ads": LISTS["ads"]})
    assert any("list 'social' has no stored copy yet" in problem for problem in policy.problems)
    assert explain(policy, "https://social.example/")["action"] == "allow"


def test_a_disabled_list_is_not_applied(tmp_path: Path) -> None:
    text = HOUSEHOLD.format(data_dir=tmp_path).replace('name = "Social networks"',
                                                       'name = "Social networks"\nenabled = false')
    policy = Policy(parse_config(text), LISTS)
    assert explain(policy, "https://social.example/")["action"] == "allow"


def test_unknown_devices_are_remembered_off_the_request_path(config: Config, neighbours: NeighbourTable) -> None:
    seen = SeenDevices(config.data_dir / "devices_seen.json", neighbours)
    policy = Policy(config, LISTS, neighbours=neighbours, seen=seen)
    policy.decide(get("http://example.org/", client="192.168.1.79"), NOON)  # Parent laptop by MAC: configured
    policy.decide(get("http://example.org/", client=STRANGER), NOON)
    assert not seen.path.exists()
    seen.flush()
    devices = json.loads(seen.path.read_text())["devices"]
    assert [d["ip"] for d in devices] == [STRANGER]


def test_the_holder_swaps_snapshots(config: Config, policy: Policy) -> None:
    holder = PolicyHolder(policy)
    # The adults' profile has no schedule, so the real clock does not matter here.
    assert holder.decide(get("http://www.tiktok.com/", client=PARENT)).allowed
    stricter = parse_config(HOUSEHOLD.format(data_dir=config.data_dir).replace(
        'name = "adults"\nlists = ["ads"]', 'name = "adults"\nlists = ["ads"]\nblock = ["tiktok.com"]'))
    old = holder.swap(Policy(stricter, LISTS, previous=policy))
    assert old is policy
    assert not holder.decide(get("http://www.tiktok.com/", client=PARENT)).allowed
    assert holder.policy is not policy
