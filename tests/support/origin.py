"""A real origin server on loopback for the proxy tests.

It speaks just enough HTTP/1.1 to play every part the tests need (keep-alive,
chunked and close-delimited bodies, interim responses, upgrades, dying mid-body), and
it records the raw bytes of everything it received, so a test can assert that a bad
request never reached it. Behaviour is chosen by the request path.
"""

from __future__ import annotations

import contextlib
import hashlib
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class ReceivedRequest:
    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    raw_head: bytes
    raw_body: bytes  # as it came on the wire (chunked stays chunked)
    body: bytes  # de-chunked

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


@dataclass
class OriginStats:
    connections: int = 0
    requests: list[ReceivedRequest] = field(default_factory=list)
    raw: bytearray = field(default_factory=bytearray)
    hits: Counter = field(default_factory=Counter)


class _Conn:
    def __init__(self, sock: socket.socket, origin: Origin) -> None:
        self.sock = sock
        self.origin = origin
        self.buf = b""

    def _recv(self) -> bytes:
        data = self.sock.recv(65536)
        if data:
            with self.origin.lock:
                self.origin.stats.raw += data
        return data

    def read_until(self, marker: bytes) -> bytes | None:
        while marker not in self.buf:
            data = self._recv()
            if not data:
                return None
            self.buf += data
        idx = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:idx], self.buf[idx:]
        return out

    def read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            data = self._recv()
            if not data:
                raise ConnectionError("closed mid-body")
            self.buf += data
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_request(self) -> ReceivedRequest | None:
        head = self.read_until(b"\r\n\r\n")
        if head is None:
            return None
        lines = head[:-4].decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ", 2)
        headers = [tuple(x.strip() for x in line.split(":", 1)) for line in lines[1:]]
        req = ReceivedRequest(method, target, version, headers, head, b"", b"")
        if (req.header("expect") or "").lower() == "100-continue":
            behaviour = self.origin.expect_behaviour
            if behaviour == "reject":
                self.send(b"HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\n\r\n")
                return req
            if behaviour == "continue":
                self.send(b"HTTP/1.1 100 Continue\r\n\r\n")
        if (req.header("transfer-encoding") or "").lower() == "chunked":
            raw = b""
            body = b""
            while True:
                line = self.read_until(b"\r\n")
                if line is None:
                    raise ConnectionError("closed mid-body")
                raw += line
                size = int(line.split(b";")[0], 16)
                if size == 0:
                    raw += self.read_until(b"\r\n")
                    break
                data = self.read_exact(size + 2)
                raw += data
                body += data[:-2]
            req.raw_body, req.body = raw, body
        elif req.header("content-length"):
            req.body = req.raw_body = self.read_exact(int(req.header("content-length")))
        return req

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)


def _response(status: str, body: bytes, headers: list[tuple[str, str]] | None = None) -> bytes:
    head = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}"]
    head += [f"{k}: {v}" for k, v in headers or []]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


