"""The browsing history is private whatever the umask, and killed writes leave nothing behind."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from guardian.accesslog import AccessLog
from guardian.fsutil import remove_stale_temp_files
from guardian.logstore import LogStore
from tests.support.client import RawClient
from tests.support.serve import GuardianProcess, free_port


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The loosest umask there is: every file would be world-readable and writable."""
    old = os.umask(0)
    yield
    os.umask(old)


def test_log_files_are_private_even_with_an_open_umask(tmp_path, open_umask):
    data = tmp_path / "data"
    access_log = AccessLog(data / "logs" / "access.log")
    store = LogStore(data / "guardian.db", flush_interval=0.01)
    store.close()
    access_log.close()
    assert mode(data) == 0o700
    assert mode(data / "logs") == 0o700
    assert mode(data / "logs" / "access.log") == 0o600
    for name in ("guardian.db", "guardian.db-wal", "guardian.db-shm"):
        if (data / name).exists():
            assert mode(data / name) == 0o600, name


def test_an_existing_world_readable_log_is_made_private(tmp_path):
    (tmp_path / "logs").mkdir(mode=0o755)
    for path in (tmp_path / "logs" / "access.log", tmp_path / "guardian.db"):
        path.touch()
        path.chmod(0o644)
    AccessLog(tmp_path / "logs" / "access.log").close()
    LogStore(tmp_path / "guardian.db").close()
    assert (mode(tmp_path / "logs"), mode(tmp_path / "logs" / "access.log"), mode(tmp_path / "guardian.db")) == (
        0o700, 0o600, 0o600)


def test_only_stale_temp_files_are_removed(tmp_path):
    stale = tmp_path / "lists" / ".easylist.txt.k2j3h4.tmp"
    stale.parent.mkdir()
    fresh = tmp_path / ".pauses.json.a8f7d6.tmp"
    kept = tmp_path / "notes.tmp"
    for path in (stale, fresh, kept):
        path.write_text("half a file")
    os.utime(stale, (time.time() - 60, time.time() - 60))
    assert remove_stale_temp_files(tmp_path) == [stale]
    assert fresh.exists() and kept.exists()


def test_serve_makes_the_data_private_and_clears_leftovers(tmp_path, open_umask, origin):
    port = free_port()
    config = tmp_path / "guardian.toml"
    data = tmp_path / "data"
    config.write_text(f'''data_dir = "{data}"
[proxy]
listen = "127.0.0.1:{port}"
deny_destinations = []
deny_own_addresses = false
[web]
listen = "127.0.0.1:{free_port()}"
''')
    data.mkdir(mode=0o755)
    old = time.time() - 3600
    leftovers = [tmp_path / ".guardian.toml.x1y2z3.tmp", data / ".devices_seen.json.q9w8e7.tmp"]
    for path in leftovers:
        path.write_text("interrupted")
        os.utime(path, (old, old))
    unrelated = tmp_path / ".other-program.abc.tmp"
    unrelated.write_text("not ours")
    os.utime(unrelated, (old, old))

    served = GuardianProcess(config, tmp_path, port)
    try:
        client = RawClient(port)
        client.send(f"GET {origin.base}/hello HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert client.read_response().status == 200
        deadline = time.monotonic() + 10
        while not (data / "logs" / "access.log").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert mode(data) == 0o700
        assert mode(data / "guardian.db") == 0o600
        assert mode(data / "logs" / "access.log") == 0o600
        assert not any(path.exists() for path in leftovers)
        assert unrelated.exists(), "only Guardian's own leftovers are removed beside the configuration"
    finally:
        served.stop()
