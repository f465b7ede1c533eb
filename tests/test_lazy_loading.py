"""What `guardian serve` loads at start and what it loads when first needed (docs/architecture.md,
"What is loaded when"): the settings page on its first visitor, with real HTTP against a real
`guardian serve`; a page that cannot load answers with a clear page instead of a hang."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
import requests

from tests.support.serve import GuardianProcess, free_port
from tests.test_serve import write_config

# Packages a household's proxy does not need every minute: none may be imported by starting.
LOADED_LATER = ("flask", "werkzeug", "jinja2", "waitress", "cryptography", "tldextract", "requests")


def _web_port(config) -> int:
    return int(re.search(r'\[web\]\nlisten = "127\.0\.0\.1:(\d+)"', config.read_text()).group(1))


def test_starting_the_service_imports_no_settings_page_code():
    done = subprocess.run([sys.executable, "-c", "import json, sys, guardian.service, guardian.cli; "
                           f"print(json.dumps([m for m in {LOADED_LATER!r} if m in sys.modules]))"],
                          capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(done.stdout) == []


def test_a_proxy_worker_imports_neither_the_settings_page_nor_the_scheduler():
    supervisor_only = (*LOADED_LATER, "apscheduler", "importlib.metadata", "guardian.service", "guardian.web.app")
    done = subprocess.run([sys.executable, "-c", "import json, sys, guardian.workers.worker; "
                           f"print(json.dumps([m for m in {supervisor_only!r} if m in sys.modules]))"],
                          capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(done.stdout) == []


def test_the_settings_page_serves_the_certificate_without_the_certificate_code():
    done = subprocess.run([sys.executable, "-c", "import json, sys, guardian.web.app; "
                           "print(json.dumps('cryptography' in sys.modules))"],
                          capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(done.stdout) is False


def test_the_settings_page_loads_on_its_first_request_and_takes_the_code_from_the_start_log(tmp_path):
    port = free_port()
    config = tmp_path / "guardian.toml"
    write_config(config, port, tmp_path / "data")
    process = GuardianProcess(config, tmp_path, port)
    try:
        code = re.search(r"set-up code (\S+) ", process.log()).group(1)
        assert "settings page loaded" not in process.log()
        base = f"http://127.0.0.1:{_web_port(config)}"
        with requests.Session() as browser:
            page = browser.get(f"{base}/setup", timeout=30)
            assert page.status_code == 200 and "Set the password" in page.text
            assert "settings page loaded for its first visitor" in process.log()
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
            done = browser.post(f"{base}/setup", data={"csrf_token": token, "code": code.upper(),
                                                       "password": "a long enough password",
                                                       "confirm": "a long enough password"},
                                allow_redirects=False, timeout=30)
            assert done.status_code == 303, done.text
        assert (tmp_path / "data" / "admin.json").exists()
    finally:
        process.stop()


FAILING_START = """
import sys
sys.modules["flask"] = None  # what a damaged installation looks like: `import flask` fails
from guardian.cli import main
sys.argv = ["guardian", "serve", "--config", sys.argv[1]]
main()
"""


def test_a_settings_page_that_cannot_load_answers_with_why_and_the_proxy_keeps_working(tmp_path, origin):
    port = free_port()
    config = tmp_path / "guardian.toml"
    write_config(config, port, tmp_path / "data")
    log_path = tmp_path / "serve.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-c", FAILING_START, str(config)], stdout=log,
                                stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while "proxy listening" not in log_path.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.05)
        for _ in range(2):  # the first visitor and every one after
            started = time.monotonic()
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{_web_port(config)}/", timeout=10)
                raise AssertionError("the page answered although Flask cannot be imported")
            except urllib.error.HTTPError as answer:
                assert answer.code == 503
                text = answer.read().decode()
            assert time.monotonic() - started < 5
            assert "The settings page could not start" in text and "flask" in text  # the reason, for whoever helps
            assert "still filtering" in text
        assert "the settings page could not be loaded" in log_path.read_text()
        # Connections that say nothing, or a byte at a time, hold up no one else.
        web = ("127.0.0.1", _web_port(config))
        silent = [socket.create_connection(web) for _ in range(6)]
        dribbling = socket.create_connection(web)
        dribbling.sendall(b"G")
        started = time.monotonic()
        try:
            with pytest.raises(urllib.error.HTTPError) as answer:
                urllib.request.urlopen(f"http://{web[0]}:{web[1]}/", timeout=10)
            assert answer.value.code == 503 and time.monotonic() - started < 1.5
            for _ in range(3):  # each byte would restart a timeout per read; the last one is well before 2 s
                time.sleep(0.4)
                dribbling.sendall(b"E")
            dribbling.settimeout(5)
            assert dribbling.recv(100).startswith(b"HTTP/1.1 503 ")  # answered at 2 s, head or no head
            assert time.monotonic() - started < 3
        finally:
            for sock in (*silent, dribbling):
                sock.close()
        proxy = urllib.request.build_opener(urllib.request.ProxyHandler({"http": f"http://127.0.0.1:{port}"}))
        with proxy.open(f"{origin.base}/still-filtering", timeout=10) as answer:
            assert answer.status == 200
    finally:
        proc.terminate()
        proc.wait(20)
