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
