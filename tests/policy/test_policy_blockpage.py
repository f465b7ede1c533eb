"""What a blocked request gets: a page for documents, stand-ins for sub-resources, 403 for CONNECT."""

from __future__ import annotations

import pytest

from guardian.policy.blockpage import (
    TRANSPARENT_GIF,
    BlockInfo,
    header_text,
    page_response,
    stand_in_response,
    wants_page,
)

INFO = BlockInfo(
    address='http://evil.example/<script>alert("x")</script>?a=1&b=2',
    reason="Bedtime until 07:00",
    detail=None,
    device="Sam's tablet",
    client_ip="192.168.1.23",
    profile="kids",
    host="evil.example",
)


def headers_of(response: tuple[int, list[tuple[str, str]], bytes]) -> dict[str, str]:
    return {name.lower(): value for name, value in response[1]}


def test_a_document_gets_an_escaped_self_contained_page() -> None:
    response = page_response(INFO)
    status, _, body = response
    headers = headers_of(response)
    page = body.decode()
    assert status == 403
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert headers["content-length"] == str(len(body))
    assert headers["cache-control"] == "no-store"
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;?a=1&amp;b=2" in page
    assert "Bedtime until 07:00" in page
    assert "Sam&#x27;s tablet" in page and "kids" in page
    assert "Ask a parent" in page
    assert 'name=viewport content="width=device-width' in page
    # Nothing to fetch from anywhere: no links to resources, no scripts.
    for forbidden in ("src=", "href=", "@import", "url(", "<script", "<link"):
        assert forbidden not in page


def test_an_unknown_device_is_named_by_its_address() -> None:
    info = INFO._replace(device=None, detail="Rule ||evil.example^ from the list \"Ads\"")
    page = page_response(info)[2].decode()
    assert "192.168.1.23" in page and "not named yet" in page
    assert "Rule ||evil.example^ from the list &quot;Ads&quot;" in page
    assert '--profile &quot;kids&quot;' in page


def test_a_long_address_is_shortened_on_the_page() -> None:
    info = INFO._replace(address="http://evil.example/" + "a" * 5000)
    page = page_response(info)[2].decode()
    assert "a" * 400 not in page and "…" in page


@pytest.mark.parametrize(("method", "rtype", "accept", "page"), [
    ("GET", "document", None, True),
    ("GET", None, "text/html,application/xhtml+xml,*/*;q=0.8", True),
    ("GET", None, "application/json, text/html;q=0.5", False),
    ("GET", None, "*/*", False),
    ("POST", None, "text/html", False),
    ("GET", "xmlhttprequest", "text/html", False),
    ("GET", None, None, False),
])
def test_who_gets_the_page(method: str, rtype: str | None, accept: str | None, page: bool) -> None:
    assert wants_page(method, rtype, accept) is page


def test_an_image_gets_a_transparent_gif() -> None:
    response = stand_in_response("image", INFO.reason)
    assert response[0] == 200
    assert response[2] == TRANSPARENT_GIF and response[2].startswith(b"GIF89a\x01\x00\x01\x00")
    assert headers_of(response)["content-type"] == "image/gif"
    assert headers_of(response)["content-length"] == "43"


@pytest.mark.parametrize(("rtype", "content_type"), [("script", "application/javascript"),
                                                     ("stylesheet", "text/css")])
def test_scripts_and_styles_get_an_empty_body_of_their_type(rtype: str, content_type: str) -> None:
    response = stand_in_response(rtype, INFO.reason)
    assert response[0] == 200 and response[2] == b""
    assert headers_of(response)["content-type"] == content_type
    assert headers_of(response)["content-length"] == "0"
    assert headers_of(response)["cache-control"] == "no-store"


def test_other_sub_resources_get_a_short_403() -> None:
    response = stand_in_response("xmlhttprequest", INFO.reason)
    assert response[0] == 403
    assert response[2] == b"Blocked by Guardian: Bedtime until 07:00\n"
    assert headers_of(response)["content-length"] == str(len(response[2]))


def test_connect_gets_403_with_the_reason_in_a_header() -> None:
    response = stand_in_response(None, INFO.reason)
    headers = headers_of(response)
    assert response[0] == 403
    assert headers["x-guardian-block"] == "Bedtime until 07:00"
    assert headers["content-type"].startswith("text/plain")
    assert headers["content-length"] == str(len(response[2]))


def test_header_values_cannot_break_the_response() -> None:
    assert header_text("Zoë's rule\r\nSet-Cookie: x") == "Zo?'s rule??Set-Cookie: x"
    assert len(header_text("x" * 1000)) == 300
