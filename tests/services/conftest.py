"""A household with services, schedules and limits; times in London."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from guardian.config import Config, parse_config
from guardian.logstore.usage import UsageStore
from guardian.policy import PauseStore, Policy
from guardian.policy.limits import UsageMeter

LONDON = ZoneInfo("Europe/London")
SAM = "192.168.1.23"
ALEX = "192.168.1.24"
PARENT = "192.168.1.10"

HOUSEHOLD = """
timezone = "Europe/London"
data_dir = "{data_dir}"

[[lists]]
id = "social"
name = "Social networks"
url = "file:///dev/null"

[[profiles]]
name = "kids"
lists = ["social"]
allow = ["youtube.com", "tiktok.com", "twitch.tv"]
block = ["www.khanacademy.org"]

[profiles.services]
block = ["tiktok", "gambling", "instagram"]
allow_only_during = {{ roblox = ["Saturday games"] }}

[[profiles.schedules]]
name = "Bedtime"
days = ["mon"]
from = "22:00"
to = "23:00"

[[profiles.schedules]]
name = "School nights"
days = ["mon"]
from = "19:00"
to = "21:00"
block_services = ["twitch", "games"]

[[profiles.schedules]]
name = "Saturday games"
days = ["sat"]
from = "10:00"
to = "12:00"
block = []

[[profiles.limits]]
name = "YouTube"
services = ["youtube", "youtube-kids"]
minutes = 60
days = ["mon", "tue", "wed", "thu", "fri"]

[[profiles.limits]]
name = "YouTube"
services = ["youtube", "youtube-kids"]
minutes = 120
days = ["sat", "sun"]

[[profiles.limits]]
name = "Music"
services = ["music"]
minutes = 30
shared = true

[[profiles]]
name = "teens"
allow = ["twitch.tv"]

[profiles.services]
block = ["twitch"]
allow_rules_win = true

[[devices]]
name = "Sam's tablet"
match = ["192.168.1.23"]
profile = "kids"

[[devices]]
name = "Alex's phone"
match = ["192.168.1.24"]
profile = "kids"

[[devices]]
name = "Teen laptop"
match = ["192.168.1.30"]
profile = "teens"
"""
LISTS = {"social": "||social.example^\n||instagram.com^\n"}

MONDAY_NOON = datetime(2026, 11, 30, 12, 0, tzinfo=LONDON)
SCHOOL_NIGHT = datetime(2026, 11, 30, 19, 30, tzinfo=LONDON)
BEDTIME = datetime(2026, 11, 30, 22, 30, tzinfo=LONDON)
SATURDAY_GAMES = datetime(2026, 12, 5, 11, 0, tzinfo=LONDON)
SATURDAY_EVENING = datetime(2026, 12, 5, 18, 0, tzinfo=LONDON)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return parse_config(HOUSEHOLD.format(data_dir=tmp_path / "data"))


@pytest.fixture
def pauses(config: Config) -> PauseStore:
    return PauseStore.for_data_dir(config.data_dir)


@pytest.fixture
def usage_store(config: Config) -> UsageStore:
    store = UsageStore.for_data_dir(config.data_dir)
    yield store
    store.close()


@pytest.fixture
def meter(config: Config, usage_store: UsageStore) -> UsageMeter:
    return UsageMeter(config.zone(), usage_store, clock=MONDAY_NOON.timestamp)


@pytest.fixture
def policy(config: Config, pauses: PauseStore, meter: UsageMeter) -> Policy:
    return Policy(config, LISTS, pauses=pauses, usage=meter)
