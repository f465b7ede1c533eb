"""What a blocked request gets back: a page for people, a harmless stand-in for the rest.

Strategy: only a page someone navigated to deserves an explanation. A request of type
`document` (or of unknown type, a GET whose Accept prefers HTML) gets a 403 HTML page:
one file, inline CSS, no scripts, images or fonts (the CSP header forbids them anyway),
readable on a 360px phone, naming the address, the reason in plain words, the device
and profile, and what a child can do about it. Everything else a page loads gets the
cheapest answer that does not break that page: a transparent 1x1 GIF for images, an
empty script or stylesheet, one quiet line for a frame (an ad slot must not show a whole
page with its heading), a bare 403 for the rest. A frame a browser does not name (plain
HTTP carries no `Sec-Fetch-Dest`) gets the page, which shows only that line in a frame
too small for more. A CONNECT cannot show a page (the
browser expects TLS), so it gets a 403 with the reason in `X-Guardian-Block`.

Every response is complete: Content-Type, Content-Length and `Cache-Control: no-store`
(a block must not outlive the rule, a pause or the end of bedtime).
"""

from __future__ import annotations

import functools
import html
from typing import NamedTuple

Response = tuple[int, list[tuple[str, str]], bytes]

# The smallest transparent GIF: 1x1, one transparent colour.
TRANSPARENT_GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\x00\x00\x00"
    b"!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
_EMPTY_TYPES = {"script": "application/javascript", "stylesheet": "text/css"}
_MAX_SHOWN_ADDRESS = 300
_MAX_HEADER = 300
# Inline styles only: nothing is fetched (the tab's /favicon.ico is a blocked image: the GIF).
_PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'"
# A stop sign drawn inline: an emoji shows as an empty box where the font lacks it.
_STOP = ('<svg width="28" height="28" viewBox="0 0 32 32" aria-hidden="true" focusable="false">'
         '<path d="M10 2h12l8 8v12l-8 8H10l-8-8V10z" fill="#b3261e"/>'
         '<rect x="8" y="14" width="16" height="4" rx="1" fill="#fff"/></svg>')


class BlockInfo(NamedTuple):
    address: str  # the URL, or host:port for a tunnel
    reason: str  # in words: 'Bedtime until 07:00', 'On the list "EasyList"'
    detail: str | None  # the rule and its list, for the parent
    device: str | None  # None: a device not named in the settings
    client_ip: str
    profile: str
    host: str


def header_text(text: str) -> str:
    """A header value that cannot break the response: printable ASCII, bounded."""
    if text.isascii() and text.isprintable():  # the usual case, without a loop in Python
        return text[:_MAX_HEADER]
    cleaned = "".join(c if " " <= c <= "~" else "?" for c in text)
    return cleaned[:_MAX_HEADER]


def wants_page(method: str, request_type: str | None, accept: str | None) -> bool:
    if request_type == "document":
        return True
    return (request_type is None and method == "GET" and accept is not None and "html" in accept
            and _prefers_html(accept))


def _prefers_html(accept: str) -> bool:
    """Whether text/html (or XHTML) has the highest quality among the Accept ranges."""
    best, best_q = "", -1.0
    for item in accept.lower().split(","):
        media, *params = (part.strip() for part in item.split(";"))
        q = 1.0
        for param in params:
            if param.startswith("q="):
                try:
                    q = float(param[2:])
                except ValueError:
                    q = 0.0
        if q > best_q:
            best, best_q = media, q
    return best in ("text/html", "application/xhtml+xml") and best_q > 0


def page_response(info: BlockInfo) -> Response:
    """The block page, for a document (see `wants_page`)."""
    body = render_page(info).encode("utf-8")
    return 403, [
        ("Content-Type", "text/html; charset=utf-8"),
        ("Content-Security-Policy", _PAGE_CSP),
        ("X-Content-Type-Options", "nosniff"),
        ("Cache-Control", "no-store"),
        ("X-Guardian-Block", header_text(info.reason)),
        ("Content-Length", str(len(body))),
    ], body


