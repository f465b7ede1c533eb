"""`[proxy] workers = 2`: `guardian serve` as real processes on loopback, real SQLite.

Which worker served a request is read from the supervisor's own count of the records
each worker passed on (the `workers` control command), so nothing test-only is needed
in the proxy's answers.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from guardian.control import NotRunning, call
from tests.support.client import RawClient
from tests.support.origin import EchoServer, Origin
from tests.support.serve import GuardianProcess, free_port
from tests.tls.conftest import connect_tunnel, read_all, split_response, trusting_context

SERVICE = '''
[[services]]
id = "games"
name = "Games"
group = "games"
hosts = ["games.example"]
'''


def write_config(path: Path, port: int, data_dir: Path, profile_extra: str = "",
                 block: tuple[str, ...] = ("blocked.example",), proxy_extra: str = "") -> None:
    path.write_text(f'''data_dir = "{data_dir}"
{SERVICE}
[proxy]
listen = "127.0.0.1:{port}"
deny_destinations = []
deny_own_addresses = false
connect_ports = [443, "1024-65535"]
workers = 2
{proxy_extra}
[web]
listen = "127.0.0.1:{free_port()}"
[cache]
max_bytes = 8388608
[[lists]]
id = "local"
name = "Local"
url = "{data_dir.parent / 'local.txt'}"
[[profiles]]
name = "default"
lists = ["local"]
block = {list(block)!r}
{profile_extra}
''')


class Served:
    def __init__(self, tmp_path: Path, profile_extra: str = "", proxy_extra: str = "") -> None:
        self.tmp_path = tmp_path
        self.data_dir = tmp_path / "data"
        self.config = tmp_path / "guardian.toml"
        self.list_file = tmp_path / "local.txt"
        self.list_file.write_text("||listed.example^\n")
        self.port = free_port()
        self.profile_extra = profile_extra
        write_config(self.config, self.port, self.data_dir, profile_extra, proxy_extra=proxy_extra)
        self.process = GuardianProcess(self.config, tmp_path, self.port)
        wait_until(self._serving)

    def _serving(self) -> bool:
        try:
            workers = self.status()["workers"]
        except NotRunning:  # the control socket opens just after the proxy port
            return False
        return len(workers) == 2 and all(w["serving"] for w in workers)

    def control(self, command: str, **arguments: Any) -> dict[str, Any]:
        return call(self.data_dir, command, timeout=30, **arguments)

    def status(self) -> dict[str, Any]:
        return self.control("workers")

    def records(self) -> list[int]:
        return [w["records"] for w in self.status()["workers"]]

    def get(self, url: str, *headers: str) -> int:
        """One request on a connection of its own; the status."""
        client = RawClient(self.port)
        try:
            client.send((f"GET {url} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                         + "".join(f"{h}\r\n" for h in headers) + "\r\n").encode())
            return client.read_response().status
        finally:
            client.sock.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    running = Served(tmp_path)
    yield running
    running.process.stop()


def wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def rows(database: Path, query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(database) as conn:
        return conn.execute(query).fetchall()


def test_both_workers_serve_and_every_record_reaches_the_one_log(served: Served, origin: Origin) -> None:
    for _ in range(40):
        assert served.get(f"{origin.base}/size/10") == 200
    wait_until(lambda: sum(served.records()) == 40)
    assert all(count > 0 for count in served.records())  # both workers took connections

    # SIGUSR1 still reopens the access log, which the supervisor alone writes
    access_log = served.data_dir / "logs" / "access.log"
    wait_until(lambda: len(access_log.read_text().splitlines()) == 40)
    access_log.rename(access_log.with_name("access.log.old"))
    served.process.signal(signal.SIGUSR1)
    for _ in range(10):
        assert served.get(f"{origin.base}/size/11") == 200
    wait_until(lambda: access_log.exists() and len(access_log.read_text().splitlines()) == 10)

    # SIGTERM drains: a slow answer in flight completes, then every record is written
    slow = RawClient(served.port)
    slow.send(f"GET {origin.base}/slow HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    time.sleep(0.3)
    served.process.signal(signal.SIGTERM)
    answer = slow.read_response()
    assert answer.status == 200 and answer.body == b"slow but complete"
    assert served.process.proc.wait(30) == 0
    assert rows(served.data_dir / "guardian.db", "SELECT COUNT(*), SUM(times) FROM requests") == [(51, 51)]
    assert len(access_log.with_name("access.log.old").read_text().splitlines()) == 40
    assert rows(served.data_dir / "guardian.db", "SELECT value FROM meta WHERE key = 'dropped_total'") == [(0,)]
    # the devices the workers saw reach the one file the supervisor writes
    seen = json.loads((served.data_dir / "devices_seen.json").read_text())["devices"]
    assert [device["ip"] for device in seen] == ["127.0.0.1"]


def test_each_worker_caches_its_share_and_the_stats_add_up(served: Served, origin: Origin) -> None:
    for _ in range(20):
        assert served.get(f"{origin.base}/asset/logo.png?max-age=300") == 200
    stats = served.control("cache-stats")["stats"]
    assert stats["max_bytes"] == 8388608  # two caches of 4 MiB: the household's memory stays as set
    # one miss per worker at most (each fetches the asset once), the rest are hits
    assert 1 <= stats["misses"] <= 2 and stats["hits"] == 20 - stats["misses"]
    assert stats["entries"] == stats["misses"]
    assert origin.stats.hits["/asset/logo.png?max-age=300"] == stats["misses"]
    assert served.control("cache-clear")["cleared"] == stats["entries"]
    assert served.control("cache-stats")["stats"]["entries"] == 0


def test_a_reload_and_a_list_refresh_reach_every_worker_without_a_failed_request(
        served: Served, origin: Origin) -> None:
    failures: list[int | str] = []  # a status other than 200, or what went wrong instead of an answer
    done = threading.Event()

    def browse() -> None:
        while not done.is_set():
            try:
                status = served.get(f"{origin.base}/size/10")
            except Exception as exc:  # a close without an answer, a reset, a timeout: a failed request too
                failures.append(repr(exc))
                continue
            if status != 200:
                failures.append(status)

    browsing = threading.Thread(target=browse)
    browsing.start()
    try:
        assert served.get("http://later.example/") != 403  # not blocked yet (and not resolvable here)
        write_config(served.config, served.port, served.data_dir, block=("blocked.example", "later.example"))
        assert served.control("reload")["ok"]  # returns once every worker runs the new rules
        status = served.status()
        assert [w["generation"] for w in status["workers"]] == [status["generation"]] * 2
        for _ in range(10):  # on connections of their own: both workers block it
            assert served.get("http://later.example/") == 403

        assert failures == []  # not one request failed while the workers rebuilt
        served.list_file.write_text("||listed.example^\n||127.0.0.1^\n")
        assert served.control("lists-update", ids=["local"])["ok"]
        status = served.status()
        assert [w["generation"] for w in status["workers"]] == [status["generation"]] * 2
        for _ in range(10):
            assert served.get(f"{origin.base}/size/10") == 403
    finally:
        done.set()
        browsing.join()
    assert set(failures) <= {403}  # after the refresh: its own block, never an error


def test_a_killed_worker_is_restarted_and_only_its_connections_are_lost(served: Served, origin: Origin) -> None:
    # one keep-alive connection on each worker, told apart by whose record count moves
    held: dict[int, RawClient] = {}
    while len(held) < 2:
        before = served.records()
        client = RawClient(served.port)
        client.send(f"GET {origin.base}/size/1 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert client.read_response().status == 200
        wait_until(lambda before=before: served.records() != before)
        worker = next(i for i, (a, b) in enumerate(zip(before, served.records(), strict=True)) if a != b)
        held.setdefault(worker, client)
    victim = served.status()["workers"][0]["pid"]
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: served.status()["restarts"] == 1 and all(w["serving"] for w in served.status()["workers"]))
    assert served.status()["workers"][0]["pid"] != victim
    assert "proxy worker 0 (process" in served.process.log() and "killed by signal 9" in served.process.log()
    # the other worker's connection is untouched; the dead one's is gone
    held[1].send(f"GET {origin.base}/size/2 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert held[1].read_response().status == 200
    with pytest.raises((OSError, EOFError)):
        held[0].send(f"GET {origin.base}/size/2 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        held[0].read_response()
    # the new worker serves, decides with the rules in force, and logs
    before = served.records()
    for _ in range(20):
        assert served.get(f"{origin.base}/size/3") == 200
    wait_until(lambda: served.records()[0] > before[0])
    assert served.get("http://blocked.example/") == 403


def test_https_block_pages_come_from_every_worker(served: Served) -> None:
    ca = served.data_dir / "tls" / "ca.crt"
    before = served.records()
    for _ in range(6):
        sock = connect_tunnel(served.port, "blocked.example:443")
        with trusting_context(ca).wrap_socket(sock, server_hostname="blocked.example") as tls:
            tls.sendall(b"GET / HTTP/1.1\r\nHost: blocked.example\r\nSec-Fetch-Dest: document\r\n\r\n")
            status, _, body = split_response(read_all(tls))
        assert status == 403 and b"A parent blocked this site" in body
    wait_until(lambda: sum(served.records()) >= sum(before) + 6)
    assert all(after > was for after, was in zip(served.records(), before, strict=True))


def test_minutes_of_a_limited_service_count_once_across_workers(tmp_path: Path, origin: Origin) -> None:
    limit = '[[profiles.limits]]\nname = "Games"\nservices = ["games"]\nminutes = 60\n'
    served = Served(tmp_path, limit + '[[devices]]\nname = "Laptop"\nmatch = ["127.0.0.1"]\n')
    try:
        for _ in range(10):  # counted when decided; the name does not resolve here, which does not matter
            served.get("http://games.example/")
        wait_until(lambda: all(count > 0 for count in served.records()))
        # both workers counted the minute; the household used it once
        wait_until(lambda: any(r["used_minutes"] >= 1 for r in served.control("usage")["rows"]))
        used = [r["used_minutes"] for r in served.control("usage")["rows"] if r["limit"] == "Games"]
        assert used and max(used) <= 2  # one minute, or two if the clock passed a minute meanwhile
    finally:
        assert served.process.stop() == 0
    minutes = rows(served.data_dir / "usage.db", "SELECT who, limit_name, COUNT(*) FROM usage_minutes GROUP BY 1, 2")
    assert len(minutes) == 1 and minutes[0][1] == "Games" and 1 <= minutes[0][2] <= 2


def test_one_device_holds_no_more_connections_than_the_household_allows_across_workers(
        tmp_path: Path, origin: Origin) -> None:
    served = Served(tmp_path, proxy_extra="max_connections_per_client = 4")
    held: list[RawClient] = []
    try:
        answers = []
        for _ in range(12):  # each keeps its connection open after one answer
            client = RawClient(served.port)
            client.send(f"GET {origin.base}/a HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            answers.append(client.read_response().status)
            held.append(client)
        # two workers, each with half of the limit: 4 in all, not 4 in each
        assert 1 <= answers.count(200) <= 4 and answers.count(503) == 12 - answers.count(200), answers
    finally:
        for client in held:
            client.sock.close()
        served.process.stop()


def test_the_listening_socket_is_one_socket_shared_by_the_workers(served: Served) -> None:
    status = served.status()
    inodes = set()
    for worker in status["workers"]:
        for fd in os.listdir(f"/proc/{worker['pid']}/fd"):
            try:
                target = os.readlink(f"/proc/{worker['pid']}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:") and _listening(target, served.port):
                inodes.add(target)
    assert len(inodes) == 1


def _listening(target: str, port: int) -> bool:
    inode = target[len("socket:["):-1]
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            if fields[9] == inode and fields[3] == "0A" and int(fields[1].split(":")[1], 16) == port:
                return True
    return False


def test_connection_to_the_port_is_refused_once_stopped(served: Served) -> None:
    assert served.process.stop() == 0
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", served.port), 1).close()


def test_a_worker_told_to_stop_by_itself_finishes_its_requests_and_is_started_again(
        served: Served, origin: Origin) -> None:
    slow = RawClient(served.port)
    slow.send(f"GET {origin.base}/slow HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    time.sleep(0.3)
    pids = [w["pid"] for w in served.status()["workers"]]
    for pid in pids:  # as systemd's stop signals every process of the service
        os.kill(pid, signal.SIGTERM)
    assert slow.read_response().status == 200  # the request in flight finished
    # the supervisor was not told to stop: it starts them again
    wait_until(lambda: served.status()["restarts"] == 2 and all(w["serving"] for w in served.status()["workers"]))
    assert not set(pids) & {w["pid"] for w in served.status()["workers"]}
    assert served.get(f"{origin.base}/size/1") == 200


def worker_holding(client: socket.socket, served: Served) -> int:
    """Which worker holds the proxy's end of `client`'s connection (from /proc)."""
    client_port = client.getsockname()[1]
    inode = ""
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            local, remote = fields[1].split(":"), fields[2].split(":")
            if int(local[1], 16) == served.port and int(remote[1], 16) == client_port:
                inode = fields[9]
    for worker in served.status()["workers"]:
        for fd in os.listdir(f"/proc/{worker['pid']}/fd"):
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{worker['pid']}/fd/{fd}") == f"socket:[{inode}]":
                    return worker["slot"]
    raise AssertionError("no worker holds the connection")


def test_open_tunnels_in_every_worker_are_closed_when_a_refresh_blocks_them(
        served: Served, echo_server: EchoServer) -> None:
    tunnels: dict[int, socket.socket] = {}
    for _ in range(40):
        sock = connect_tunnel(served.port, f"127.0.0.1:{echo_server.port}")
        sock.sendall(b"hello")
        assert sock.recv(5) == b"hello"
        tunnels.setdefault(worker_holding(sock, served), sock)
        if len(tunnels) == 2:
            break
    assert sorted(tunnels) == [0, 1]
    served.list_file.write_text("||listed.example^\n||127.0.0.1^\n")
    assert served.control("lists-update", ids=["local"])["ok"]
    for sock in tunnels.values():  # each worker re-decides its own open connections
        sock.settimeout(10)  # a tunnel left open would time out here and fail the test
        with contextlib.suppress(ConnectionResetError):  # closed with a reset: closed all the same
            assert sock.recv(100) == b""


def test_a_burst_of_keep_alive_connections_is_shared_between_the_workers(served: Served, origin: Origin) -> None:
    clients = [RawClient(served.port) for _ in range(20)]  # as a browser or a benchmark opens them
    for client in clients:
        client.send(f"GET {origin.base}/size/1 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    for client in clients:
        assert client.read_response().status == 200
    held = [worker_holding(client.sock, served) for client in clients]
    assert min(held.count(0), held.count(1)) >= 5  # not all on the worker that happened to be running


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="placing workers on cores needs two")
def test_each_worker_serves_on_a_core_of_its_own_and_a_restarted_one_takes_the_same(
        served: Served, origin: Origin) -> None:
    def single_cores(pid: int) -> set[int]:
        """The cores that threads of `pid` confined to one core are on (the serving threads')."""
        cores = set()
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(ProcessLookupError):  # a thread that ended meanwhile
                mask = os.sched_getaffinity(int(task.name))
                if len(mask) == 1:
                    cores |= mask
        return cores

    allowed = sorted(os.sched_getaffinity(0))
    for _ in range(4):
        assert served.get(f"{origin.base}/size/1") == 200
    workers = served.status()["workers"]
    assert [single_cores(w["pid"]) for w in workers] == [{allowed[-1]}, {allowed[-2]}]
    assert single_cores(served.process.proc.pid) == set()  # the supervisor (page, log writers) runs anywhere

    os.kill(workers[1]["pid"], signal.SIGKILL)  # started again by exec, not fork
    wait_until(lambda: served.status()["restarts"] == 1 and all(w["serving"] for w in served.status()["workers"]))
    assert single_cores(served.status()["workers"][1]["pid"]) == {allowed[-2]}
