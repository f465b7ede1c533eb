"""Request types as Adblock Plus names them, as bits, and how a proxy infers them.

A rule's `$script,image` options become one integer mask and a request's type one bit, so
the type check on the hot path is a single `&`. A request whose type the proxy cannot tell
carries the UNKNOWN bit: rules without a type option (or with only negated types) still
apply to it, rules restricted to named types do not, because nothing says it is one of them.
"""

from __future__ import annotations

from collections.abc import Mapping

OTHER = 1 << 0
SCRIPT = 1 << 1
IMAGE = 1 << 2
STYLESHEET = 1 << 3
OBJECT = 1 << 4
XMLHTTPREQUEST = 1 << 5
SUBDOCUMENT = 1 << 6
DOCUMENT = 1 << 7
PING = 1 << 8
MEDIA = 1 << 9
FONT = 1 << 10
WEBSOCKET = 1 << 11
UNKNOWN = 1 << 12
ALL_TYPES = (1 << 13) - 1

# Names allowed in a rule's options, with the aliases uBlock Origin accepts.
OPTION_TYPES: dict[str, int] = {
    "other": OTHER,
    "script": SCRIPT,
    "image": IMAGE,
    "stylesheet": STYLESHEET,
    "css": STYLESHEET,
    "object": OBJECT,
    "object-subrequest": OBJECT,
    "xmlhttprequest": XMLHTTPREQUEST,
    "xhr": XMLHTTPREQUEST,
    "subdocument": SUBDOCUMENT,
    "frame": SUBDOCUMENT,
    "document": DOCUMENT,
    "doc": DOCUMENT,
    "ping": PING,
    "beacon": PING,
    "media": MEDIA,
    "font": FONT,
    "websocket": WEBSOCKET,
}

# Names a caller may pass as a request's type: the option names plus the browser
# extension API names (`main_frame`, `fetch`, ...) that test data and logs use.
REQUEST_TYPES: dict[str, int] = {
    **OPTION_TYPES,
    "main_frame": DOCUMENT,
    "sub_frame": SUBDOCUMENT,
    "fetch": XMLHTTPREQUEST,
    "imageset": IMAGE,
    "csp_report": OTHER,
    "webrtc": OTHER,
}


def request_type_bit(name: str | None) -> int:
    """The bit for a request type name; None is UNKNOWN and an unheard-of name is OTHER."""
    if name is None:
        return UNKNOWN
    return REQUEST_TYPES.get(name.lower(), OTHER)


_FETCH_DEST: dict[str, str] = {
    "document": "document",
    "iframe": "subdocument",
    "frame": "subdocument",
    "fencedframe": "subdocument",
    "script": "script",
    "worker": "script",
    "sharedworker": "script",
    "serviceworker": "script",
    "audioworklet": "script",
    "paintworklet": "script",
    "style": "stylesheet",
    "xslt": "stylesheet",
    "image": "image",
    "font": "font",
    "audio": "media",
    "video": "media",
    "track": "media",
    "object": "object",
    "embed": "object",
    "report": "other",
    "manifest": "other",
    "websocket": "websocket",
}

_ACCEPT_PREFIXES: tuple[tuple[str, str], ...] = (
    ("text/html", "document"),
    ("application/xhtml+xml", "document"),
    ("text/css", "stylesheet"),
    ("image/", "image"),
    ("font/", "font"),
    ("video/", "media"),
    ("audio/", "media"),
    ("application/javascript", "script"),
    ("text/javascript", "script"),
)
_ACCEPT_STARTS = tuple(prefix for prefix, _ in _ACCEPT_PREFIXES)

_EXTENSIONS: dict[str, str] = {
    **dict.fromkeys(("js", "mjs"), "script"),
    "css": "stylesheet",
    **dict.fromkeys(("png", "jpg", "jpeg", "gif", "webp", "avif", "svg", "ico", "bmp"), "image"),
    **dict.fromkeys(("woff", "woff2", "ttf", "otf", "eot"), "font"),
    **dict.fromkeys(("mp4", "webm", "mp3", "ogg", "oga", "wav", "m4a", "m3u8", "flac"), "media"),
    "swf": "object",
}


def infer_request_type(method: str, url: str, headers: Mapping[str, str]) -> str | None:
    """The ABP type a proxy can know from a request, or None when nothing says.

    Browsers send `Sec-Fetch-Dest`, which names the destination outright; older clients
    leave `Upgrade` and `Accept`; the path's extension is the last, weakest hint.
    """
    return infer_type_from_fields(method, url, {name.lower(): value for name, value in headers.items()})


def infer_type_from_fields(method: str, url: str, lowered: Mapping[str, str]) -> str | None:
    """`infer_request_type` for headers already keyed by lower-case name (as the proxy core has them)."""
    # Each field is looked up once and lower-cased only when present: most requests carry
    # few of these, and this runs for every one.
    upgrade = lowered.get("upgrade")
    if upgrade is not None and upgrade.lower() == "websocket":
        return "websocket"
    if "ping-to" in lowered or lowered.get("content-type", "").startswith("text/ping"):
        return "ping"
    dest = lowered.get("sec-fetch-dest")
    if dest:
        dest = dest.lower()
        found = _FETCH_DEST.get(dest)
        if found is not None:
            return found
        if dest == "empty":
            # fetch(), XMLHttpRequest and sendBeacon all say "empty"; a beacon is a POST of text.
            return "xmlhttprequest"
    accept = lowered.get("accept")
    if accept:
        accept = accept.lower()
        if accept.startswith(_ACCEPT_STARTS):
            for prefix, type_name in _ACCEPT_PREFIXES:
                if accept.startswith(prefix):
                    return type_name
    if "origin" in lowered and method.upper() == "POST":
        # A script's POST without a destination header: fetch() or XMLHttpRequest.
        return "xmlhttprequest"
    return _type_from_extension(url)


def _type_from_extension(url: str) -> str | None:
    # Few calls, as it runs for every request without a destination header (apps, wrk).
    path = url.partition("?")[0]
    if "#" in path:
        path = path.partition("#")[0]
    slash = path.rfind("/")
    dot = path.rfind(".")
    if dot <= slash:
        return None  # no dot in the last segment
    scheme_end = path.find("://")
    if scheme_end >= 0 and slash < scheme_end + 3:
        return None  # no path at all: the host's dots are not an extension
    return _EXTENSIONS.get(path[dot + 1:].lower())
