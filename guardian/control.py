"""The control socket: how `guardian <command>` reaches a running `guardian serve`.

`<data_dir>/control.sock` is a Unix socket (mode 0600: only the service's own user, and
root, may use it). A client sends one JSON object `{"command": ..., ...}` on one line
and reads one JSON line back. Commands are a fixed table of methods on the running
service; nothing sent here reaches a shell.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SOCKET_NAME = "control.sock"
MAX_REQUEST = 64 * 1024

Handler = Callable[[dict[str, Any]], dict[str, Any]]


class NotRunning(Exception):
    """No `guardian serve` answers on this data directory's control socket."""


class ControlServer:
    def __init__(self, data_dir: Path, handlers: dict[str, Handler]) -> None:
        self.path = Path(data_dir) / SOCKET_NAME
        self.handlers = handlers
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # left by a process that did not stop cleanly
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)  # the socket file is created 0600
        try:
            self.sock.bind(str(self.path))
        finally:
            os.umask(old_umask)
        self.sock.listen(16)
        threading.Thread(target=self._serve, name="control", daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), name="control-conn", daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(600)
            try:
                data = b""
                while not data.endswith(b"\n") and len(data) < MAX_REQUEST:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                request = json.loads(data)
                command = request.get("command") if isinstance(request, dict) else None
                handler = self.handlers.get(command) if isinstance(command, str) else None
                reply = {"ok": False, "error": "unknown command"} if handler is None else handler(request)
            except (ValueError, OSError) as exc:
                reply = {"ok": False, "error": f"bad request: {exc}"}
            except Exception as exc:  # the service must survive any one command failing
                log.exception("control command failed")
                reply = {"ok": False, "error": str(exc)}
            with contextlib.suppress(OSError):
                conn.sendall(json.dumps(reply).encode() + b"\n")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def call(data_dir: Path, command: str, timeout: float = 600, **arguments: Any) -> dict[str, Any]:
    """Send one command to the running service; NotRunning when none answers."""
    path = Path(data_dir) / SOCKET_NAME
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(path))
    except (FileNotFoundError, ConnectionRefusedError, OSError) as exc:
        sock.close()
        raise NotRunning(str(exc)) from None
    with sock:
        sock.sendall(json.dumps({"command": command, **arguments}).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return json.loads(data)
