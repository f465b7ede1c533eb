"""Services in the precedence table (docs/policy.md): one test per row, and the wording."""

from __future__ import annotations

from datetime import datetime, timedelta

from guardian.policy import Policy
from guardian.policy.limits import UsageMeter
from tests.policy.conftest import connect, get
from tests.services.conftest import (
    ALEX,
    BEDTIME,
    MONDAY_NOON,
    PARENT,
    SAM,
    SATURDAY_EVENING,
    SATURDAY_GAMES,
    SCHOOL_NIGHT,
)


def reason(policy: Policy, url: str, at: datetime, client: str = SAM) -> tuple[str, str]:
    result = policy.explain(url, client, at)
    return result["action"], result["reason"]


def use_minutes(policy: Policy, host: str, start: datetime, minutes: int, client: str = SAM) -> None:
    for m in range(minutes):
        verdict = policy.decide(get(f"http://{host}/watch", client), start + timedelta(minutes=m))
        assert verdict.allowed, (m, verdict.reason)


# ---------------------------------------------------------------- the rows, in order


def test_row_pause_beats_service_blocks_and_limits(policy: Policy, pauses) -> None:
    use_minutes(policy, "www.youtube.com", MONDAY_NOON, 60)
    later = MONDAY_NOON + timedelta(minutes=61)
    assert reason(policy, "https://www.tiktok.com/", later)[0] == "block"
    assert reason(policy, "https://www.youtube.com/", later)[0] == "block"
    pauses.add_pause("profile", "kids", 30, now=later.timestamp())
    assert reason(policy, "https://www.tiktok.com/", later)[0] == "allow"
    assert reason(policy, "https://www.youtube.com/", later)[0] == "allow"


def test_row_allowance_for_the_host_beats_a_service_block_and_a_used_up_limit(policy: Policy, pauses) -> None:
    use_minutes(policy, "www.youtube.com", MONDAY_NOON, 60)
    later = MONDAY_NOON + timedelta(minutes=61)
    # (One at a time: a change drops entries that ended by the real clock, and these are in the past.)
    pauses.add_allowance("device", "Sam's tablet", "tiktok.com", 30, now=later.timestamp())
    assert reason(policy, "https://www.tiktok.com/", later) == (
        "allow", "tiktok.com is allowed for the device Sam's tablet until 13:31")
    assert reason(policy, "https://www.tiktok.com/", later, ALEX)[0] == "block"  # only for that device
    pauses.add_allowance("device", "Sam's tablet", "youtube.com", 30, now=later.timestamp())
    assert reason(policy, "https://www.youtube.com/", later)[0] == "allow"


def test_row_a_schedule_blocking_all_beats_services(policy: Policy) -> None:
    assert reason(policy, "https://www.tiktok.com/", BEDTIME) == ("block", "Bedtime until 23:00")


def test_row_a_schedule_blocks_services(policy: Policy) -> None:
    assert reason(policy, "https://www.twitch.tv/", SCHOOL_NIGHT) == ("block", "Twitch: School nights until 21:00")
    assert reason(policy, "https://www.roblox.com/", SCHOOL_NIGHT)[0] == "block"  # "games" is a group
    assert reason(policy, "https://store.steampowered.com/", SCHOOL_NIGHT) == (
        "block", "Steam: School nights until 21:00")
    assert reason(policy, "https://www.twitch.tv/", MONDAY_NOON)[0] == "allow"


def test_row_a_blocked_service_says_so_for_the_profile(policy: Policy) -> None:
    assert reason(policy, "https://www.tiktok.com/@someone", MONDAY_NOON) == ("block", "TikTok is blocked for Kids")
    assert reason(policy, "v16-webapp.tiktokcdn.com", MONDAY_NOON)[0] == "block"  # a CONNECT to its CDN
    assert reason(policy, "https://www.bet365.com/", MONDAY_NOON) == ("block", "bet365 is blocked for Kids")
    verdict = policy.decide(get("http://www.tiktok.com/"), MONDAY_NOON)
    assert verdict.status == 403 and b"TikTok is blocked for Kids" in verdict.body
    assert verdict.rule is None and verdict.list_id is None