@functools.lru_cache(maxsize=1024)
def stand_in_response(request_type: str | None, reason: str) -> Response:
    """The answer for anything but a page, a CONNECT included (request_type None).

    It depends only on the type and the reason, so it is built once per pair: blocked
    ads and trackers are most of what a proxy blocks. The header list is shared; the
    core only reads it."""
    common = [("Cache-Control", "no-store"), ("X-Guardian-Block", header_text(reason))]
    if request_type == "image":
        return 200, [("Content-Type", "image/gif"), *common,
                     ("Content-Length", str(len(TRANSPARENT_GIF)))], TRANSPARENT_GIF
    if request_type in _EMPTY_TYPES:
        return 200, [("Content-Type", _EMPTY_TYPES[request_type]), *common, ("Content-Length", "0")], b""
    if request_type == "subdocument":
        body = _frame_body(reason)
        return 403, [("Content-Type", "text/html; charset=utf-8"), ("Content-Security-Policy", _PAGE_CSP),
                     ("X-Content-Type-Options", "nosniff"), *common, ("Content-Length", str(len(body)))], body
    body = f"Blocked by Guardian: {reason}\n".encode()
    return 403, [("Content-Type", "text/plain; charset=utf-8"), *common, ("Content-Length", str(len(body)))], body


def _frame_body(reason: str) -> bytes:
    """A blocked frame's whole content: one line in small grey type."""
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>Blocked</title></head>"
            f'<body style="margin:2px 4px"><p style="margin:0;font:11px/1.3 system-ui,sans-serif;color:#595959">'
            f"Blocked by Guardian: {html.escape(reason)}</p></body></html>").encode()


def render_page(info: BlockInfo) -> str:
    e = html.escape
    address = info.address if len(info.address) <= _MAX_SHOWN_ADDRESS else info.address[:_MAX_SHOWN_ADDRESS] + "…"
    device = e(info.device) if info.device else f"this device ({e(info.client_ip)}), not named yet"
    command = (
        f'guardian allow --device "{info.device}" --host {info.host} --minutes 30' if info.device
        else f"guardian allow --profile \"{info.profile}\" --host {info.host} --minutes 30"
    )
    detail = f"<p class=small>{e(info.detail)}</p>" if info.detail else ""
    return f"""<!doctype html>
<html lang=en><head><meta charset=utf-8>
<meta name=viewport content="width=device-width, initial-scale=1">
<title>Blocked: {e(info.host)}</title>
<style>
body{{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f4f1ea;color:#222}}
main{{max-width:34rem;margin:0 auto;padding:1.25rem}}
h1{{font-size:1.5rem;margin:.5rem 0 1rem}}
.card{{background:#fff;border-radius:12px;padding:1rem 1.1rem;margin:0 0 1rem;box-shadow:0 1px 3px #0002}}
.address{{font-family:ui-monospace,monospace;word-break:break-all;background:#f7f7f7;padding:.5rem;border-radius:6px}}
.reason{{font-size:1.15rem;font-weight:600}}
.small{{font-size:.85rem;color:#555;word-break:break-word}}
code{{word-break:break-all;font-size:.85rem}}
h1 svg{{vertical-align:-5px;margin-right:.4rem}}
.mini{{display:none;margin:2px 4px;font:11px/1.3 system-ui,sans-serif;color:#595959}}
@media (max-height:320px),(max-width:300px){{main{{display:none}}.mini{{display:block}}body{{background:none}}}}
</style></head>
<body><p class=mini>Blocked by Guardian: {e(info.reason)}</p><main>
<h1>{_STOP}This page is blocked</h1>
<div class=card>
<p>You tried to open:</p>
<p class=address>{e(address)}</p>
<p>Why:</p>
<p class=reason>{e(info.reason)}</p>
{detail}
<p class=small>Device: {device}<br>Rules for: {e(info.profile)}</p>
</div>
<div class=card>
<p><strong>Need this page?</strong> Ask a parent. Show them this screen.</p>
<p class=small>For parents: you can allow this site for a while on the Guardian settings page, or run
<code>{e(command)}</code></p>
</div>
</main></body></html>
"""
