"""A real HTTP server on loopback serving lists, and configurations that subscribe to it."""

from __future__ import annotations

import gzip
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest

from guardian.config import Config, parse_config


@dataclass
class Served:
    body: bytes = b""
    status: int = 200
    etag: str | None = None
    last_modified: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False  # read the request, then say nothing
    declared_length: int | None = None  # a Content-Length other than the body's: a cut-short download
    gzip: bool = False


class ListServer:
    def __init__(self) -> None:
        self.routes: dict[str, Served] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.release = threading.Event()  # lets hanging handlers go at teardown
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                server.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                served = server.routes.get(self.path)
                if served is None:
                    self.send_error(404)
                    return
                if served.hang:
                    server.release.wait(10)
                    return
                if (served.etag and self.headers.get("If-None-Match") == served.etag) or (
                    served.last_modified and self.headers.get("If-Modified-Since") == served.last_modified
                ):
                    self.send_response(304)
                    self.end_headers()
                    return
                body = gzip.compress(served.body) if served.gzip else served.body
                self.send_response(served.status)
                for name, value in served.headers.items():
                    self.send_header(name, value)
                if served.etag:
                    self.send_header("ETag", served.etag)
                if served.last_modified:
                    self.send_header("Last-Modified", served.last_modified)
                if served.gzip:
                    self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Length", str(served.declared_length or len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def hits(self, path: str) -> list[dict[str, str]]:
        return [headers for p, headers in self.requests if p == path]


@pytest.fixture
def server() -> Iterator[ListServer]:
    srv = ListServer()
    srv.thread.start()
    yield srv
    srv.release.set()
    srv.httpd.shutdown()
    srv.httpd.server_close()


@pytest.fixture
def refused_url() -> str:
    """A loopback port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/list.txt"


class Sleeps(list[float]):
    """An injectable `sleep` that records the delays instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def abp_list(count: int, prefix: str = "ad", header: str = "") -> bytes:
    lines = ["[Adblock Plus 2.0]", "! Title: Test list", *([header] if header else [])]
    lines += [f"||{prefix}{i}.example^" for i in range(count)]
    lines += ["example.org##.banner"]  # cosmetic: skipped, neither a rule nor an error
    return ("\n".join(lines) + "\n").encode()


# The list server stands in for the internet on loopback, which list downloads (like the
# proxy) refuse by default; tests of that refusal use their own configuration.
LOOPBACK_ALLOWED = "[proxy]\ndeny_destinations = []\ndeny_own_addresses = false\n"


def make_config(data_dir: Path, lists: list[tuple[str, str, str]], extra: str = "",
                proxy: str = LOOPBACK_ALLOWED) -> Config:
    """A configuration with `lists` as (id, url, format), its data in `data_dir`."""
    text = f'data_dir = "{data_dir}"\ntimezone = "Europe/Berlin"\n{proxy}\n{extra}\n'
    for list_id, url, fmt in lists:
        text += f'\n[[lists]]\nid = "{list_id}"\nurl = "{url}"\nformat = "{fmt}"\n'
    return parse_config(text)


@pytest.fixture
def kit() -> SimpleNamespace:
    """The helpers above, for test modules (tests/ is not a package, so they cannot import them)."""
    return SimpleNamespace(Served=Served, abp_list=abp_list, make_config=make_config,
                           loopback_allowed=LOOPBACK_ALLOWED)