def test_row_a_service_outside_its_windows(policy: Policy) -> None:
    assert reason(policy, "https://www.roblox.com/", SATURDAY_GAMES)[0] == "allow"
    assert reason(policy, "https://www.roblox.com/", SATURDAY_EVENING) == (
        "block", "Roblox is only allowed during Saturday games")
    assert reason(policy, "https://www.roblox.com/", MONDAY_NOON)[0] == "block"


def test_row_a_used_up_limit(policy: Policy) -> None:
    use_minutes(policy, "www.youtube.com", MONDAY_NOON, 60)
    verdict = policy.decide(get("http://www.youtube.com/watch"), MONDAY_NOON + timedelta(minutes=60))
    assert not verdict.allowed
    assert verdict.reason == ("YouTube: today's hour is used up. It comes back tomorrow at 00:00. "
                              "Ask a parent for more time.")
    assert b"today&#x27;s hour is used up" in verdict.body
    # A new tunnel is refused too.
    assert not policy.decide(connect("i.ytimg.com"), MONDAY_NOON + timedelta(minutes=61)).allowed


def test_row_a_parents_allow_rule_does_not_lift_a_service_block_unless_they_say_so(policy: Policy) -> None:
    # kids: allow = ["tiktok.com", "twitch.tv"], but TikTok is blocked and Twitch on school nights.
    assert reason(policy, "https://www.tiktok.com/", MONDAY_NOON)[0] == "block"
    assert reason(policy, "https://www.twitch.tv/", SCHOOL_NIGHT)[0] == "block"
    assert any("tiktok.com" in c and "TikTok" in c for c in policy.conflicts)
    # teens: allow_rules_win = true, so their allow rule for twitch.tv wins over the block.
    assert reason(policy, "https://www.twitch.tv/", MONDAY_NOON, "192.168.1.30") == (
        "allow", "Allowed by a parent's rule")
    assert reason(policy, "https://clips.twitch.tv.example/", MONDAY_NOON, "192.168.1.30")[0] == "allow"
    assert reason(policy, "static-cdn.jtvnw.net", MONDAY_NOON, "192.168.1.30") == (
        "block", "Twitch is blocked for Teens")


def test_row_allow_rules_block_rules_and_lists_still_apply_after_services(policy: Policy) -> None:
    # Khan Academy is no blocked service, so the parents' own block rule decides.
    assert reason(policy, "https://www.khanacademy.org/", MONDAY_NOON) == ("block", "A parent blocked this site")
    assert reason(policy, "https://www.youtube.com/", MONDAY_NOON) == ("allow", "Allowed by a parent's rule")
    assert reason(policy, "https://social.example/", MONDAY_NOON) == ("block", 'On the block list "Social networks"')


def test_row_nothing_matched(policy: Policy) -> None:
    assert reason(policy, "https://en.wikipedia.org/", MONDAY_NOON) == ("allow", "No rule matched")
    assert reason(policy, "https://www.tiktok.com/", MONDAY_NOON, PARENT) == ("allow", "No rule matched")


# ---------------------------------------------------------------- limits in detail


def test_a_limit_shared_by_two_services_counts_both(policy: Policy, meter: UsageMeter) -> None:
    use_minutes(policy, "www.youtube.com", MONDAY_NOON, 30)
    use_minutes(policy, "www.youtubekids.com", MONDAY_NOON + timedelta(minutes=30), 30)
    assert meter.used("2026-11-30", "device:Sam's tablet", "YouTube") == 60
    assert reason(policy, "https://www.youtubekids.com/", MONDAY_NOON + timedelta(minutes=61)) == (
        "block", "YouTube Kids: today's hour is used up. It comes back tomorrow at 00:00. Ask a parent for more time.")


def test_per_device_by_default_and_shared_when_asked(policy: Policy, meter: UsageMeter) -> None:
    use_minutes(policy, "www.youtube.com", MONDAY_NOON, 60)
    later = MONDAY_NOON + timedelta(minutes=61)
    assert reason(policy, "https://www.youtube.com/", later, SAM)[0] == "block"
    assert reason(policy, "https://www.youtube.com/", later, ALEX)[0] == "allow"  # Alex has their own hour
    # Music is shared by the profile: 20 minutes on Sam's tablet and 10 on Alex's phone use it up.
    use_minutes(policy, "open.spotify.com", MONDAY_NOON, 20, SAM)
    use_minutes(policy, "soundcloud.com", MONDAY_NOON + timedelta(minutes=20), 10, ALEX)
    assert meter.used("2026-11-30", "profile:kids", "Music") == 30
    assert reason(policy, "https://open.spotify.com/", MONDAY_NOON + timedelta(minutes=31), SAM) == (
        "block", "Spotify: today's 30 minutes are used up. It comes back tomorrow at 00:00. "
                 "Ask a parent for more time.")


