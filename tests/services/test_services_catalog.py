"""lists/services.toml is data: checked like code."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import tldextract

from guardian.config import ConfigError, parse_config
from guardian.service_catalog import (
    GROUPS,
    CatalogError,
    ServiceIndex,
    catalog_path,
    load_catalog,
    merge,
)

# Every service issue 12 names, by catalog id.
REQUIRED = """youtube youtube-kids tiktok instagram facebook messenger whatsapp snapchat x reddit pinterest
tumblr discord telegram signal twitch kick netflix disney-plus prime-video hulu max spotify soundcloud roblox
epic-games minecraft steam xbox playstation nintendo ea riot-games blizzard among-us hoyoverse supercell
pokemon-go chatgpt gemini claude copilot character-ai amazon ebay aliexpress temu shein vinted bereal threads
bluesky mastodon random-video-chat tinder bumble onlyfans wikipedia google-classroom khan-academy
duolingo""".split()  # noqa: SIM905 -- a word list reads better as text
# CDNs many unrelated sites use: a service claiming them would break the web.
SHARED_CDNS = {"akamaihd.net", "akamaized.net", "cloudfront.net", "googleapis.com", "gstatic.com",
               "googleusercontent.com", "fastly.net", "azureedge.net", "edgekey.net", "cloudflare.com",
               "amazonaws.com", "google.com", "microsoft.com", "apple.com", "qq.com", "ggpht.com"}
_EXTRACT = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


@pytest.fixture(scope="module")
def raw() -> dict:
    return tomllib.loads(catalog_path().read_text(encoding="utf-8"))


def test_the_catalog_loads_and_has_every_service_the_issue_names() -> None:
    services = load_catalog()
    assert len(services) >= 80
    missing = [s for s in REQUIRED if s not in services]
    assert not missing
    assert {s.group for s in services.values()} <= set(GROUPS)
    assert len([s for s in services.values() if s.group == "gambling"]) >= 10


def test_the_file_says_where_lists_came_from_and_when(raw: dict) -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", raw["checked"])
    text = catalog_path().read_text(encoding="utf-8")
    assert "not re-fetched" in text.lower() or "NOT\n# re-fetched" in text
    for entry in raw["services"]:
        assert entry.get("source", "").strip(), f"{entry['id']} has no source"


def test_ids_are_unique_and_well_formed(raw: dict) -> None:
    ids = [e["id"] for e in raw["services"]]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z0-9][a-z0-9-]*", i) for i in ids)
    assert not set(ids) & set(GROUPS), "a service id must not hide a group name"


def test_hosts_are_valid_names_never_a_public_suffix_or_shared_cdn() -> None:
    for service in load_catalog().values():
        for host in service.hosts:
            assert host == host.lower() and not host.endswith(".")
            parts = _EXTRACT(host)
            assert parts.domain and parts.suffix, f"{service.id}: {host} is a public suffix"
            assert host not in SHARED_CDNS, f"{service.id}: {host} is a shared CDN"


def test_no_host_is_claimed_twice_unless_marked_shared_by_both() -> None:
    owners: dict[str, list] = {}
    for service in load_catalog().values():
        for host in service.hosts:
            owners.setdefault(host, []).append(service)
    for host, services in owners.items():
        if len(services) > 1:
            assert all(host in s.shared for s in services), host
    # ... and no service's host sits under another service's host unless shared.
    index = ServiceIndex(load_catalog())
    for service in load_catalog().values():
        for host in service.hosts:
            parent = host.partition(".")[2]
            above = index.lookup(parent) if "." in parent else None
            assert above is None or host in service.shared, f"{host} of {service.id} is inside {above}"


def test_a_bad_catalog_is_refused_with_the_entry_named(tmp_path: Path) -> None:
    cases = {
        'id = "a"\nname = "A"\ngroup = "video"\nhosts = ["a.example"]\n'
        '[[services]]\nid = "a"\nname = "B"\ngroup = "video"\nhosts = ["b.example"]': "used by another",
        'id = "a"\nname = "A"\ngroup = "video"\nhosts = ["bad host"]': "not a host name",
        'id = "a"\nname = "A"\ngroup = "toys"\nhosts = ["a.example"]': "is not one of",
        'id = "a"\nname = "A"\ngroup = "video"\nhosts = ["a.example"]\n'
        '[[services]]\nid = "b"\nname = "B"\ngroup = "video"\nhosts = ["a.example"]': "claimed by both",
        'id = "a"\nname = "A"\ngroup = "video"\nhosts = ["a.example"]\nshared = ["b.example"]': "not one of the",
    }
    for body, message in cases.items():
        path = tmp_path / "services.toml"
        path.write_text("[[services]]\n" + body + "\n")
        with pytest.raises(CatalogError, match=message):
            load_catalog(path)


def test_lookup_walks_parent_domains_and_the_most_specific_host_wins() -> None:
    index = ServiceIndex(load_catalog())
    assert index.lookup("www.youtube.com") == ("youtube",)
    assert index.lookup("r3---sn-abc.googlevideo.com") == ("youtube", "youtube-kids")
    assert index.lookup("classroom.google.com") == ("google-classroom",)
    assert index.lookup("www.google.com") is None
    assert index.lookup("notyoutube.com") is None
    assert index.describe("www.youtube.com") == "YouTube (www.youtube.com)"
    assert index.describe("example.org") == "example.org"


def test_a_household_extends_a_service_or_adds_one() -> None:
    merged = merge(load_catalog(), [{"id": "youtube", "hosts": ["yt.example.net"]},
                                    {"id": "school-games", "name": "School games", "group": "games",
                                     "hosts": ["games.school.example"]}])
    index = ServiceIndex(merged)
    assert index.lookup("cdn.yt.example.net") == ("youtube",)
    assert "youtube.com" in merged["youtube"].hosts
    assert index.lookup("games.school.example") == ("school-games",)
    assert "school-games" in index.in_group("games")


def test_the_configuration_checks_service_ids_and_household_entries() -> None:
    config = parse_config('[[services]]\nid = "youtube"\nhosts = ["yt.example.net"]\n')
    assert config.services[0].hosts == ("yt.example.net",)
    bad = {
        '[[services]]\nid = "new-thing"\nhosts = ["a.example"]\n': "name",
        '[[services]]\nid = "youtube"\nhosts = ["not a host"]\n': "not a host name",
        '[[profiles]]\nname = "kids"\n[profiles.services]\nblock = ["tiktokk"]\n': "no service or group",
        '[[profiles]]\nname = "kids"\n[profiles.services]\nallow_only_during = { roblox = ["Nope"] }\n':
            "no schedule named 'Nope'",
        '[[profiles]]\nname = "kids"\n[[profiles.limits]]\nservices = ["youtube"]\nminutes = 60\ndays = ["mon"]\n'
        '[[profiles.limits]]\nservices = ["youtube"]\nminutes = 90\ndays = ["mon", "sat"]\n': "already has minutes",
        '[[profiles]]\nname = "kids"\n[[profiles.limits]]\nservices = ["youtube"]\nminutes = 2000\n': "out of range",
        '[[profiles]]\nname = "kids"\n[[profiles.schedules]]\nname = "s"\nfrom = "10:00"\nto = "11:00"\n'
        'block_services = ["nope"]\n': "no service or group",
    }
    for text, message in bad.items():
        with pytest.raises(ConfigError, match=message):
            parse_config(text)
