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


def _extension_type_by_segments(url: str) -> str | None:
    """The extension rule written out step by step: the reference for the quick one."""
    from guardian.filters.request_types import _EXTENSIONS
    path = url.partition("#")[0].partition("?")[0]
    scheme_end = path.find("://")
    if scheme_end >= 0 and path.find("/", scheme_end + 3) < 0:
        return None
    last_segment = path[path.rfind("/") + 1:]
    dot = last_segment.rfind(".")
    return None if dot < 0 else _EXTENSIONS.get(last_segment[dot + 1:].lower())


def test_the_extension_rule_agrees_with_its_reference_on_generated_urls() -> None:
    import random

    from guardian.filters.request_types import _type_from_extension
    pieces = ["https", "://", "/", "a", ".", "js", "PNG", "?", "#", "x.css", "woff2", ".example", "q=1.mp4"]
    rng = random.Random(15)
    urls = ["".join(rng.choice(pieces) for _ in range(rng.randrange(1, 9))) for _ in range(20000)]
    found = 0
    for url in urls:
        assert _type_from_extension(url) == _extension_type_by_segments(url), url
        found += _type_from_extension(url) is not None
    assert found > 1000  # generated URLs with a known extension were among them
