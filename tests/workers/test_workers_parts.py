"""The pieces of `[proxy] workers`: the key, the link, the record relay, usage merging."""

from __future__ import annotations

import sqlite3
import threading
import zoneinfo
from pathlib import Path

import pytest

from guardian.config import ConfigError, parse_config, worker_count
from guardian.logstore import LogStore
from guardian.policy import SeenDevices
from guardian.policy.limits import UsageMeter
from guardian.records import RequestRecord
from guardian.workers.channel import Channel, ChannelClosed
from guardian.workers.worker import RecordRelay, per_worker_cache, record_from_tuple


def _proxy(body: str):
    return parse_config(f"[proxy]\n{body}\n").proxy


def test_workers_key_takes_auto_or_a_count_and_refuses_the_rest() -> None:
    assert _proxy("").workers == "auto"
    assert _proxy("workers = 3").workers == 3
    assert worker_count(_proxy("workers = 3")) == 3
    assert 1 <= worker_count(_proxy('workers = "auto"')) <= 4
    for bad, words in (("workers = 0", "out of range"), ("workers = 65", "out of range"),
                       ('workers = "two"', 'must be "auto" or a whole number'), ("workers = 1.5", "whole number")):
        with pytest.raises(ConfigError, match=words):
            _proxy(bad)


def test_each_worker_gets_its_share_of_the_cache() -> None:
    cache = parse_config("[cache]\nmax_bytes = 1000000\nmax_object_bytes = 400000\n").cache
    assert per_worker_cache(cache, 1) == cache
    two = per_worker_cache(cache, 2)
    assert (two.max_bytes, two.max_object_bytes) == (500000, 400000)
    four = per_worker_cache(cache, 4)
    assert (four.max_bytes, four.max_object_bytes) == (250000, 250000)


def _record(n: int) -> RequestRecord:
    return RequestRecord(started=1000.0 + n, duration_ms=1.5, client_addr="192.168.1.5", method="GET",
                         scheme="http", host="example.com", port=80, target=f"/{n}", status=200,
                         action="blocked" if n % 2 else "allowed", rule="||example.com^", cache="MISS")


def test_the_relay_sends_records_whole_and_counts_what_it_could_not_keep() -> None:
    relay = RecordRelay(limit=3)
    for n in range(5):
        relay.record(_record(n))
    batch, dropped = relay.take()
    assert [record_from_tuple(values) for values in batch] == [_record(n) for n in range(3)]
    assert dropped == 2
    assert relay.take() == ([], 0)


def test_a_channel_carries_messages_and_says_when_the_other_end_is_gone() -> None:
    left, right = Channel.pair()
    big = [("x" * 100, n) for n in range(20000)]  # larger than a socket buffer
    sender = threading.Thread(target=left.send, args=("records", big))
    sender.start()
    assert right.recv() == ("records", big)
    sender.join()
    left.close()
    with pytest.raises(ChannelClosed):
        right.recv()
    with pytest.raises(ChannelClosed):
        right.send("ping")


def test_minutes_merged_from_other_workers_count_once_and_only_the_supervisor_keeps_them(tmp_path: Path) -> None:
    zone = zoneinfo.ZoneInfo("Europe/London")
    worker_a, worker_b, supervisor = (UsageMeter(zone, clock=lambda: 1_800_000_000.0) for _ in range(3))
    worker_a.note("device:tablet", "YouTube", 1_800_000_000.0)
    worker_b.note("device:tablet", "YouTube", 1_800_000_010.0)  # the same minute, on the other worker
    from_a, from_b = worker_a.take_pending(), worker_b.take_pending()
    assert worker_a.take_pending() == []
    supervisor.merge(from_a, keep=True)
    supervisor.merge(from_b, keep=True)
    worker_b.merge(from_a)
    day, _ = supervisor.day_of(1_800_000_000.0)
    assert supervisor.used(day, "device:tablet", "YouTube") == 1
    assert worker_b.used(day, "device:tablet", "YouTube") == 1
    assert supervisor.take_pending() == from_a  # the repeat from b is not queued twice
    assert worker_b.take_pending() == []  # a worker never queues what it was told
    supervisor.add_bonus("device:tablet", "YouTube", 30)
    woken: list[bool] = []
    worker_b.on_change(lambda: woken.append(True))
    for (d, who, limit), total in supervisor.snapshot()[1].items():
        worker_b.set_bonus(d, who, limit, total)
    assert worker_b.bonus(day, "device:tablet", "YouTube") == 30 and woken == [True]


def test_seen_devices_hand_over_what_was_noted(tmp_path: Path) -> None:
    seen = SeenDevices(tmp_path / "devices_seen.json")
    seen.note("192.168.1.7", 100.0)
    assert seen.take_pending() == {"192.168.1.7": 100.0}
    assert seen.take_pending() == {}
    seen.flush()
    assert not (tmp_path / "devices_seen.json").exists()  # nothing left for this process to write


def test_records_a_worker_lost_are_counted_with_the_request_log(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "guardian.db", flush_interval=0.05)
    store.count_dropped(7)
    store.record(_record(0))
    store.close()
    with sqlite3.connect(tmp_path / "guardian.db") as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'dropped_total'").fetchone() == (7,)
        assert conn.execute("SELECT COUNT(*) FROM requests").fetchone() == (1,)


@pytest.mark.parametrize(("cores", "memory_mib", "expected"), [
    (4, 427, 2),  # Pi Zero 2 W: MemTotal of 512 MB less the firmware's share
    (4, 906, 4),  # Pi 3 B (1 GB)
    (4, 3794, 4),  # Pi 4 (4 GB)
    (8, 16000, 4),  # at most four
    (1, 3794, 1),  # pinned to one core
    (2, 0, 1),  # memory unknown: one
])
def test_auto_runs_one_worker_per_core_within_the_memory(monkeypatch: pytest.MonkeyPatch, cores: int,
                                                         memory_mib: int, expected: int) -> None:
    import guardian.config as config_module

    monkeypatch.setattr(config_module.os, "sched_getaffinity", lambda _pid: set(range(cores)))
    monkeypatch.setattr(config_module, "_memory_mib", lambda: memory_mib)
    assert worker_count(_proxy("")) == expected


def test_a_worker_ahead_of_the_least_busy_gives_way_but_never_for_long() -> None:
    import os
    import socket
    import time

    from guardian.workers.pacing import MAX_WAIT, SLACK, ConnectionShares, PacedListener

    shares = ConnectionShares.create(3)
    shares.set(1, 5)
    shares.set(2, 7)
    assert not shares.ahead(0, 5 + SLACK) and shares.ahead(0, 6 + SLACK)
    # shared with a process forked later, as the workers are
    pid = os.fork()
    if pid == 0:
        shares.set(2, 1)
        os._exit(0)
    os.waitpid(pid, 0)
    assert shares.snapshot() == [0, 5, 1]

    with socket.create_server(("127.0.0.1", 0)) as server:
        paced = PacedListener(server, shares, 0)
        paced.held = lambda: 10  # far ahead of worker 2's 1: it waits, then accepts all the same
        socket.create_connection(server.getsockname()).close()
        started = time.monotonic()
        conn, _ = paced.accept()
        conn.close()
        assert MAX_WAIT <= time.monotonic() - started < MAX_WAIT + 1
        assert shares.snapshot()[0] == 11
        assert paced.getsockname() == server.getsockname()
