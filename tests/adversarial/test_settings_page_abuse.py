"""The settings page against the people Guardian filters (issue 14 items 6, 7, 8, 13; issue 13 item 12).

Everything runs against a real `guardian serve` on loopback; "devices" are other
loopback source addresses (127.0.0.2 is the kid's tablet, 127.0.0.3 the parent's phone),
reaching the page directly or through Guardian's own proxy by its name `guardian.lan`.
"""

from __future__ import annotations

import http.client
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest

from guardian.web.credentials import Credentials
from guardian.web.serving import PER_ADDRESS
from guardian.web.throttle import MAX_FAILURES, MAX_FAILURES_PER_HOUR
from tests.support.serve import GuardianProcess, free_port

PASSWORD = "the parents' long password"
KID, PARENT = "127.0.0.2", "127.0.0.3"


class Device:
    """One device's browser, reduced to cookies and forms: direct or through the proxy."""

    def __init__(self, source: str, web_port: int, proxy_port: int | None = None) -> None:
        self.source, self.web_port, self.proxy_port = source, web_port, proxy_port
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, form: dict[str, str] | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
        port = self.proxy_port or self.web_port
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20, source_address=(self.source, 0))
        target = f"http://guardian.lan{path}" if self.proxy_port else path
        all_headers = {"Host": "guardian.lan" if self.proxy_port else f"127.0.0.1:{self.web_port}",
                       **(headers or {})}
        if self.cookies:
            all_headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, target, body=body, headers=all_headers)
        response = conn.getresponse()
        text = response.read().decode("utf-8", "replace")
        for value in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = value.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        conn.close()
        return response.status, dict(response.headers), text

    def csrf(self, path: str = "/login") -> str:
        _, _, text = self.request("GET", path)
        return re.search(r'name="csrf_token" value="([^"]+)"', text).group(1)

    def login(self, password: str) -> int:
        return self.request("POST", "/login", {"csrf_token": self.csrf(), "password": password})[0]


@pytest.fixture
def served(tmp_path: Path):
    proxy_port, web_port = free_port(), free_port()
    config = tmp_path / "guardian.toml"
    config.write_text(f'''data_dir = "{tmp_path / "data"}"
timezone = "Europe/London"
[proxy]
listen = "127.0.0.1:{proxy_port}"
[web]
listen = "127.0.0.1:{web_port}"
names = ["guardian.lan"]
''')
    Credentials(tmp_path / "data").set_password(PASSWORD)
    process = GuardianProcess(config, tmp_path, proxy_port)
    yield process, proxy_port, web_port, config
    process.stop()


def test_a_kid_through_the_proxy_locks_only_themselves(served) -> None:
    _, proxy_port, web_port, _ = served
    kid = Device(KID, web_port, proxy_port)
    for _ in range(MAX_FAILURES):
        assert kid.login("guess") == 401
    assert kid.login("guess") == 429
    # the parent reaches the page through the same proxy (from 127.0.0.1 as far as the page sees)
    assert Device(PARENT, web_port, proxy_port).login(PASSWORD) == 303
    # and the kid gets no fresh tries by going to the page directly
    assert Device(KID, web_port).login(PASSWORD) == 429


def test_a_forged_client_header_is_ignored(served) -> None:
    _, _, web_port, _ = served
    kid = Device(KID, web_port)
    for i in range(MAX_FAILURES):
        # directly, naming another device, with a made-up secret: counted against the kid
        status = kid.request("POST", "/login", {"csrf_token": kid.csrf(), "password": "guess"},
                             headers={"Guardian-Client": f"10.9.9.{i} forged"})[0]
        assert status == 401
    assert kid.login(PASSWORD) == 429


