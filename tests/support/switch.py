"""A decider whose rules change when a test says so: everything allowed until `block` is set."""

from __future__ import annotations

from guardian.proxy.hooks import ALLOW, RequestInfo, Verdict


class Switch:
    """Allows everything until `block` is set; re-decides open connections like the policy does."""

    def __init__(self) -> None:
        self.block = False

    def decide(self, request: RequestInfo) -> Verdict:
        return Verdict(allowed=False, body=b"blocked") if self.block else ALLOW

    def still_allowed(self, request: RequestInfo) -> bool:
        return not self.block
