"""Configuration validation: every problem is refused with the key that has it."""

from __future__ import annotations

import pytest

from guardian.config import ConfigError, parse_config

LIST = '[[lists]]\nid = "ads"\nurl = "lists/ads.txt"\n'


@pytest.mark.parametrize("text,message", [
    ('[[profiles]]\nname = "kids"\nlists = ["nope"]\n', "profiles[0].lists[0]: no list has the id 'nope'"),
    ('[[devices]]\nname = "tab"\nmatch = ["192.168.1.2"]\nprofile = "teens"\n', "devices[0].profile: no profile"),
    ('[[profiles]]\nname = "k"\n[[profiles.schedules]]\nname = "bed"\nfrom = "25:00"\nto = "07:00"\n',
     "profiles[0].schedules[0].from"),
    ('[[profiles]]\nname = "k"\n[[profiles.schedules]]\nname = "bed"\ndays = ["funday"]\nfrom = "21:00"\n'
     'to = "07:00"\n', "profiles[0].schedules[0].days[0]: 'funday' is not a day"),
    ('[[profiles]]\nname = "k"\n[[profiles.schedules]]\nname = "b"\nfrom = "21:00"\nto = "21:00"\n',
     "profiles[0].schedules[0].to: the window from 21:00 to 21:00 is empty"),
    ('[[profiles]]\nname = "k"\n[[profiles]]\nname = "k"\n', "profiles[1].name: 'k' is used by another profile"),
    ('[[devices]]\nname = "a"\nmatch = ["10.0.0.1"]\n[[devices]]\nname = "a"\nmatch = ["10.0.0.2"]\n',
     "devices[1].name: 'a' is used by another device"),
    ('[[devices]]\nname = "a"\nmatch = ["AA:BB:CC:DD:EE:FF"]\n[[devices]]\nname = "b"\nmatch = ["aa-bb-cc-dd-ee-ff"]\n',
     "devices[1].match[0]: 'aa-bb-cc-dd-ee-ff' already identifies device 'a'"),
    ('[[devices]]\nname = "a"\nmatch = ["not-an-address"]\n', "devices[0].match[0]"),
    ('[[devices]]\nname = "a"\n', "devices[0].match: missing"),
    (LIST + LIST, "lists[1].id: 'ads' is used by another list"),
    ('[[lists]]\nid = "custom"\nurl = "x.txt"\n', "reserved"),
    ('[[lists]]\nid = "x"\nurl = "ftp://example.org/x"\n', "lists[0].url"),
    ('[[lists]]\nid = "x"\nurl = "x.txt"\nformat = "csv"\n', "lists[0].format"),
    ('timezone = "Mars/Olympus"\n', "timezone: 'Mars/Olympus'"),
    ('[refresh]\nwindow = "05:00"\n', "refresh.window"),
    ('[refresh]\nschedule = "hourly"\n', "refresh.schedule"),
    ('[cache]\nmax_bytes = 10\nmax_object_bytes = 20\n', "cache.max_object_bytes"),
    ('[log]\ndetail = "everything"\n', "log.detail"),
    ('[proxy]\nhead_timeout = true\n', "proxy.head_timeout: expected a number of seconds, got a boolean"),
    ('[proxy]\nconnect_ports = ["443-80"]\n', "proxy.connect_ports[0]"),
])
def test_refused_with_the_key(text, message):
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="test.toml")
    assert message in str(caught.value)
    assert str(caught.value).startswith("test.toml: ")


def test_a_full_household_is_accepted():
    config = parse_config('timezone = "Europe/London"\n' + LIST + '''
[[profiles]]
name = "kids"
lists = ["ads"]
block = ["||tiktok.com^"]
youtube = "strict"
[[profiles.schedules]]
name = "bedtime"
days = ["sun", "mon"]
from = "21:00"
to = "07:00"
[[devices]]
name = "Sam's tablet"
match = ["192.168.1.23", "AA:BB:CC:DD:EE:FF", "10.1.0.0/16"]
profile = "kids"
''')
    assert [p.name for p in config.profiles] == ["default", "kids"]  # the default profile always exists
    assert config.profiles[0].lists == ("ads",)  # left out of the file, it takes every enabled list
    assert config.devices[0].match == ("192.168.1.23", "aa:bb:cc:dd:ee:ff", "10.1.0.0/16")
    schedule = config.profile("kids").schedules[0]
    assert (schedule.start, schedule.end, schedule.block_all) == ("21:00", "07:00", True)


@pytest.mark.parametrize("text,message", [
    ('[[profiles]]\nname = "Kids"\n[[profiles]]\nname = "kids"\n',
     "profiles[1].name: 'kids' differs from 'Kids', another profile, only in capital letters"),
    ('[[profiles]]\nname = "Default"\n', "profiles[0].name: 'Default' differs from 'default'"),
    ('[[profiles]]\nname = "k"\n[[profiles.schedules]]\nname = "Bedtime"\nfrom = "21:00"\nto = "07:00"\n'
     '[[profiles.schedules]]\nname = "bedtime"\nfrom = "20:00"\nto = "07:00"\n',
     "profiles[0].schedules[1].name: 'bedtime' differs from 'Bedtime', another schedule of this profile"),
    ('[[devices]]\nname = "Kid tablet"\nmatch = ["10.0.0.1"]\n[[devices]]\nname = "KID TABLET"\nmatch = ["10.0.0.2"]\n',
     "devices[1].name: 'KID TABLET' differs from 'Kid tablet', another device"),
    ('[[profiles]]\nname = "k"\n[[profiles.limits]]\nname = "Games"\nservices = ["roblox"]\nminutes = 60\n'
     'days = ["mon"]\n[[profiles.limits]]\nname = "games"\nservices = ["roblox"]\nminutes = 90\ndays = ["sat"]\n',
     "profiles[0].limits[1].name: 'games' differs from 'Games', another limit"),
])
def test_names_are_unique_whatever_their_capitals(text, message):
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="test.toml")
    assert message in str(caught.value)


def test_the_same_name_in_different_places_is_fine():
    config = parse_config('[[profiles]]\nname = "kids"\n[[profiles.schedules]]\nname = "kids"\nfrom = "21:00"\n'
                          'to = "07:00"\n[[devices]]\nname = "Kids"\nmatch = ["10.0.0.1"]\nprofile = "kids"\n')
    assert config.devices[0].name == "Kids" and config.profile("kids").schedules[0].name == "kids"
