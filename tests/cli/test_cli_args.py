"""`check --client NAME` for devices the policy knows by a network or by MAC address, and `--at`
dates, through the same functions the command line calls (the neighbour table is a file here:
a test machine has no LAN neighbours)."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from guardian.cli_args import UsageError, client_address, moment
from guardian.config import parse_config
from guardian.policy import NeighbourTable, Policy

CONFIG = """
[[devices]]
name = "Kid tablet"
match = ["AA-BB-CC-00-11-22"]
[[devices]]
name = "Guest room"
match = ["10.9.8.0/29"]
[[devices]]
name = "Guest phone"
match = ["10.9.8.1"]
"""

ARP = """IP address       HW type     Flags       HW address            Mask     Device
192.168.1.77     0x1         0x2         aa:bb:cc:00:11:22     *        eth0
192.168.1.78     0x1         0x2         aa:bb:cc:99:99:99     *        eth0
"""


@pytest.fixture
def setup(tmp_path):
    config = parse_config(CONFIG)
    arp = tmp_path / "arp"
    arp.write_text(ARP)
    neighbours = NeighbourTable(arp_path=arp, ip_command=None)
    neighbours.refresh()
    return config, Policy(config, {}, neighbours=neighbours), neighbours


def test_a_device_known_by_mac_is_asked_from_its_current_address(setup):
    config, policy, neighbours = setup
    assert client_address(config, "kid tablet", policy.device_for, neighbours.entries) == "192.168.1.77"


def test_a_network_device_is_asked_from_an_address_that_is_its_own(setup):
    config, policy, neighbours = setup
    # 10.9.8.1 belongs to the more specific "Guest phone": the room gets the next address.
    assert client_address(config, "Guest room", policy.device_for, neighbours.entries) == "10.9.8.2"
    assert client_address(config, "guest PHONE", policy.device_for, neighbours.entries) == "10.9.8.1"


def test_a_device_not_on_the_network_now_is_explained(setup, tmp_path):
    config, policy, _ = setup
    empty = NeighbourTable(arp_path=tmp_path / "none", ip_command=None)
    with pytest.raises(UsageError, match="known by its MAC address only and is not on the network now"):
        client_address(config, "Kid tablet", policy.device_for, empty.entries)


@pytest.mark.parametrize(("given", "expected"), [
    ("22:30", datetime(2026, 12, 2, 22, 30)),  # a Wednesday
    ("wed 07:00", datetime(2026, 12, 2, 7, 0)),  # today counts as this week's Wednesday
    ("Tuesday 07:00", datetime(2026, 12, 8, 7, 0)),  # the next Tuesday, not yesterday
    ("SUN 00:00", datetime(2026, 12, 6, 0, 0)),
    ("2026-12-24T18:00", datetime(2026, 12, 24, 18, 0)),
])
def test_at(given, expected):
    assert moment(given, date(2026, 12, 2)) == expected
