"""Running `guardian serve` as a real process for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 20.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


class GuardianProcess:
    def __init__(self, config_path: Path, cwd: Path, port: int, extra_args: list[str] | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.port = port
        self.log_path = cwd / "serve.log"
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "guardian.cli", "serve", "--config", str(config_path), *(extra_args or [])],
            cwd=cwd, stdout=self._log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
        # the port accepts connections from construction on; the service is up once it says so
        if not wait_port(port) or not self._wait_log("proxy listening"):
            self.stop()
            raise RuntimeError(f"guardian serve did not start on {port}:\n{self.log()}")

    def _wait_log(self, text: str, timeout: float = 30.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if text in self.log():
                return True
            if self.proc.poll() is not None:
                return False
            time.sleep(0.05)
        return False

    def log(self) -> str:
        return self.log_path.read_text()

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode
