"""The services page and its forms through Flask's client: what it shows, what it refuses."""

from __future__ import annotations

import re

from tests.web.conftest import Web

TABLET = "Sam's tablet"


def test_the_grid_has_every_service_with_a_letter_tile_and_no_vendor_images(admin: Web) -> None:
    page = admin.get("/profiles/services?name=kids").text
    assert page.count('class="service') >= 80
    assert "<h3>Video</h3>" in page and "<h3>Gambling</h3>" in page and "<h3>Learning</h3>" in page
    assert '<span class="letter c' in page and "<img" not in page
    assert admin.get("/profiles/services?name=nobody").status_code == 404


def test_bad_input_is_refused_and_nothing_is_saved(admin: Web) -> None:
    before = admin.household.config_path.read_text()
    assert admin.post("/profiles/services/set", {"profile": "kids", "service": "nope", "state": "blocked"}
                      ).status_code == 400
    page = admin.post("/profiles/limits/add", {"profile": "kids", "service": "youtube", "minutes": "5000"},
                      follow_redirects=True).text
    assert "Minutes" in page and "1440" in page
    page = admin.post("/profiles/limits/add", {"profile": "kids", "service": "nope", "minutes": "30"},
                      follow_redirects=True).text
    assert "choose a service or a group" in page
    page = admin.post("/profiles/limits/more", {"profile": "kids", "device": TABLET, "service": "youtube",
                                                "minutes": "30"}, follow_redirects=True).text
    assert "YouTube has no time limit today for Sam" in page
    assert admin.household.config_path.read_text() == before


def test_block_then_allow_a_group_and_add_then_remove_a_limit(admin: Web) -> None:
    admin.post("/profiles/services/set", {"profile": "kids", "service": "gambling", "state": "blocked"})
    kids = admin.household.config.profile("kids")
    assert kids.services.block == ("gambling",)
    assert "# The household's own comment" in admin.household.config_path.read_text()
    page = admin.get("/profiles/services?name=kids").text
    assert page.count("<small class=\"state\">blocked</small>") >= 10
    admin.post("/profiles/services/set", {"profile": "kids", "service": "gambling", "state": "allowed"})
    assert admin.household.config.profile("kids").services.block == ()

    admin.post("/profiles/limits/add", {"profile": "kids", "service": "games", "minutes": "90", "shared": "on"})
    limit = admin.household.config.profile("kids").limits[0]
    assert (limit.name, limit.services, limit.minutes, limit.shared) == ("Games", ("games",), 90, True)
    page = admin.get("/profiles/services?name=kids").text
    assert "limited: 90 min a day" in page and "shared by the profile" in page
    admin.post("/profiles/limits/remove", {"profile": "kids", "limit": "Games"})
    assert admin.household.config.profile("kids").limits == ()


def test_the_log_and_the_dashboard_name_services(admin: Web) -> None:
    admin.household.log(host="www.youtube.com", device=TABLET, profile="kids")
    admin.household.log(host="i.ytimg.com", device=TABLET, profile="kids")
    admin.household.log(host="www.tiktok.com", action="blocked", reason="TikTok is blocked for Kids",
                        device=TABLET, profile="kids")
    log = admin.get("/log").text
    assert "YouTube (www.youtube.com)" in log and "TikTok (www.tiktok.com)" in log
    why = re.search(r'href="(/log/\d+)"', log).group(1)
    assert "<dt>Service</dt><dd>TikTok (www.tiktok.com)</dd>" in admin.get(why).text
    dashboard = admin.get("/").text
    assert "Top services today" in dashboard
    top = dashboard.split("Top services today", 1)[1]
    assert "<span>YouTube</span><b>2</b>" in top


def test_a_window_a_service_only_then_and_a_service_blocked_during_a_schedule(admin: Web) -> None:
    admin.post("/profiles/services/window", {"profile": "kids", "name": "Saturday games", "days": ["sat"],
                                             "from": "10:00", "to": "12:00"})
    admin.post("/profiles/services/windows", {"profile": "kids", "service": "roblox",
                                              "windows": ["Saturday games", "not a schedule"]})
    admin.post("/profiles/services/window", {"profile": "kids", "name": "School nights", "days": ["mon"],
                                             "from": "19:00", "to": "21:00"})
    admin.post("/profiles/services/schedule", {"profile": "kids", "service": "youtube",
                                               "schedule": "School nights"})
    kids = admin.household.config.profile("kids")
    assert kids.services.allow_only_during == (("roblox", ("Saturday games",)),)
    school = next(s for s in kids.schedules if s.name == "School nights")
    assert (school.block_all, school.block, school.block_services) == (False, (), ("youtube",))
    policy = admin.household.policy.policy
    at = "2026-12-05T11:00"  # Saturday, in the window
    from datetime import datetime

    def action(url: str, when: str) -> str:
        return policy.explain(url, "127.0.0.2", datetime.fromisoformat(when))["reason"]

    assert action("https://www.roblox.com/", at) != "Roblox is only allowed during Saturday games"
    assert action("https://www.roblox.com/", "2026-12-05T13:00") == "Roblox is only allowed during Saturday games"
    assert action("https://www.youtube.com/", "2026-11-30T19:30") == "YouTube: School nights until 21:00"
    assert action("https://example.org/", "2026-11-30T19:30") != "School nights until 21:00"  # only YouTube
    page = admin.get("/profiles/services?name=kids").text
    assert "only during Saturday games" in page and "blocked during School nights" in page
    # Untick every window: Roblox any time again.
    admin.post("/profiles/services/windows", {"profile": "kids", "service": "roblox"})
    assert admin.household.config.profile("kids").services.allow_only_during == ()


def test_a_limit_with_other_minutes_at_weekends_is_two_entries_shown_as_one_limit(admin: Web) -> None:
    admin.post("/profiles/limits/add", {"profile": "kids", "service": "youtube", "minutes": "60",
                                        "weekend_minutes": "120"})
    limits = admin.household.config.profile("kids").limits
    assert [(lim.name, lim.services, lim.minutes, lim.days) for lim in limits] == [
        ("YouTube", ("youtube",), 60, ("mon", "tue", "wed", "thu", "fri")),
        ("YouTube", ("youtube",), 120, ("sat", "sun")),
    ]
    assert admin.household.config_path.read_text().count("[[profiles.limits]]") == 2
    compiled = admin.household.policy.policy.service_rules["kids"].all_limits
    assert [(lim.name, lim.minutes) for lim in compiled] == [("YouTube", (60,) * 5 + (120,) * 2)]
    page = admin.get("/profiles/services?name=kids").text
    assert page.count('<article class="limit">') == 1
    assert "<h3>YouTube <small>60 min on weekdays, 120 min at weekends</small></h3>" in page
    assert "limited: 60 min on weekdays, 120 min at weekends" in page
    # Removing the limit removes both entries.
    admin.post("/profiles/limits/remove", {"profile": "kids", "limit": "YouTube"})
    assert admin.household.config.profile("kids").limits == ()
    assert "[[profiles.limits]]" not in admin.household.config_path.read_text()


def test_weekend_minutes_left_empty_or_the_same_make_one_entry_for_every_day(admin: Web) -> None:
    admin.post("/profiles/limits/add", {"profile": "kids", "service": "games", "minutes": "45",
                                        "weekend_minutes": ""})
    admin.post("/profiles/limits/add", {"profile": "kids", "service": "roblox", "minutes": "30",
                                        "weekend_minutes": "30"})
    limits = admin.household.config.profile("kids").limits
    assert [(lim.name, lim.minutes, len(lim.days)) for lim in limits] == [("Games", 45, 7), ("Roblox", 30, 7)]
    page = admin.get("/profiles/services?name=kids").text
    assert "<h3>Games <small>45 min a day</small></h3>" in page


def test_bad_weekend_minutes_are_refused_and_nothing_is_saved(admin: Web) -> None:
    before = admin.household.config_path.read_text()
    for value, said in (("lots", "Weekend minutes: expected a whole number."),
                        ("1441", "Weekend minutes: from 0 to 1440.")):
        page = admin.post("/profiles/limits/add", {"profile": "kids", "service": "youtube", "minutes": "60",
                                                   "weekend_minutes": value}, follow_redirects=True).text
        assert said in page
    assert admin.household.config_path.read_text() == before


def test_the_profile_page_says_what_each_schedule_blocks(admin: Web) -> None:
    admin.post("/profiles/services/window", {"profile": "kids", "name": "Saturday games", "days": ["sat"],
                                             "from": "10:00", "to": "12:00"})
    page = admin.get("/profiles/edit?name=kids").text
    assert "sat 10:00–12:00 · a time window (blocks nothing by itself)</small>" in page
    assert "blocks </small>" not in page
    admin.post("/profiles/services/schedule", {"profile": "kids", "service": "youtube",
                                               "schedule": "Saturday games"})
    page = admin.get("/profiles/edit?name=kids").text
    assert "sat 10:00–12:00 · blocks YouTube</small>" in page
