"""Signals reach `guardian serve` in bursts: make passes Ctrl-C's SIGTERM on beside the
terminal's own, logrotate and an edit both send SIGHUP. However they come, the service acts
on each and stops when told (guardian/signals.py says why a handler may do nothing itself)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.client import RawClient
from tests.support.serve import GuardianProcess, free_port

BURST = 100


def _config(tmp_path: Path, port: int, workers: int) -> Path:
    path = tmp_path / "guardian.toml"
    path.write_text(f'''data_dir = "{tmp_path / 'data'}"
[proxy]
listen = "127.0.0.1:{port}"
workers = {workers}
access_log = true
[web]
listen = "127.0.0.1:{free_port()}"
''')
    return path


def _burst(pid: int, *signums: int) -> None:
    for _ in range(BURST):
        for signum in signums:
            os.kill(pid, signum)


def _answers(port: int) -> int:
    client = RawClient(port)
    try:
        client.send(b"GET http://nothing.invalid/ HTTP/1.1\r\nHost: nothing.invalid\r\nConnection: close\r\n\r\n")
        return client.read_response().status
    finally:
        client.sock.close()


@pytest.mark.parametrize("workers", [1, 2])
def test_bursts_of_signals_are_each_acted_on_and_a_burst_of_sigterm_stops_the_service(tmp_path, workers):
    port = free_port()
    process = GuardianProcess(_config(tmp_path, port, workers), tmp_path, port)
    pid = process.proc.pid
    try:
        _burst(pid, signal.SIGUSR1, signal.SIGHUP)
        deadline = time.monotonic() + 30
        while "configuration reloaded" not in process.log():
            assert time.monotonic() < deadline, process.log()[-3000:]
            time.sleep(0.05)
        assert _answers(port) == 502  # still serving: nothing.invalid has no address
        # On and on while it stops: a handler that took a lock would meet itself here.
        until = time.monotonic() + 3
        while process.proc.poll() is None and time.monotonic() < until:
            _burst(pid, signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1)
        assert process.proc.wait(30) == 0, process.log()[-3000:]
    except subprocess.TimeoutExpired:
        pytest.fail("guardian serve did not stop within 30 s of SIGTERM:\n" + process.log()[-3000:])
    finally:
        process.stop()
    assert "stopping: finishing requests in flight" in process.log()
    assert "Traceback" not in process.log()