class Origin:
    """Serves on 127.0.0.1:<port>; see `_serve` for the paths it knows."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=512)
        self.port = self.listener.getsockname()[1]
        self.stats = OriginStats()
        self.lock = threading.Lock()
        self.expect_behaviour = "continue"  # continue | reject | silent
        self.closed = False
        self.sockets: set[socket.socket] = set()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.closed = True
        self.listener.close()
        for s in list(self.sockets):
            with contextlib.suppress(OSError):
                s.close()

    def _accept(self) -> None:
        while not self.closed:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                self.stats.connections += 1
                self.sockets.add(sock)
            threading.Thread(target=self._handle, args=(sock,), daemon=True).start()

    def _handle(self, sock: socket.socket) -> None:
        conn = _Conn(sock, self)
        try:
            while True:
                req = conn.read_request()
                if req is None:
                    return
                with self.lock:
                    self.stats.requests.append(req)
                    self.stats.hits[req.target] += 1
                if not self._serve(conn, req):
                    return
        except (OSError, ConnectionError, ValueError):
            return
        finally:
            with contextlib.suppress(OSError):
                sock.close()
            with self.lock:
                self.sockets.discard(sock)

    def _serve(self, conn: _Conn, req: ReceivedRequest) -> bool:
        """Answer one request; False closes the connection."""
        path = req.target
        head_only = req.method == "HEAD"
        if path.startswith("/size/"):
            size = int(path.split("/")[2])
            if head_only:
                conn.send(f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n".encode())
            else:
                conn.send(_response("200 OK", b"x" * size, [("Content-Type", "application/octet-stream")]))
            return True
        if path == "/chunked":
            conn.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n"
                      b"5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: yes\r\n\r\n")
            return True
        if path == "/close":
            conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nuntil-close body")
            return False
        if path == "/die":
            conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"p" * 1000)
            time.sleep(0.05)
            return False
        if path == "/die-chunked":
            conn.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
            time.sleep(0.05)
            return False
        if path == "/echo":
            digest = hashlib.sha256(req.body).hexdigest()
            conn.send(_response("200 OK", f"{len(req.body)} {digest}".encode()))
            return True
        if path == "/headers":
            text = "\n".join(f"{k}: {v}" for k, v in req.headers)
            conn.send(_response("200 OK", text.encode()))
            return True
        if path.startswith("/download"):
            # a file of any kind: /download<anything>?type=T&disposition=D&size=N&cookie=C
            from urllib.parse import parse_qs, urlsplit

            query = {k: v[0] for k, v in parse_qs(urlsplit(path).query).items()}
            headers = [("Content-Type", query.get("type", "application/octet-stream"))]
            if "disposition" in query:
                headers.append(("Content-Disposition", query["disposition"]))
            if "cookie" in query:
                headers.append(("Set-Cookie", query["cookie"]))
            conn.send(_response("200 OK", b"F" * int(query.get("size", 16)), headers))
            return True
        if path.startswith("/asset/"):
            # cacheable static assets: /asset/<name>?max-age=N&etag=X&delay=S&type=T&cc=...
            from urllib.parse import parse_qs, urlsplit

            query = {k: v[0] for k, v in parse_qs(urlsplit(path).query).items()}
            time.sleep(float(query.get("delay", 0)))
            etag = f'"{query.get("etag", "v1")}"'
            cache_control = query.get("cc", f"max-age={query.get('max-age', '60')}")
            headers = [("Content-Type", query.get("type", "image/png")), ("Cache-Control", cache_control),
                       ("ETag", etag)]
            if req.header("if-none-match") == etag:
                conn.send(("HTTP/1.1 304 Not Modified\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
                           + "\r\n").encode())
                return True
            body = f"asset {urlsplit(path).path}".encode() * int(query.get("repeat", 1))
            conn.send(_response("200 OK", b"" if head_only else body, headers) if not head_only else
                      ("HTTP/1.1 200 OK\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
                       + f"Content-Length: {len(body)}\r\n\r\n").encode())
            return True
        if path == "/slow":
            time.sleep(1.5)
            conn.send(_response("200 OK", b"slow but complete"))
            return True
        if path == "/hang":
            time.sleep(30)
            return False
        if path == "/204":
            conn.send(b"HTTP/1.1 204 No Content\r\n\r\n")
            return True
        if path == "/304":
            conn.send(b"HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\n\r\n")
            return True
        if path == "/103":
            conn.send(b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n" + _response("200 OK", b"ok"))
            return True
        if path == "/hop":
            conn.send(_response("200 OK", b"hop", [("Connection", "X-Secret"), ("X-Secret", "1"),
                                                   ("Keep-Alive", "timeout=5"), ("X-Public", "1")]))
            return True
        if path == "/ws":
            conn.send(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
            data = conn.buf
            conn.buf = b""
            while True:
                if data:
                    conn.send(data.upper())
                data = conn._recv()
                if not data:
                    return False
        if path == "/bad-cl":
            conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!")
            return False
        conn.send(_response("200 OK", f"hello {path}".encode(), [("Content-Type", "text/plain")]))
        return True


class EchoServer:
    """A raw TCP server that echoes, for tunnels: reports half-close by answering 'EOF'."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.received = bytearray()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(sock,), daemon=True).start()

    def _echo(self, sock: socket.socket) -> None:
        with sock:
            while True:
                try:
                    data = sock.recv(65536)
                except OSError:
                    return
                if not data:
                    with contextlib.suppress(OSError):
                        sock.sendall(b"EOF")
                        sock.shutdown(socket.SHUT_WR)
                    return
                self.received += data
                sock.sendall(data)

    def close(self) -> None:
        self.listener.close()
