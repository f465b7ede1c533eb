"""The settings page's one-time set-up code as a parent finds it, and a start that cannot bind."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from guardian.web.credentials import Credentials
from tests.support.serve import GuardianProcess, free_port
from tests.test_serve import write_config


def _guardian(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "guardian.cli", *args], capture_output=True, text=True, timeout=60,
                          check=False)


def test_every_start_logs_a_new_code_and_setup_code_prints_the_working_one(tmp_path):
    config = tmp_path / "guardian.toml"
    codes = []
    for _ in range(2):
        port = free_port()
        write_config(config, port, tmp_path / "data")
        process = GuardianProcess(config, tmp_path, port)
        try:
            done = _guardian("setup-code", "--config", str(config))
            assert done.returncode == 0, done.stderr
            codes.append(done.stdout.strip())
            assert f"set-up code {codes[-1]} " in process.log()
        finally:
            process.stop()
    assert codes[0] != codes[1]
    assert (tmp_path / "data/setup-code").stat().st_mode & 0o777 == 0o600
    Credentials(tmp_path / "data").set_password("a long enough password")
    done = _guardian("setup-code", "--config", str(config))
    assert done.returncode == 1 and "already has a password" in done.stderr
    assert not (tmp_path / "data/setup-code").exists()


def test_a_port_in_use_is_named_and_no_code_is_logged(tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    config = tmp_path / "guardian.toml"
    write_config(config, free_port(), tmp_path / "data")
    config.write_text(config.read_text().rsplit("listen", 1)[0] + f'listen = "127.0.0.1:{port}"\n')
    try:
        done = _guardian("serve", "--config", str(config))
    finally:
        taken.close()
    assert done.returncode == 1
    assert f"cannot start: the settings page cannot listen on 127.0.0.1:{port}: Address already in use" in done.stderr
    assert f"(pid {os.getpid()}, " in done.stderr  # this test holds it (tests/test_port_holders.py: the rest)
    assert "set-up code" not in done.stdout + done.stderr
    assert not (tmp_path / "data/setup-code").exists()
