"""Helpers for the adversarial suite: an origin that answers exactly the bytes a test gives."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest


class RawOrigin:
    """Answers a request for /<name> with `answers[name]` byte for byte, then closes.
    Keeps every request head it received, so a test can see what the proxy sent."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.answers: dict[str, bytes] = {}
        self.heads: list[bytes] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(sock,), daemon=True).start()

    def _answer(self, sock: socket.socket) -> None:
        with sock, contextlib.suppress(OSError):
            sock.settimeout(5)
            data = b""
            while b"\r\n\r\n" not in data:
                piece = sock.recv(65536)
                if not piece:
                    return
                data += piece
            head = data[:data.index(b"\r\n\r\n") + 4]
            with self._lock:
                self.heads.append(head)
            name = head.split(b" ", 2)[1].decode("latin-1").rsplit("/", 1)[-1]
            sock.sendall(self.answers.get(name, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"))
            sock.shutdown(socket.SHUT_WR)
            with contextlib.suppress(OSError):
                while sock.recv(65536):
                    pass

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def raw_origin() -> Iterator[RawOrigin]:
    server = RawOrigin()
    yield server
    server.close()
