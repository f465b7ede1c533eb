"""Issue 17 item 7: a blocked frame (an ad slot) gets one quiet line, never the whole
block page with its heading; a page someone opened still gets the page. Through a whole
Guardian on loopback, asked as a browser asks (`Sec-Fetch-Dest`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from guardian.policy.blockpage import stand_in_response
from guardian.service import Guardian
from tests.support.household import source_bound_client, start_guardian

HOUSEHOLD = """
[[profiles]]
name = "default"
block = ["ads.example"]
"""


@pytest.fixture
def guardian(tmp_path: Path) -> Iterator[Guardian]:
    g = start_guardian(tmp_path, HOUSEHOLD)
    yield g
    g.stop()


def ask(port: int, dest: str | None) -> tuple[int, dict[str, str], bytes]:
    head = "GET http://ads.example/slot?size=300x250 HTTP/1.1\r\nHost: ads.example\r\n"
    head += "Accept: text/html,application/xhtml+xml,*/*;q=0.8\r\nConnection: close\r\n"
    if dest is not None:
        head += f"Sec-Fetch-Dest: {dest}\r\nSec-Fetch-Mode: navigate\r\n"
    with source_bound_client(port, "127.0.0.1") as sock:
        sock.sendall((head + "\r\n").encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    raw_head, _, body = data.partition(b"\r\n\r\n")
    lines = raw_head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


@pytest.mark.parametrize("dest", ["iframe", "frame"])
def test_a_blocked_frame_gets_one_quiet_line(guardian: Guardian, dest: str) -> None:
    status, headers, body = ask(guardian.proxy.address[1], dest)
    assert status == 403 and headers["content-type"] == "text/html; charset=utf-8"
    assert b"<h1" not in body and b"This page is blocked" not in body
    assert b"Blocked by Guardian: A parent blocked this site" in body
    assert len(body) < 400 and int(headers["content-length"]) == len(body)
    assert "default-src 'none'" in headers["content-security-policy"]


def test_a_page_opened_in_the_tab_still_gets_the_whole_page(guardian: Guardian) -> None:
    for dest in ("document", None):
        status, _, body = ask(guardian.proxy.address[1], dest)
        assert status == 403 and b"<h1>" in body and b"This page is blocked" in body
        # which, in a frame too small for it (plain HTTP names no destination), shows one line
        assert b"@media (max-height:320px),(max-width:300px){main{display:none}" in body


def test_the_frame_line_escapes_the_reason() -> None:
    _, _, body = stand_in_response("subdocument", 'On the block list "<b>ads</b>"')
    assert b"<b>" not in body and b"&lt;b&gt;ads&lt;/b&gt;" in body


def test_the_tab_icon_of_a_blocked_site_is_no_404(guardian: Guardian) -> None:
    """A browser showing the block page asks the blocked site for /favicon.ico: an image."""
    with source_bound_client(guardian.proxy.address[1], "127.0.0.1") as sock:
        sock.sendall(b"GET http://ads.example/favicon.ico HTTP/1.1\r\nHost: ads.example\r\n"
                     b"Accept: image/avif,image/webp,image/apng,image/*,*/*;q=0.8\r\nConnection: close\r\n\r\n")
        head = sock.recv(65536).decode("latin-1")
    assert head.startswith("HTTP/1.1 200") and "content-type: image/gif" in head.lower()
