"""What `make run` and a running service print (issue 17, items 18 to 20): only what a new user
needs, each configuration message once, and nothing left in the checkout that git would show."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from guardian.lists.store import ListMeta, ListStore
from tests.support.build import install_inputs
from tests.support.serve import GuardianProcess, free_port

REPO = Path(__file__).resolve().parents[2]
VENV = Path(sys.executable).parents[1]


def _wait_for(read, text: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while text not in (seen := read()):
        assert time.monotonic() < deadline, f"{text!r} never came:\n{seen}"
        time.sleep(0.1)
    return seen


# ---------------------------------------------------------------- make run


@pytest.mark.skipif(not (VENV / ".installed").is_file() or shutil.which("make") is None,
                    reason="needs the checkout's venv as `make` made it")
def test_make_run_says_where_it_listens_and_the_set_up_code_and_nothing_else(tmp_path):
    if (VENV / ".installed").stat().st_mtime < max(path.stat().st_mtime for path in install_inputs()):
        pytest.skip("the venv is older than what it is built from: `make` would install first")
    port, web_port = free_port(), free_port()
    out = tmp_path / "make-run.out"
    with out.open("w") as sink:
        make = subprocess.Popen(
            ["make", "--no-print-directory", "-C", str(REPO), "run", f"VENV={VENV}",
             f"ARGS=--listen 127.0.0.1:{port} --web-listen 127.0.0.1:{web_port} --data-dir {tmp_path / 'data'}"],
            stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
            env={k: v for k, v in os.environ.items() if k != "GUARDIAN_CONFIG"})
        try:
            _wait_for(out.read_text, "settings page on")
            time.sleep(1.0)  # anything said just after starting would be here by now
        finally:
            os.killpg(make.pid, signal.SIGTERM)  # make and the service: as Ctrl-C in the terminal would
            try:
                make.wait(90)  # the service finishes requests in flight and stops its workers first
            except subprocess.TimeoutExpired:
                os.killpg(make.pid, signal.SIGKILL)
                make.wait()
                raise
    lines = out.read_text().splitlines()
    assert len(lines) == 3, lines
    assert any(f"Open http://127.0.0.1:{web_port}/setup and enter the one-time set-up code" in line
               for line in lines)
    assert any(f"proxy listening on 127.0.0.1:{port}" in line for line in lines)
    assert any(f"settings page on http://127.0.0.1:{web_port}/" in line for line in lines)


@pytest.mark.timeout(900)
@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_the_editable_install_shows_no_setuptools_notice(tmp_path):
    venv = tmp_path / "venv"
    done = subprocess.run(["make", "--no-print-directory", "-C", str(REPO), f"{venv}/.installed", f"VENV={venv}"],
                          capture_output=True, text=True, timeout=880, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    said = done.stdout + done.stderr
    assert "Editable installation" not in said and "be careful with folders" not in said
    assert "!!" not in said and "****" not in said
    assert (venv / "bin" / "guardian").is_file()  # it did install


def test_what_make_run_creates_is_ignored_by_git():
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    made = ["guardian.toml", "guardian.toml.last-good", ".guardian.toml.x1y2.tmp", ".guardian-data/guardian.db",
            ".venv/bin/guardian", "guardian.egg-info/PKG-INFO"]
    done = subprocess.run(["git", "-C", str(REPO), "check-ignore", "--no-index", *made],
                          capture_output=True, text=True, check=False)
    assert sorted(done.stdout.split()) == sorted(made)
    # ... but only at the top: a guardian.toml elsewhere (a test's, an example) is still seen.
    assert subprocess.run(["git", "-C", str(REPO), "check-ignore", "--no-index", "docs/guardian.toml"],
                          capture_output=True, check=False).returncode == 1


# ---------------------------------------------------------------- the service's log


CONFIG = """\
data_dir = "{data}"
[proxy]
listen = "127.0.0.1:{port}"
[web]
listen = "127.0.0.1:{web_port}"
[[lists]]
id = "fresh"
url = "http://127.0.0.1:{dead}/fresh.txt"
[[lists]]
id = "stale"
url = "http://127.0.0.1:{dead}/stale.txt"
[[profiles]]
name = "default"
lists = ["fresh", "stale"]
[[profiles]]
name = "Kids"
lists = ["fresh", "stale"]
"""


def test_list_messages_come_once_and_only_when_true(tmp_path):
    port = free_port()
    config = tmp_path / "guardian.toml"
    text = CONFIG.format(data=tmp_path / "data", port=port, web_port=free_port(), dead=free_port())
    config.write_text(text)
    # "stale" was fetched two days ago and missed last night's refresh; "fresh" was never fetched.
    store = ListStore.for_data_dir(tmp_path / "data")
    store.root.mkdir(parents=True)
    two_days_ago = datetime.now(UTC) - timedelta(days=2)
    store.save_copy(ListMeta("stale", "http://127.0.0.1/stale.txt", status="ok", fetched_at=two_days_ago,
                             checked_at=two_days_ago, confirmed_at=two_days_ago), b"||stale.example^\n")
    service = GuardianProcess(config, tmp_path, port)
    try:
        for edit in range(2):  # two edits, each a reload and a rebuild
            text += f'[[profiles]]\nname = "Guest {edit}"\nlists = ["fresh"]\n'
            config.write_text(text)
            deadline = time.monotonic() + 30
            while service.log().count(f"configuration reloaded from {config}") <= edit:
                assert time.monotonic() < deadline, service.log()
                time.sleep(0.1)
        log = service.log()
    finally:
        service.stop()
    assert log.count("'fresh'") == 1 and "list 'fresh' is not downloaded yet; it applies once it is" in log
    assert "has no stored copy" not in log  # nothing is wrong with a list on its first download
    assert log.count("missed the daily refresh") == 1
    assert "lists stale missed the daily refresh; catching up in 120 s" in log
