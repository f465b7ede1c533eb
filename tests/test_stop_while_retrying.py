"""`guardian serve` stops within systemd's TimeoutStopSec even while a list download is
waiting to try again (no internet after a power cut: the retries take about a minute).
Found in the arm64 test-bed: an update's restart was killed after 20 s, and systemd counted
it as a failure."""

from __future__ import annotations

import configparser
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.support.serve import GuardianProcess, free_port

RPI = Path(__file__).resolve().parent.parent / "rpi"


class Unavailable(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(503)  # transient: the refresh waits and tries again
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def stop_timeout() -> float:
    unit = configparser.ConfigParser(interpolation=None, strict=False)
    unit.read(RPI / "guardian.service", encoding="utf-8")
    return float(unit["Service"]["TimeoutStopSec"])


def test_sigterm_during_a_list_retry_exits_promptly(tmp_path) -> None:
    origin = ThreadingHTTPServer(("127.0.0.1", 0), Unavailable)
    threading.Thread(target=origin.serve_forever, daemon=True).start()
    port = free_port()
    config = tmp_path / "guardian.toml"
    config.write_text(f'''data_dir = "{tmp_path / "data"}"
[proxy]
listen = "127.0.0.1:{port}"
deny_destinations = []
deny_own_addresses = false
[web]
listen = "127.0.0.1:{free_port()}"
[[lists]]
id = "far"
url = "http://127.0.0.1:{origin.server_address[1]}/far.txt"
format = "domains"
''')
    process = GuardianProcess(config, tmp_path, port)
    update = subprocess.Popen([sys.executable, "-m", "guardian.cli", "lists", "update", "--config", str(config)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 30
        while "trying again in" not in process.log():
            assert time.monotonic() < deadline, process.log()
            time.sleep(0.05)
        started = time.monotonic()
        process.signal(signal.SIGTERM)
        status = process.proc.wait(60)
        took = time.monotonic() - started
    finally:
        process.stop()
        update.kill()
        update.wait()
        origin.shutdown()
    assert status == 0, process.log()
    # well inside the unit's TimeoutStopSec (the proxy's own grace is 10 s, unused here)
    assert took < stop_timeout() / 2, f"stopping took {took:.1f} s"