def test_different_minutes_on_different_days(policy: Policy) -> None:
    saturday = datetime(2026, 12, 5, 9, 0, tzinfo=MONDAY_NOON.tzinfo)
    use_minutes(policy, "www.youtube.com", saturday, 90)
    assert reason(policy, "https://www.youtube.com/", saturday + timedelta(minutes=91))[0] == "allow"
    report = policy.usage_report("www.youtube.com", SAM, saturday + timedelta(minutes=91))
    assert report == {"service": "youtube", "service_name": "YouTube", "limit": "YouTube",
                      "used_minutes": 90, "left_minutes": 30}


def test_many_requests_in_one_minute_count_one_minute(policy: Policy, meter: UsageMeter) -> None:
    for second in range(0, 60, 5):
        policy.decide(connect("www.youtube.com"), MONDAY_NOON + timedelta(seconds=second))
        policy.decide(get("http://www.youtube.com/x"), MONDAY_NOON + timedelta(seconds=second))
    assert meter.used("2026-11-30", "device:Sam's tablet", "YouTube") == 1


def test_checking_and_re_deciding_count_nothing(policy: Policy, meter: UsageMeter) -> None:
    policy.explain("https://www.youtube.com/", SAM, MONDAY_NOON)
    policy.usage_report("https://www.youtube.com/", SAM, MONDAY_NOON)
    policy.decide(connect("www.youtube.com"), MONDAY_NOON, count=False)
    assert meter.used("2026-11-30", "device:Sam's tablet", "YouTube") == 0


def test_the_minute_that_reaches_the_limit_is_used_to_its_end(policy: Policy) -> None:
    use_minutes(policy, "www.youtube.com", MONDAY_NOON, 60)
    last = MONDAY_NOON + timedelta(minutes=59, seconds=50)
    assert policy.decide(get("http://www.youtube.com/x"), last).allowed
    assert not policy.decide(get("http://www.youtube.com/x"), MONDAY_NOON + timedelta(minutes=60)).allowed


def test_bonus_minutes_give_more_time_today_only(policy: Policy, meter: UsageMeter) -> None:
    use_minutes(policy, "www.youtube.com", MONDAY_NOON, 60)
    later = MONDAY_NOON + timedelta(minutes=61)
    meter.add_bonus("device:Sam's tablet", "YouTube", 15, later.timestamp())
    assert reason(policy, "https://www.youtube.com/", later)[0] == "allow"
    use_minutes(policy, "www.youtube.com", later, 15)
    assert reason(policy, "https://www.youtube.com/", later + timedelta(minutes=16)) == (
        "block", "YouTube: today's 75 minutes are used up. It comes back tomorrow at 00:00. "
                 "Ask a parent for more time.")
    tomorrow = datetime(2026, 12, 1, 8, 0, tzinfo=MONDAY_NOON.tzinfo)
    assert policy.usage_report("www.youtube.com", SAM, tomorrow)["left_minutes"] == 60


def test_a_shared_host_is_blocked_only_when_every_service_claiming_it_is(config, pauses, meter) -> None:
    from guardian.config import parse_config

    text = ('timezone = "Europe/London"\n[[profiles]]\nname = "kids"\n[profiles.services]\nblock = ["youtube"]\n'
            '[[devices]]\nname = "Sam"\nmatch = ["192.168.1.23"]\nprofile = "kids"\n')
    only_youtube = Policy(parse_config(text), {}, usage=meter)
    assert reason(only_youtube, "https://www.youtube.com/", MONDAY_NOON)[0] == "block"
    assert reason(only_youtube, "rr1---sn-x.googlevideo.com", MONDAY_NOON)[0] == "allow"  # YouTube Kids needs it
    both = Policy(parse_config(text.replace('["youtube"]', '["youtube", "youtube-kids"]')), {}, usage=meter)
    assert reason(both, "rr1---sn-x.googlevideo.com", MONDAY_NOON) == ("block", "YouTube is blocked for Kids")
