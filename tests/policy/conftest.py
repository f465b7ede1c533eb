"""Fixtures for the policy tests: a household configuration, its lists, a neighbour table."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from guardian.config import Config, parse_config
from guardian.policy import NeighbourTable, PauseStore, Policy, SeenDevices
from guardian.proxy.hooks import RequestInfo

LONDON = ZoneInfo("Europe/London")

HOUSEHOLD = """
timezone = "Europe/London"
data_dir = "{data_dir}"

[[lists]]
id = "ads"
name = "Ad servers"
url = "file:///dev/null"

[[lists]]
id = "social"
name = "Social networks"
url = "file:///dev/null"

[[profiles]]
name = "default"
lists = ["ads"]

[[profiles]]
name = "kids"
lists = ["ads", "social"]
block = ["||tiktok.com^", "games.example", "/casino/*$image", "@@||ok.tiktok.com^", "||bad$unknownoption"]
allow = ["||school.example^", "@@||homework.social.example^"]
safe_search = true
youtube = "strict"

[[profiles.schedules]]
name = "bedtime"
days = ["sun", "mon", "tue", "wed", "thu"]
from = "21:00"
to = "07:00"
block = "all"

[[profiles.schedules]]
name = "homework"
days = ["mon", "tue", "wed", "thu", "fri"]
from = "16:00"
to = "18:00"
block = ["||youtube.com^", "roblox.com"]

[[profiles]]
name = "adults"
lists = ["ads"]

[[devices]]
name = "Sam's tablet"
match = ["192.168.1.23", "aa:bb:cc:dd:ee:ff"]
profile = "kids"

[[devices]]
name = "Kids' room"
match = ["192.168.2.0/24"]
profile = "kids"

[[devices]]
name = "Study desk"
match = ["192.168.2.128/25"]
profile = "adults"

[[devices]]
name = "Parent laptop"
match = ["192.168.1.10", "11:22:33:44:55:66"]
profile = "adults"
"""

LISTS = {
    "ads": "! ads\n||ads.example^\n@@||ads.example^$image\n/banner/*\n",
    "social": "||social.example^\n||tiktok.com^\n||school.example^\n",
}

NEIGHBOURS_ARP = """IP address       HW type     Flags       HW address            Mask     Device
192.168.1.77     0x1         0x2         AA:BB:CC:DD:EE:FF     *        eth0
192.168.1.78     0x1         0x0         00:00:00:00:00:00     *        eth0
192.168.1.79     0x1         0x2         11:22:33:44:55:66     *        eth0
"""

NEIGHBOURS_IP = """192.168.1.77 dev eth0 lladdr aa:bb:cc:dd:ee:ff REACHABLE
fe80::1234 dev eth0 lladdr aa:bb:cc:dd:ee:ff STALE
fd00::9 dev eth0 lladdr 11:22:33:44:55:66 router DELAY
fd00::10 dev eth0  FAILED
192.168.1.80 dev eth0  INCOMPLETE
"""

# A weekday noon, a Monday bedtime, a Monday homework hour (London time, December: GMT).
NOON = datetime(2026, 12, 1, 12, 0, tzinfo=LONDON)  # Tuesday
BEDTIME = datetime(2026, 11, 30, 22, 0, tzinfo=LONDON)  # Monday night
HOMEWORK = datetime(2026, 11, 30, 16, 30, tzinfo=LONDON)  # Monday afternoon


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return parse_config(HOUSEHOLD.format(data_dir=tmp_path / "data"))


@pytest.fixture
def neighbour_files(tmp_path: Path) -> tuple[Path, Path]:
    arp = tmp_path / "arp"
    arp.write_text(NEIGHBOURS_ARP)
    neigh = tmp_path / "ip-neigh.txt"
    neigh.write_text(NEIGHBOURS_IP)
    return arp, neigh


@pytest.fixture
def neighbours(neighbour_files: tuple[Path, Path]) -> NeighbourTable:
    arp, neigh = neighbour_files
    table = NeighbourTable(arp, ("cat", str(neigh)))
    table.mac_for("fe80::1")  # an IPv6 client has been seen: refreshes ask `ip neigh` too
    table.refresh()  # what the service's scheduler does
    return table


@pytest.fixture
def pauses(config: Config) -> PauseStore:
    return PauseStore.for_data_dir(config.data_dir)


@pytest.fixture
def policy(config: Config, neighbours: NeighbourTable, pauses: PauseStore) -> Policy:
    return Policy(config, LISTS, neighbours=neighbours, pauses=pauses,
                  seen=SeenDevices(config.data_dir / "devices_seen.json", neighbours))


def get(url: str, client: str = "192.168.1.23", accept: str = "text/html", **headers: str) -> RequestInfo:
    """A plain-HTTP request as the proxy core hands it over."""
    scheme, rest = url.split("://", 1)
    authority, _, path = rest.partition("/")
    host, _, port = authority.partition(":")
    fields = {"host": authority, "accept": accept, **{k.replace("_", "-").lower(): v for k, v in headers.items()}}
    return RequestInfo(client, "GET", scheme, host, int(port or 80), "/" + path, fields)


def connect(host: str, client: str = "192.168.1.23", port: int = 443) -> RequestInfo:
    return RequestInfo(client, "CONNECT", "https", host, port, "", {"host": f"{host}:{port}"})
