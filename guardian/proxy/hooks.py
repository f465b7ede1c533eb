"""The two places where the rest of Guardian plugs into the proxy core.

The core parses and frames HTTP; it knows nothing of lists, devices or schedules. For
every request (and every CONNECT) it builds a `RequestInfo` and asks one `decide()`;
once the exchange is over it hands one `RequestRecord` to `record()`. Policy, the
block page, safe search, the access log and the SQLite log all live behind these two
calls.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from guardian.records import RequestRecord


@dataclass(slots=True)
class RequestInfo:
    client_ip: str
    method: str  # "CONNECT" for a tunnel
    scheme: str  # "http", or "https" for CONNECT
    host: str  # lower-case, no brackets for IPv6
    port: int
    target: str  # path and query; "" for CONNECT
    headers: dict[str, str] = field(default_factory=dict)  # lower-case name -> value (repeats joined)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 80 if self.scheme == "http" else 443
        netloc = host if self.port == default else f"{host}:{self.port}"
        return f"{self.scheme}://{netloc}{self.target or '/'}"

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class Edits(Protocol):
    """Changes policy asks for on an allowed request, at three fixed points of the exchange."""

    @property
    def judges_responses(self) -> bool:
        """False: `response_verdict` never blocks, so the core need not ask."""
        ...

    def request_headers(self, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """The headers to send upstream, given the ones the core would send."""
        ...

    def response_verdict(self, fields: Mapping[str, str]) -> Verdict | None:
        """A blocked Verdict to answer instead of the response with this head (lower-case
        names), or None to let it through. The response body is then never relayed."""
        ...

    def response_headers(self, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """The response headers to send to the client."""
        ...


@dataclass(slots=True)
class Verdict:
    """What to do with one request. Blocked: the core sends `status`, `headers`, `body`
    and nothing goes upstream. Allowed: the core forwards, connecting to `connect_host`
    (resolved instead of the requested host, which is kept in the request: safe search)
    and sending `target` instead of the client's when set, with `edits` applied to the
    request's and response's headers when set. A `trusted` Verdict names an address the
    decider vouches for (`connect_host`, `connect_port`).

    The core only reads a Verdict: deciders may hand out the same one (and the same
    header list) to many requests."""

    allowed: bool
    status: int = 403
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    connect_host: str | None = None
    # Set by the decider for an address of its own (Guardian's settings page): the core
    # connects there, to `connect_port`, without the destination check and past the cache.
    connect_port: int | None = None
    trusted: bool = False
    target: str | None = None
    device: str | None = None
    profile: str | None = None
    reason: str | None = None
    rule: str | None = None
    list_id: str | None = None
    schedule: str | None = None
    edits: Edits | None = None
    # Set for a service under a time limit: call with (Unix time, bytes a tunnel moved in
    # that minute so far) while the connection is open; the decider counts the minute.
    activity: Callable[[float, int | None], None] | None = None
    # CONNECT only: "page" = a blocked tunnel may be answered inside TLS with Guardian's certificate
    intercept: str | None = None


ALLOW = Verdict(allowed=True)


class Decider(Protocol):
    def decide(self, request: RequestInfo) -> Verdict: ...


class Recorder(Protocol):
    def record(self, record: RequestRecord) -> None: ...


class AllowAll:
    """The decider for a bare proxy core: everything allowed, nothing said."""

    def decide(self, request: RequestInfo) -> Verdict:
        return ALLOW
