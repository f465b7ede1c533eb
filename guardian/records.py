"""The per-request record: what the proxy core reports once a request or tunnel is over.

The proxy core fills one `RequestRecord` per request (or CONNECT tunnel) and hands it to
its recorder; the access log and the SQLite log store read the same object. Nothing in
here knows how or where records are stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Action = Literal["allowed", "blocked", "cached", "error"]
ErrorKind = Literal["timeout", "dns", "refused", "bad_request", "denied", "upstream", "client"]


@dataclass(slots=True)
class RequestRecord:
    started: float  # Unix time the request head was complete
    duration_ms: float
    client_addr: str
    method: str  # "CONNECT" for tunnels
    scheme: str  # "http", or "https" for a CONNECT tunnel
    host: str
    port: int
    target: str  # path and query ("" for a tunnel)
    status: int  # status sent to the client (0 when none was sent)
    bytes_from_client: int = 0
    bytes_to_client: int = 0
    action: Action = "allowed"
    device: str | None = None
    profile: str | None = None
    reason: str | None = None  # words for a block or an error
    rule: str | None = None
    list_id: str | None = None
    schedule: str | None = None
    error_kind: ErrorKind | None = None
    cache: str | None = None  # "HIT", "MISS", "REVALIDATED" or None
    upstream_addr: str | None = None  # the address actually connected to
    content_type: str | None = None  # of the response sent to the client
