"""Device identification (exact IP, most specific network, MAC from the neighbour table)
and the record of devices seen but not configured."""

from __future__ import annotations

import json
from pathlib import Path

from guardian.policy.devices import (
    DeviceDirectory,
    NeighbourTable,
    SeenDevices,
    parse_ip_neigh,
    parse_proc_arp,
)
from tests.policy.conftest import NEIGHBOURS_ARP, NEIGHBOURS_IP


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_proc_arp_skips_incomplete_entries_and_normalises_macs() -> None:
    assert parse_proc_arp(NEIGHBOURS_ARP) == {
        "192.168.1.77": "aa:bb:cc:dd:ee:ff",
        "192.168.1.79": "11:22:33:44:55:66",
    }


def test_ip_neigh_keeps_entries_with_a_link_address() -> None:
    assert parse_ip_neigh(NEIGHBOURS_IP) == {
        "192.168.1.77": "aa:bb:cc:dd:ee:ff",
        "fe80::1234": "aa:bb:cc:dd:ee:ff",
        "fd00::9": "11:22:33:44:55:66",
    }


def directory(neighbours: NeighbourTable | None) -> DeviceDirectory[str]:
    return DeviceDirectory([
        (("192.168.1.23", "aa:bb:cc:dd:ee:ff"), "tablet"),
        (("192.168.2.0/24",), "kids room"),
        (("192.168.2.128/25",), "study"),
        (("192.168.2.200",), "printer"),
        (("10.0.0.0/8",), "guests"),
        (("fd00::/64",), "ipv6 lan"),
    ], neighbours)


def test_exact_ip_then_most_specific_network(neighbours: NeighbourTable) -> None:
    devices = directory(neighbours)
    assert devices.identify("192.168.1.23") == "tablet"
    assert devices.identify("192.168.2.200") == "printer"  # exact beats both networks
    assert devices.identify("192.168.2.129") == "study"  # /25 beats /24
    assert devices.identify("192.168.2.5") == "kids room"
    assert devices.identify("10.1.2.3") == "guests"
    assert devices.identify("::ffff:192.168.1.23") == "tablet"  # a dual-stack listener's form


def test_mac_from_the_neighbour_table(neighbours: NeighbourTable) -> None:
    devices = directory(neighbours)
    assert devices.identify("192.168.1.77") == "tablet"  # /proc/net/arp, upper-case there
    assert devices.identify("fe80::1234") == "tablet"  # IPv6: from `ip neigh`
    assert devices.identify("192.168.1.79") is None  # a MAC nobody configured
    assert devices.identify("192.168.1.200") is None  # not in the table at all


def test_networks_come_before_mac(neighbours: NeighbourTable) -> None:
    # fd00::9's MAC is configured for nobody, but also: a network match is decided first.
    assert directory(neighbours).identify("fd00::9") == "ipv6 lan"


def test_neighbour_table_is_refreshed_by_the_scheduler_on_a_miss_at_most_every_few_seconds(
        tmp_path: Path) -> None:
    arp = tmp_path / "arp"
    arp.write_text(NEIGHBOURS_ARP)
    clock = FakeClock()
    table = NeighbourTable(arp, None, max_age=30.0, min_interval=5.0, clock=clock)
    table.refresh()  # at start
    assert table.mac_for("192.168.1.77") == "aa:bb:cc:dd:ee:ff"
    # A new device appears; the cached copy does not know it yet.
    arp.write_text(NEIGHBOURS_ARP + "192.168.1.90     0x1  0x2  de:ad:be:ef:00:01  *  eth0\n")
    clock.now += 1
    assert table.mac_for("192.168.1.90") is None  # requests never read the table themselves
    table.refresh_if_due()
    assert table.mac_for("192.168.1.90") is None  # a miss within min_interval: no re-read
    clock.now += 5
    table.refresh_if_due()
    assert table.mac_for("192.168.1.90") == "de:ad:be:ef:00:01"  # a miss after it: re-read
    # A known address is served from the copy until it is older than max_age.
    arp.write_text(NEIGHBOURS_ARP.replace("AA:BB:CC:DD:EE:FF", "02:00:00:00:00:02"))
    clock.now += 10
    table.refresh_if_due()
    assert table.mac_for("192.168.1.77") == "aa:bb:cc:dd:ee:ff"
    clock.now += 30
    table.refresh_if_due()
    assert table.mac_for("192.168.1.77") == "02:00:00:00:00:02"


