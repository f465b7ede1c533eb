"""`guardian serve` on a port another program holds: the address and, when it can be seen, the
program (issue 17 item 16); the unprivileged service's hidden view said as such; install.sh's
check of the same ports uses the same code."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.serve import free_port
from tests.test_serve import write_config

REPO = Path(__file__).resolve().parent.parent
# A listener owned by another user (nobody), with the system's Python: it cannot read the checkout.
HOLD = "import socket, sys, time; s = socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(); " \
       "print('listening', flush=True); time.sleep(120)"


def serve(config: Path, prefix: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*(prefix or []), sys.executable, "-m", "guardian.cli", "serve", "--config", str(config)],
                          capture_output=True, text=True, timeout=60, check=False, cwd=REPO)


def config_on(tmp_path: Path, port: int) -> Path:
    config = tmp_path / "guardian.toml"
    write_config(config, port, tmp_path / "data")  # the proxy on the taken port
    return config


def test_a_port_this_user_holds_names_the_program(tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        done = serve(config_on(tmp_path, port))
    finally:
        taken.close()
    assert done.returncode == 1
    name = Path("/proc/self/comm").read_text().strip()
    user = pwd.getpwuid(os.getuid()).pw_name
    assert (f"guardian: cannot start: the proxy cannot listen on 127.0.0.1:{port}: Address already in use "
            f"(port {port} is held by {name} (pid {os.getpid()}, user {user}))") in done.stderr, done.stderr
    assert "[Errno" not in done.stderr


@pytest.fixture
def held_by_nobody():
    if os.geteuid() != 0 or shutil.which("runuser") is None:
        pytest.skip("needs root to run a listener as another user")
    port = free_port()
    holder = subprocess.Popen(["runuser", "-u", "nobody", "--", "/usr/bin/python3", "-c", HOLD, str(port)],
                              stdout=subprocess.PIPE, text=True, cwd="/")
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "listening"
        yield port, holder
    finally:
        holder.kill()
        holder.wait()


def listener_pid(runuser: int) -> int:
    """runuser stays as the parent of the program it runs (or is replaced by it)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            status = (proc / "status").read_text()
        except OSError:
            continue
        parent = int(status.split("PPid:", 1)[1].split()[0])
        if (proc / "comm").read_text().strip() == "python3" and runuser in (parent, int(proc.name)):
            return int(proc.name)
    raise AssertionError("the listener is not running")


def test_another_users_program_is_named_by_root(tmp_path, held_by_nobody):
    port, holder = held_by_nobody
    done = serve(config_on(tmp_path, port))
    assert done.returncode == 1
    pid = listener_pid(holder.pid)
    assert f"(port {port} is held by python3 (pid {pid}, user nobody))" in done.stderr, done.stderr
    # install.sh's check says the same, and leaves Guardian's own user out
    out = subprocess.run([sys.executable, "-m", "guardian.port_holders", str(port)], capture_output=True,
                         text=True, check=True, cwd=REPO).stdout
    assert out == f"python3 (pid {pid}, user nobody)\n"
    out = subprocess.run([sys.executable, "-m", "guardian.port_holders", str(port), "--except-user", "nobody"],
                         capture_output=True, text=True, check=True, cwd=REPO).stdout
    assert out == ""


def test_the_services_hidden_view_says_so_and_how_to_find_out(tmp_path, held_by_nobody):
    """As under the unit's PrivateUsers: a user namespace where only root is mapped, so the
    program and its real user are invisible."""
    port, _ = held_by_nobody
    if subprocess.run(["unshare", "-U", "-r", "true"], capture_output=True, check=False).returncode != 0:
        pytest.skip("user namespaces are not available")
    started = time.monotonic()
    done = serve(config_on(tmp_path, port), ["unshare", "-U", "-r"])
    assert done.returncode == 1
    assert (f"(port {port} is held by another program; Guardian's user may not see other users' programs: "
            f"`sudo ss -ltnp 'sport = :{port}'` names it)") in done.stderr, done.stderr
    assert "nobody" not in done.stderr  # "nobody" here only means "not mapped": never claimed
    assert time.monotonic() - started < 30
