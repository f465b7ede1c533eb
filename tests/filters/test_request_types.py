"""Inferring the request type from what a proxy sees."""

from __future__ import annotations

import pytest

from guardian.filters import infer_request_type


@pytest.mark.parametrize(
    ("headers", "url", "expected"),
    [
        ({"Sec-Fetch-Dest": "document"}, "https://a.example/", "document"),
        ({"sec-fetch-dest": "iframe"}, "https://a.example/", "subdocument"),
        ({"Sec-Fetch-Dest": "script"}, "https://a.example/x", "script"),
        ({"Sec-Fetch-Dest": "image"}, "https://a.example/x.js", "image"),
        ({"Sec-Fetch-Dest": "empty"}, "https://a.example/api", "xmlhttprequest"),
        ({"Sec-Fetch-Dest": "video"}, "https://a.example/v", "media"),
        ({"Upgrade": "websocket", "Connection": "Upgrade"}, "https://a.example/ws", "websocket"),
        ({"Ping-To": "https://a.example/"}, "https://t.example/p", "ping"),
        ({"Accept": "text/html,application/xhtml+xml"}, "https://a.example/", "document"),
        ({"Accept": "image/avif,image/webp,*/*"}, "https://a.example/i", "image"),
        ({"Accept": "text/css,*/*;q=0.1"}, "https://a.example/s", "stylesheet"),
        ({"Accept": "*/*"}, "https://a.example/lib.min.js?v=2", "script"),
        ({}, "https://a.example/logo.PNG#x", "image"),
        ({}, "https://a.example/font.woff2", "font"),
        ({}, "https://a.example/", None),
        ({}, "https://a.example/path.unknownext", None),
        ({}, "https://a.example.js", None),
    ],
)
def test_infer(headers, url, expected):
    assert infer_request_type("GET", url, headers) == expected