def test_requests_never_run_ip_neigh(tmp_path: Path) -> None:
    """A real `ip` stand-in that counts its runs: a request (even the first IPv6 one)
    only reads the snapshot; the scheduler's refresh runs the command."""
    runs = tmp_path / "runs"
    script = tmp_path / "ip"
    script.write_text(f"#!/bin/sh\necho run >> {runs}\ncat {tmp_path / 'neigh'}\n")
    script.chmod(0o755)
    (tmp_path / "neigh").write_text(NEIGHBOURS_IP)
    clock = FakeClock()
    table = NeighbourTable(tmp_path / "arp-absent", (str(script),), clock=clock)
    devices = directory(table)
    for _ in range(20):
        assert devices.identify("fe80::1234") is None
    assert not runs.exists()
    clock.now += 5
    table.refresh_if_due()
    assert runs.read_text().count("run") == 1
    assert devices.identify("fe80::1234") == "tablet"


def test_missing_sources_mean_no_macs(tmp_path: Path) -> None:
    table = NeighbourTable(tmp_path / "absent", ("/nonexistent/ip", "neigh"))
    assert table.mac_for("192.168.1.77") is None


def test_without_mac_matchers_the_table_is_never_read(tmp_path: Path) -> None:
    table = NeighbourTable(tmp_path / "arp-never-created", None)
    devices = DeviceDirectory([(("192.168.1.0/24",), "lan")], table)
    assert devices.identify("10.9.9.9") is None
    assert table._loaded == float("-inf")


def test_seen_devices_are_noted_in_memory_and_flushed_atomically(tmp_path: Path,
                                                                neighbours: NeighbourTable) -> None:
    path = tmp_path / "data" / "devices_seen.json"
    seen = SeenDevices(path, neighbours)
    seen.note("192.168.1.79", 1_800_000_000.0)
    seen.note("192.168.5.5", 1_800_000_010.0)
    assert not path.exists()  # nothing written on the request path
    seen.flush()
    devices = {d["ip"]: d for d in json.loads(path.read_text())["devices"]}
    assert devices["192.168.1.79"]["mac"] == "11:22:33:44:55:66"
    assert devices["192.168.5.5"]["mac"] is None
    assert devices["192.168.1.79"]["first_seen"] == "2027-01-15T08:00:00+00:00"

    # Seen again later (another process start: a new object reads the file).
    again = SeenDevices(path, neighbours)
    again.note("192.168.1.79", 1_800_003_600.0)
    again.flush()
    record = next(d for d in again.devices() if d["ip"] == "192.168.1.79")
    assert record["first_seen"] == "2027-01-15T08:00:00+00:00"
    assert record["last_seen"] == "2027-01-15T09:00:00+00:00"
    assert len(again.devices()) == 2
    assert not list(path.parent.glob(".*.tmp"))


def test_devices_noted_while_flushing_are_never_lost(tmp_path: Path) -> None:
    import sys
    import threading

    seen = SeenDevices(tmp_path / "devices_seen.json")
    done = threading.Event()
    errors: list[BaseException] = []

    def noter(base: int) -> None:
        for i in range(200):
            seen.note(f"10.{base}.{i // 250}.{i % 250}", 1_700_000_000.0 + i)

    def flusher() -> None:
        try:
            while not done.is_set():
                seen.flush()
        except BaseException as exc:  # a dict changed size during flush's iteration
            errors.append(exc)

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        flushing = threading.Thread(target=flusher)
        flushing.start()
        noters = [threading.Thread(target=noter, args=(n,)) for n in range(4)]
        for thread in noters:
            thread.start()
        for thread in noters:
            thread.join()
        done.set()
        flushing.join()
    finally:
        sys.setswitchinterval(switch)
    seen.flush()
    assert errors == []
    assert len({d["ip"] for d in SeenDevices(tmp_path / "devices_seen.json").devices()}) == 800
