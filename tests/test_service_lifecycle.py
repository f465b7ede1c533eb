"""`guardian serve`'s own life: a start that fails part-way leaves nothing behind, and
memory stays flat across many reloads."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from guardian.service import Guardian, Overrides
from tests.support.serve import free_port


def _config(tmp_path: Path, proxy_port: int, web_port: int, extra: str = "") -> Path:
    path = tmp_path / "guardian.toml"
    path.write_text(f'''data_dir = "{tmp_path / 'data'}"
timezone = "Europe/London"
[proxy]
listen = "127.0.0.1:{proxy_port}"
access_log = true
[web]
listen = "127.0.0.1:{web_port}"
{extra}''')
    return path


def test_a_start_that_fails_part_way_leaves_no_listener_or_threads(tmp_path):
    proxy_port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        web_port = taken.getsockname()[1]
        before = set(threading.enumerate())
        with pytest.raises(OSError):
            Guardian(str(_config(tmp_path, proxy_port, web_port)), Overrides())
    left = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert left == []
    # the proxy's port was bound and is free again
    with socket.socket() as again:
        again.bind(("127.0.0.1", proxy_port))


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


class _InFlight:
    """What a request being served during a rebuild holds: objects in a reference cycle
    (an exception and its frame, a connection and its reader), with a buffer."""

    def __init__(self) -> None:
        self.me = self
        self.buffer = bytearray(256 * 1024)


def test_memory_stays_flat_across_a_hundred_reloads(tmp_path):
    import gc
    import weakref

    lists = tmp_path / "list.txt"
    lists.write_text("".join(f"||ads{i}.example^\n/banner{i}/*\n" for i in range(2000)))
    extra = f'''[[lists]]
id = "house"
name = "House"
url = "{lists}"
format = "abp"
'''
    path = _config(tmp_path, free_port(), free_port(), extra)
    guardian = Guardian(str(path), Overrides())
    try:
        def reload(n: int) -> weakref.ref:
            # each reload changes the profile's rules and lists, so a new policy is built,
            # while a request is in flight; the request ends right after
            in_flight = _InFlight()
            path.write_text(path.read_text().split("[[profiles]]")[0] +
                            f'[[profiles]]\nname = "default"\nlists = {["house"] if n % 2 else []}\n'
                            f'block = ["site{n}.example", "/path{n}/*"]\n')
            assert guardian.reload()
            return weakref.ref(in_flight)

        for n in range(10):  # warm up: caches, the suffix list, the allocator's arenas
            reload(n)
        frozen, rss = gc.get_freeze_count(), _rss_kib()
        ended = [reload(n) for n in range(10, 110)]
        reload(110)
        grown_frozen, grown_rss = gc.get_freeze_count() - frozen, _rss_kib() - rss
    finally:
        guardian.stop()
    assert sum(ref() is not None for ref in ended) == 0, "requests that ended were never collected"
    assert grown_frozen < 2000, f"{grown_frozen} more objects kept frozen after 100 reloads"
    assert grown_rss < 8 * 1024, f"resident memory grew by {grown_rss} KiB over 100 reloads"


RACE_CONFIG = '''data_dir = "{data}"
timezone = "Europe/London"
[proxy]
listen = "127.0.0.1:{port}"
[web]
listen = "127.0.0.1:{web}"
[refresh]
memory_budget_mb = 1024  # the big list is there to make the reload's build slow, not to be refused
[[lists]]
id = "small"
name = "Small"
url = "{small}"
format = "abp"
[[lists]]
id = "big"
name = "Big"
url = "{big}"
format = "abp"
[[profiles]]
name = "default"
https_block_page = false
lists = {lists}
'''


def _blocked(port: int, host: str) -> bool:
    from tests.support.client import RawClient

    c = RawClient(port)
    c.send(f"CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n\r\n".encode())
    return c.read_response().status == 403


def test_a_reload_racing_a_list_refresh_keeps_the_refresh(tmp_path):
    """The reload adds a big list (a slow build); a refresh of the small list lands while
    it builds. The policy left in force must have both: the new configuration and the
    refreshed list."""
    import signal
    import subprocess
    import sys
    import time

    from tests.support.serve import GuardianProcess

    small, big = tmp_path / "small.txt", tmp_path / "big.txt"
    small.write_text("||old.example^\n")
    big.write_text("".join(f"||h{i}.example^\n/p{i}/x*\n" for i in range(120_000)))
    port, web = free_port(), free_port()
    config = tmp_path / "guardian.toml"
    fields = {"data": tmp_path / "data", "port": port, "web": web, "small": small, "big": big}
    config.write_text(RACE_CONFIG.format(**fields, lists='["small"]'))
    process = GuardianProcess(config, tmp_path, port)
    try:
        assert _blocked(port, "old.example") and not _blocked(port, "new.example")
        config.write_text(RACE_CONFIG.format(**fields, lists='["small", "big"]'))
        process.signal(signal.SIGHUP)
        time.sleep(0.3)  # the reload is building the big list's engine now
        small.write_text("||old.example^\n||new.example^\n")
        update = subprocess.run([sys.executable, "-m", "guardian.cli", "lists", "update", "small",
                                 "--config", str(config)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert update.returncode == 0, update.stderr
        deadline = time.monotonic() + 60
        while "configuration reloaded" not in process.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        assert _blocked(port, "new.example"), "the refreshed list was lost to the reload"
        assert _blocked(port, "h7.example"), process.log()[-3000:]  # and the reload's new list is in force
    finally:
        assert process.stop() == 0


def test_a_settings_page_edit_builds_one_policy(tmp_path):
    """The edit applies itself; the file watcher then notices the same file changed and
    reloads it: that second reload must not build the policy again."""
    from tests.support.household import start_guardian

    guardian = start_guardian(tmp_path, '[[profiles]]\nname = "default"\nblock = ["one.example"]\n')
    try:
        before = guardian.policy.policy

        def add_rule(doc):
            doc["profiles"][0]["block"].append("two.example")

        guardian.apply_config_edit(add_rule)
        edited = guardian.policy.policy
        assert edited is not before and "two.example" in guardian.config.profile("default").block
        guardian.reload()  # what the watcher does on seeing the file's new mtime
        assert guardian.policy.policy is edited
    finally:
        guardian.stop()


def test_an_allowance_from_the_command_line_reaches_the_running_proxy(tmp_path):
    """Requests read the pauses in memory; the scheduler picks up the file the command
    line wrote within a couple of seconds."""
    import time

    from tests.support.household import start_guardian
    from tests.test_serve import run_cli

    guardian = start_guardian(tmp_path, '[[profiles]]\nname = "default"\nhttps_block_page = false\n'
                                        'block = ["x.example"]\n')
    try:
        port = guardian.proxy.address[1]
        assert _blocked(port, "x.example")
        out = run_cli("allow", "--profile", "default", "--host", "x.example", "--minutes", "5",
                      "--config", str(tmp_path / "guardian.toml"), cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        deadline = time.monotonic() + 5
        while _blocked(port, "x.example"):
            assert time.monotonic() < deadline, "the allowance never reached the proxy"
            time.sleep(0.2)
    finally:
        guardian.stop()
