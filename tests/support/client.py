"""A raw-socket HTTP/1.1 client for tests: sends exact bytes, reads exact responses."""

from __future__ import annotations

import socket
from dataclasses import dataclass


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    raw_body: bytes  # as framed on the wire

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


class RawClient:
    def __init__(self, port: int, timeout: float = 5.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout)
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _more(self) -> bytes:
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed")
        self.buf += data
        return data

    def _until(self, marker: bytes) -> bytes:
        while marker not in self.buf:
            self._more()
        idx = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:idx], self.buf[idx:]
        return out

    def _exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._more()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_response(self, head_request: bool = False) -> Response:
        head = self._until(b"\r\n\r\n")
        lines = head[:-4].decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = [tuple(x.strip() for x in line.split(":", 1)) for line in lines[1:]]
        resp = Response(status, headers, b"", b"")
        if head_request or status in (204, 304) or 100 <= status < 200:
            return resp
        if (resp.header("transfer-encoding") or "").lower() == "chunked":
            raw = b""
            while True:
                line = self._until(b"\r\n")
                raw += line
                size = int(line.split(b";")[0], 16)
                if size == 0:
                    raw += self._until(b"\r\n")
                    break
                data = self._exact(size + 2)
                raw += data
                resp.body += data[:-2]
            resp.raw_body = raw
        elif resp.header("content-length") is not None:
            resp.body = resp.raw_body = self._exact(int(resp.header("content-length")))
        else:
            try:
                while True:
                    self._more()
            except EOFError:
                pass
            resp.body = resp.raw_body = self.buf
            self.buf = b""
        return resp

    def is_closed(self, timeout: float = 2.0) -> bool:
        """True when the proxy has closed the connection (EOF or reset) with nothing more to read."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False
        if data:
            self.buf += data
            return False
        return True

    def close(self) -> None:
        self.sock.close()
