"""The filter engine remembers its decisions per URL (guardian/filters/engine.py): through
decide(), a remembered answer must never cross profiles, pages or a change of lists."""

from __future__ import annotations

from guardian.config import Config, parse_config
from guardian.policy import Policy, PolicyHolder
from tests.policy.conftest import HOUSEHOLD, LISTS, NOON, get

SAM = "192.168.1.23"  # kids: ads + social
PARENT = "192.168.1.10"  # adults: ads only


def test_one_url_is_decided_per_profile_every_time(policy: Policy) -> None:
    for _ in range(3):
        kids = policy.decide(get("http://social.example/feed", client=SAM), NOON)
        adults = policy.decide(get("http://social.example/feed", client=PARENT), NOON)
        assert (kids.allowed, kids.rule, kids.profile) == (False, "||social.example^", "kids")
        assert (adults.allowed, adults.rule, adults.profile) == (True, None, "adults")


def test_a_changed_list_is_in_force_for_a_url_decided_before(config: Config, policy: Policy) -> None:
    holder = PolicyHolder(policy)
    url = "http://news.example/story.html"
    assert holder.decide(get(url, client=PARENT)).allowed
    assert holder.decide(get(url, client=PARENT)).allowed
    holder.swap(Policy(config, {**LISTS, "ads": LISTS["ads"] + "||news.example^\n"}, previous=policy))
    verdict = holder.decide(get(url, client=PARENT))
    assert (verdict.allowed, verdict.rule) == (False, "||news.example^")
    # And back: the list without the rule allows it again.
    holder.swap(Policy(config, dict(LISTS), previous=holder.policy))
    assert holder.decide(get(url, client=PARENT)).allowed


def test_a_parents_rule_added_on_a_kept_engine_wins_over_a_remembered_answer(config: Config,
                                                                              policy: Policy) -> None:
    holder = PolicyHolder(policy)
    url = "http://games.example.net/play"
    assert holder.decide(get(url, client=PARENT)).allowed
    stricter = parse_config(HOUSEHOLD.format(data_dir=config.data_dir).replace(
        'name = "adults"\nlists = ["ads"]', 'name = "adults"\nlists = ["ads"]\nblock = ["games.example.net"]'))
    rebuilt = Policy(stricter, dict(LISTS), previous=policy)
    assert rebuilt._profiles["adults"].engine is policy._profiles["adults"].engine  # the same lists: kept
    holder.swap(rebuilt)
    assert not holder.decide(get(url, client=PARENT)).allowed


def test_third_party_and_domain_options_follow_the_referring_page(config: Config) -> None:
    lists = {**LISTS, "ads": "||tracker.example^$third-party\n/promo.$domain=shop.example\n"}
    policy = Policy(config, lists)
    pixel = "http://tracker.example/p.gif"
    promo = "http://cdn.example/promo.png"
    for _ in range(2):
        assert policy.decide(get(pixel, client=PARENT, referer="http://www.tracker.example/"), NOON).allowed
        assert not policy.decide(get(pixel, client=PARENT, referer="http://news.example/a"), NOON).allowed
        assert not policy.decide(get(promo, client=PARENT, referer="http://shop.example/"), NOON).allowed
        assert policy.decide(get(promo, client=PARENT, referer="http://other.example/"), NOON).allowed
