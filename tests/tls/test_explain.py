"""Explanations tell the truth about HTTPS: a page rule applies only where Guardian inspects."""

from __future__ import annotations

from guardian.config import parse_config
from guardian.policy import Policy
from guardian.policy.inspection import inspects_https
from guardian.policy.parent_rules import https_record_note

CONFIG = """
timezone = "Europe/London"
[https]
bypass = ["bank.example"]
[[profiles]]
name = "default"
block = ["||video.example/shorts", "||bank.example/games"]
inspect_https = "{mode}"
inspect_hosts = ["video.example", "bank.example"]
[[devices]]
name = "Sam"
match = ["192.168.1.20"]
"""


def _policy(mode: str) -> Policy:
    return Policy(parse_config(CONFIG.format(mode=mode)), {})


def test_check_reports_the_connect_without_inspection_and_the_path_rule_with_it():
    off = _policy("off").explain("https://video.example/shorts/1", "192.168.1.20")
    assert off["action"] == "allow" and off["note"]
    on = _policy("hosts").explain("https://video.example/shorts/1", "192.168.1.20")
    assert on["action"] == "block" and on["rule"] == "||video.example/shorts" and not on["note"]
    # the bypass list wins over inspect_hosts: the page rule cannot apply there
    bank = _policy("all").explain("https://bank.example/games", "192.168.1.20")
    assert bank["action"] == "allow" and bank["note"]


def test_the_predicate_follows_the_profile_and_the_bypass_list():
    config = parse_config(CONFIG.format(mode="hosts"))
    profile = config.profile("default")
    assert inspects_https(profile, "www.video.example", config.https.bypass)
    assert not inspects_https(profile, "other.example", config.https.bypass)
    assert not inspects_https(profile, "bank.example", config.https.bypass)
    assert _policy("all").inspects("default", "Other.Example.")
    assert https_record_note(profile, "video.example") == ""
