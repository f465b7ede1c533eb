"""Pauses and allowances: expiry, subdomains, surviving a restart, cancelling, two writers."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from guardian.policy.pauses import PauseStore

T0 = 1_800_000_000.0


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def store(path: Path, clock: FakeClock) -> PauseStore:
    return PauseStore(path, clock=clock)


def test_a_pause_applies_to_its_profile_and_ends_by_itself(tmp_path: Path) -> None:
    clock = FakeClock()
    pauses = store(tmp_path / "pauses.json", clock)
    entry = pauses.add_pause("profile", "kids", 30)
    assert pauses.find("kids", "Sam's tablet", "anything.example", T0 + 60) == entry
    assert pauses.find("kids", None, "anything.example", T0 + 29 * 60) == entry
    assert pauses.find("adults", None, "anything.example", T0 + 60) is None
    assert pauses.find("kids", None, "anything.example", T0 + 30 * 60) is None  # expired
    clock.now = T0 + 31 * 60
    assert pauses.active() == []


def test_a_device_pause_leaves_the_rest_of_the_profile_alone(tmp_path: Path) -> None:
    pauses = store(tmp_path / "pauses.json", FakeClock())
    pauses.add_pause("device", "Sam's tablet", 10)
    assert pauses.find("kids", "Sam's tablet", "x.example", T0 + 1) is not None
    assert pauses.find("kids", "Kids' room", "x.example", T0 + 1) is None


def test_an_allowance_covers_the_host_and_its_subdomains_only(tmp_path: Path) -> None:
    pauses = store(tmp_path / "pauses.json", FakeClock())
    entry = pauses.add_allowance("device", "Sam's tablet", "https://YouTube.com/watch?v=1", 60)
    assert entry.host == "youtube.com"
    assert pauses.find("kids", "Sam's tablet", "youtube.com", T0 + 1) == entry
    assert pauses.find("kids", "Sam's tablet", "www.youtube.com", T0 + 1) == entry
    assert pauses.find("kids", "Sam's tablet", "notyoutube.com", T0 + 1) is None
    assert pauses.find("kids", "Sam's tablet", "youtube.com.evil.example", T0 + 1) is None
    assert pauses.find("kids", "Parent laptop", "youtube.com", T0 + 1) is None
    assert pauses.find("kids", "Sam's tablet", "youtube.com", T0 + 3601) is None


def test_entries_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "data" / "pauses.json"
    clock = FakeClock()
    first = store(path, clock)
    pause = first.add_pause("profile", "kids", 30)
    allowance = first.add_allowance("profile", "kids", "roblox.com", 45)
    del first
    restarted = store(path, clock)
    assert restarted.active() == [pause, allowance]
    assert restarted.find("kids", None, "x.example", T0 + 60) == pause
    plain = json.loads(path.read_text())
    assert plain["version"] == 1
    assert plain["entries"][0]["expires"] == "2027-01-15T08:30:00+00:00"
    assert plain["entries"][1]["host"] == "roblox.com"


def test_cancel_by_id(tmp_path: Path) -> None:
    pauses = store(tmp_path / "pauses.json", FakeClock())
    entry = pauses.add_pause("profile", "kids", 30)
    assert pauses.cancel("nope") is None
    assert pauses.cancel(entry.id) == entry
    assert pauses.find("kids", None, "x.example", T0 + 1) is None
    assert pauses.active() == []


def test_the_server_sees_what_the_command_line_wrote(tmp_path: Path) -> None:
    path = tmp_path / "pauses.json"
    clock = FakeClock()
    server = store(path, clock)
    assert server.find("kids", None, "x.example", T0) is None
    cli = store(path, clock)
    entry = cli.add_pause("profile", "kids", 5)
    server.refresh()  # the service's scheduler, every second
    assert server.find("kids", None, "x.example", T0 + 1) == entry
    cli.cancel(entry.id)
    server.refresh()
    assert server.find("kids", None, "x.example", T0 + 2) is None


def test_the_request_path_never_reads_the_file(tmp_path: Path) -> None:
    path = tmp_path / "pauses.json"
    server = store(path, FakeClock())
    store(path, FakeClock()).add_pause("profile", "kids", 5)
    time.sleep(1.1)  # longer than the old re-read interval
    assert server.find("kids", None, "x", T0 + 1) is None  # a snapshot: no stat, no read
    server.refresh()
    assert server.find("kids", None, "x", T0 + 1) is not None


def test_two_writers_do_not_lose_each_others_entries(tmp_path: Path) -> None:
    path = tmp_path / "pauses.json"
    writers = [store(path, FakeClock()) for _ in range(4)]

    def add(pauses: PauseStore, n: int) -> None:
        for i in range(10):
            pauses.add_allowance("profile", "kids", f"site{n}-{i}.example", 10)

    threads = [threading.Thread(target=add, args=(w, n)) for n, w in enumerate(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(store(path, FakeClock()).active()) == 40


def test_expired_entries_are_dropped_at_the_next_write(tmp_path: Path) -> None:
    path = tmp_path / "pauses.json"
    clock = FakeClock()
    pauses = store(path, clock)
    pauses.add_pause("profile", "kids", 1)
    clock.now += 120
    pauses.add_pause("profile", "adults", 1)
    assert [e["name"] for e in json.loads(path.read_text())["entries"]] == ["adults"]


def test_a_damaged_file_is_ignored_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "pauses.json"
    path.write_text("{not json")
    pauses = store(path, FakeClock())
    assert pauses.active() == []
    pauses.add_pause("profile", "kids", 5)
    assert len(pauses.active()) == 1


@pytest.mark.parametrize("minutes", [0, -5, 7 * 24 * 60 + 1])
def test_minutes_must_be_sensible(tmp_path: Path, minutes: int) -> None:
    with pytest.raises(ValueError, match="minutes"):
        store(tmp_path / "pauses.json", FakeClock()).add_pause("profile", "kids", minutes)