def test_guesses_from_many_addresses_hit_the_installation_cap_and_set_password_lifts_it(served, tmp_path) -> None:
    _, _, web_port, config = served
    tries = 0
    source = 10
    while tries < MAX_FAILURES_PER_HOUR:
        device = Device(f"127.0.1.{source}", web_port)
        for _ in range(min(MAX_FAILURES - 1, MAX_FAILURES_PER_HOUR - tries)):
            assert device.login("guess") == 401
            tries += 1
        source += 1
    assert Device(PARENT, web_port).login(PASSWORD) == 429  # nobody gets in for now
    # `guardian set-password` from the shell (which the login page recommends) lifts it
    out = subprocess.run([sys.executable, "-m", "guardian.cli", "set-password", "--stdin", "--config", str(config)],
                         input="a brand new password\n", capture_output=True, text=True, timeout=60,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert Device(PARENT, web_port).login("a brand new password") == 303


def test_set_password_lifts_one_devices_lockout(served, tmp_path) -> None:
    _, _, web_port, config = served
    parent = Device(PARENT, web_port)
    for _ in range(MAX_FAILURES):
        parent.login("forgotten")
    assert parent.login(PASSWORD) == 429
    out = subprocess.run([sys.executable, "-m", "guardian.cli", "set-password", "--stdin", "--config", str(config)],
                         input="remembered at last\n", capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert parent.login("remembered at last") == 303


def test_logout_ends_the_session_on_the_server(served) -> None:
    _, _, web_port, _ = served
    parent = Device(PARENT, web_port)
    assert parent.login(PASSWORD) == 303
    assert parent.request("GET", "/settings")[0] == 200
    copied = Device(KID, web_port)
    copied.cookies = dict(parent.cookies)  # a kid copies the cookie off the unlocked phone
    assert copied.request("GET", "/settings")[0] == 200
    assert parent.request("POST", "/logout", {"csrf_token": parent.csrf("/settings")})[0] == 303
    status, headers, _ = copied.request("GET", "/settings")
    assert status == 302 and "/login" in headers["Location"]


def test_a_password_change_rotates_the_token_and_ends_every_session(served) -> None:
    _, _, web_port, _ = served
    parent, copied = Device(PARENT, web_port), Device(KID, web_port)
    assert parent.login(PASSWORD) == 303
    copied.cookies = dict(parent.cookies)
    _, _, page = parent.request("GET", "/settings")
    token = re.search(r'<code class="token">([0-9a-f]+)</code>', page).group(1)
    bearer = {"Authorization": f"Bearer {token}"}
    assert copied.request("GET", "/api/status", headers=bearer)[0] == 200
    status, _, _ = parent.request("POST", "/settings/password", {
        "csrf_token": parent.csrf("/settings"), "current": PASSWORD,
        "password": "a new household password", "confirm": "a new household password"})
    assert status == 303
    assert copied.request("GET", "/api/status", headers=bearer)[0] == 401
    assert copied.request("GET", "/settings")[0] == 302
    assert parent.request("GET", "/settings")[0] == 200  # the browser that changed it stays in


def test_half_open_connections_do_not_lock_the_page(served) -> None:
    _, _, web_port, _ = served
    held = []
    try:
        for _ in range(150):  # more than waitress's default 100 connections
            sock = socket.socket()
            sock.bind((KID, 0))
            sock.connect(("127.0.0.1", web_port))
            held.append(sock)
        time.sleep(0.5)
        start = time.monotonic()
        status, _, text = Device(PARENT, web_port).request("GET", "/proxy.pac")
        assert status == 200 and "FindProxyForURL" in text
        assert time.monotonic() - start < 5
        # the kid's share is bounded: the connections past it were closed at once
        closed = 0
        for sock in held:
            sock.settimeout(0.05)
            try:
                if sock.recv(1) == b"":
                    closed += 1
            except (TimeoutError, OSError):
                pass
        assert closed >= len(held) - PER_ADDRESS
    finally:
        for sock in held:
            sock.close()


def test_a_huge_body_is_refused_before_it_is_read(served, tmp_path) -> None:
    _, _, web_port, _ = served
    sock = socket.create_connection(("127.0.0.1", web_port), timeout=10)
    try:
        sock.sendall(f"POST /login HTTP/1.1\r\nHost: 127.0.0.1:{web_port}\r\n"
                     "Content-Type: application/x-www-form-urlencoded\r\n"
                     f"Content-Length: {2**30}\r\n\r\n".encode())
        sock.sendall(b"x" * 2**20)
        answer = b""
        while b"\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 413"), answer[:100]
    finally:
        sock.close()
