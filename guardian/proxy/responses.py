"""The proxy's own answers: short HTML pages that say what happened."""

from __future__ import annotations

import html
from http import HTTPStatus

from guardian.proxy.http1 import serialise_head

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{status} {phrase}</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:36em;margin:2em auto;padding:0 1em;color:#222}}
h1{{font-size:1.3em}}small{{color:#666}}</style></head>
<body><h1>{phrase}</h1><p>{message}</p>{link}<small>Guardian proxy &middot; {status}</small></body></html>
"""


def phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def error_response(status: int, message: str, close: bool = True,
                   extra_headers: list[tuple[str, str]] | None = None, version: str = "HTTP/1.1",
                   link: tuple[str, str] | None = None) -> bytes:
    """A complete response: status line, headers and a short HTML page, with an optional
    (address, words) link below the message."""
    extra = f'<p><a href="{html.escape(link[0])}">{html.escape(link[1])}</a></p>' if link else ""
    body = _PAGE.format(status=status, phrase=html.escape(phrase(status)), message=html.escape(message), link=extra)
    payload = body.encode("utf-8")
    headers = [
        ("Content-Type", "text/html; charset=utf-8"),
        ("Content-Length", str(len(payload))),
        ("Cache-Control", "no-store"),
    ]
    headers += extra_headers or []
    if close:
        headers.append(("Connection", "close"))
    return serialise_head(f"{version} {status} {phrase(status)}", headers) + payload
