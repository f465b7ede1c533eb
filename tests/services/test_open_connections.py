"""Open tunnels and keep-alive connections are re-decided and closed when the answer
changes (issue 14 item 11), and a tunnel's bytes count towards a daily limit."""

from __future__ import annotations

import socket
import time
from datetime import datetime
from pathlib import Path

import pytest

from guardian.config import parse_config
from guardian.policy import PauseStore, Policy, PolicyHolder
from guardian.policy.limits import TUNNEL_MINUTE_BYTES, UsageMeter
from tests.services.conftest import LONDON

BASE = """
timezone = "Europe/London"
data_dir = "{data_dir}"
[[profiles]]
name = "kids"
{extra}
[[devices]]
name = "Sam's tablet"
match = ["127.0.0.1"]
profile = "kids"
"""
T0 = datetime(2026, 11, 30, 15, 0, 10, tzinfo=LONDON).timestamp()


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def to_loopback(host: str, port: int) -> list[tuple[int, tuple]]:
    """Every name is this machine: the services' real names reach the test's servers."""
    return [(socket.AF_INET, ("127.0.0.1", port))]


def open_tunnel(proxy_port: int, host: str, port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", proxy_port), timeout=5)
    sock.sendall(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        assert chunk, head
        head += chunk
    assert head.startswith(b"HTTP/1.1 200"), head
    return sock


def echo(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(payload)
    got = b""
    while len(got) < len(payload):
        chunk = sock.recv(65536)
        assert chunk, "the tunnel closed"
        got += chunk
    assert got == payload


def wait_closed(sock: socket.socket, within: float) -> float:
    """Seconds until the proxy closes `sock` (reading gives EOF or a reset)."""
    start = time.monotonic()
    sock.settimeout(within)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    except TimeoutError:
        pytest.fail(f"still open after {within} s")
    return time.monotonic() - start


def make_policy(tmp_path: Path, extra: str, clock=time.time, meter: UsageMeter | None = None,
                pauses: PauseStore | None = None) -> Policy:
    config = parse_config(BASE.format(data_dir=tmp_path, extra=extra))
    return Policy(config, {}, usage=meter, clock=clock, pauses=pauses)


@pytest.fixture
def proxy_for(make_proxy):
    def start(holder: PolicyHolder):
        proxy = make_proxy(decider=holder, connect_ports=("1-65535",))
        proxy.ctx.resolver = to_loopback
        proxy.ctx.connections.interval = 0.5
        return proxy
    return start


def test_a_tunnel_open_across_a_rule_change_is_closed(tmp_path: Path, proxy_for, echo_server) -> None:
    holder = PolicyHolder(make_policy(tmp_path, ""))
    proxy = proxy_for(holder)
    tiktok = open_tunnel(proxy.port, "www.tiktok.com", echo_server.port)
    wiki = open_tunnel(proxy.port, "en.wikipedia.org", echo_server.port)
    echo(tiktok, b"video")
    time.sleep(1.2)  # a few re-decisions: nothing changed, nothing is closed
    echo(tiktok, b"still playing")

    holder.swap(make_policy(tmp_path, '[profiles.services]\nblock = ["tiktok"]\n'))
    # Without a wake-up, within the watcher's interval; the service wakes it on every rebuild.
    assert wait_closed(tiktok, within=5) < 3
    echo(wiki, b"unaffected")
    records = proxy.recorder.wait_for(1)
    closed = [r for r in records if r.host == "www.tiktok.com"]
    assert closed and closed[0].reason == "Closed: the rules now block it"
    # A new tunnel gets the block.
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
    sock.sendall(f"CONNECT www.tiktok.com:{echo_server.port} HTTP/1.1\r\n\r\n".encode())
    assert sock.recv(4096).startswith(b"HTTP/1.1 403")
    for s in (sock, wiki):
        s.close()


def test_a_keep_alive_connection_is_closed_when_its_site_becomes_blocked(tmp_path: Path, proxy_for,
                                                                         origin) -> None:
    holder = PolicyHolder(make_policy(tmp_path, ""))
    proxy = proxy_for(holder)
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
    port = origin.base.rsplit(":", 1)[1]
    sock.sendall(f"GET http://www.roblox.com:{port}/hello HTTP/1.1\r\nHost: www.roblox.com\r\n\r\n".encode())
    assert sock.recv(65536).startswith(b"HTTP/1.1 200")
    holder.swap(make_policy(tmp_path, '[profiles.services]\nblock = ["games"]\n'))
    proxy.ctx.connections.wake()
    assert wait_closed(sock, within=5) < 2


def test_the_end_of_a_pause_closes_what_it_let_through(tmp_path: Path, proxy_for, echo_server) -> None:
    clock = Clock(T0)
    pauses = PauseStore.for_data_dir(tmp_path)
    holder = PolicyHolder(make_policy(tmp_path, '[profiles.services]\nblock = ["roblox"]\n', clock,
                                      pauses=pauses))
    proxy = proxy_for(holder)
    pauses.add_pause("device", "Sam's tablet", 10, now=time.time())
    clock.now = time.time()
    tunnel = open_tunnel(proxy.port, "www.roblox.com", echo_server.port)
    echo(tunnel, b"playing in the pause")
    time.sleep(1.0)
    echo(tunnel, b"still in the pause")
    clock.now = time.time() + 11 * 60  # the pause is over
    assert wait_closed(tunnel, within=5) < 3


def test_a_tunnel_open_when_the_limit_runs_out_is_closed(tmp_path: Path, proxy_for, echo_server) -> None:
    clock = Clock(T0)
    meter = UsageMeter(LONDON, clock=clock)
    # googlevideo.com serves YouTube Kids too: a limit must cover both to stop it.
    limit = '[[profiles.limits]]\nname = "YouTube"\nservices = ["youtube", "youtube-kids"]\nminutes = 2\n'
    holder = PolicyHolder(make_policy(tmp_path, limit, clock, meter))
    proxy = proxy_for(holder)
    proxy.ctx.connections.clock = clock
    video = open_tunnel(proxy.port, "rr3---sn-abc.googlevideo.com", echo_server.port)
    assert meter.used("2026-11-30", "device:Sam's tablet", "YouTube") == 1  # the CONNECT's minute
    clock.now = T0 + 60  # the second minute: the stream keeps moving bytes
    echo(video, b"v" * (TUNNEL_MINUTE_BYTES + 1000))
    proxy.ctx.connections.sample()
    assert meter.used("2026-11-30", "device:Sam's tablet", "YouTube") == 2
    time.sleep(1.2)
    echo(video, b"the last minute is used to its end")
    clock.now = T0 + 120  # the hour (two minutes here) is used up
    assert wait_closed(video, within=5) < 3
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
    sock.sendall(f"CONNECT www.youtube.com:{echo_server.port} HTTP/1.1\r\n\r\n".encode())
    answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 403")
    assert b"X-Guardian-Block: YouTube: today's 2 minutes are used up." in answer
    sock.close()
    assert meter.used("2026-11-30", "device:Sam's tablet", "YouTube") == 2


@pytest.mark.parametrize(("per_minute", "counts"), [(TUNNEL_MINUTE_BYTES - 4096, False),
                                                    (TUNNEL_MINUTE_BYTES + 4096, True)])
def test_tunnel_bytes_count_a_minute_only_above_the_threshold(tmp_path: Path, proxy_for, echo_server,
                                                              per_minute: int, counts: bool) -> None:
    clock = Clock(T0)
    meter = UsageMeter(LONDON, clock=clock)
    limit = '[[profiles.limits]]\nname = "Games"\nservices = ["games"]\nminutes = 60\n'
    holder = PolicyHolder(make_policy(tmp_path, limit, clock, meter))
    proxy = proxy_for(holder)
    proxy.ctx.connections.clock = clock
    proxy.ctx.connections.interval = 3600  # only the test samples
    game = open_tunnel(proxy.port, "gamepersistence.roblox.com", echo_server.port)
    who = ("2026-11-30", "device:Sam's tablet", "Games")
    assert meter.used(*who) == 1
    for minute in range(1, 6):
        clock.now = T0 + 60 * minute
        # Both directions count: half up, the echo brings the other half back.
        for _ in range(4):
            echo(game, b"k" * (per_minute // 8))
            time.sleep(0.02)  # the relay thread adds to its counter just after the client got the bytes
            proxy.ctx.connections.sample()
    assert meter.used(*who) == (6 if counts else 1)
    game.close()


def test_idle_keep_alive_and_rare_polls_do_not_burn_the_hour(tmp_path: Path, proxy_for, echo_server) -> None:
    clock = Clock(T0)
    meter = UsageMeter(LONDON, clock=clock)
    holder = PolicyHolder(make_policy(tmp_path, '[[profiles.limits]]\nservices = ["discord"]\nminutes = 60\n',
                                      clock, meter))
    proxy = proxy_for(holder)
    proxy.ctx.connections.clock = clock
    chat = open_tunnel(proxy.port, "gateway.discord.gg", echo_server.port)
    for minute in range(1, 31):  # half an hour of a heartbeat every minute
        clock.now = T0 + 60 * minute
        echo(chat, b'{"op":1,"d":251}')
        proxy.ctx.connections.sample()
    assert meter.used("2026-11-30", "device:Sam's tablet", "discord") == 1
    chat.close()
