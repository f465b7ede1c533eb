"""Whether Guardian sees the whole address of an HTTPS request for a profile and site.

Without HTTPS inspection, Guardian sees only the site name of an https:// request (the
host inside the CONNECT), so rules with a page part cannot apply to it. Every
explanation (the rule explanation, the tester, the why page, `guardian check`) asks
this one question before saying what an https:// address gets, and `decide()` asks it
before telling the proxy core to decrypt a tunnel: a profile's `inspect_https` ("hosts"
with its `inspect_hosts`, or "all"), minus the `[https] bypass` list, which always wins.
"""

from __future__ import annotations

from collections.abc import Collection

from guardian.config import ProfileConfig
from guardian.tls.bypass import DEFAULT_BYPASS, bypass_match

_DEFAULT_BYPASS = frozenset(DEFAULT_BYPASS)


def inspection_of(mode: str, inspect_hosts: Collection[str], host: str,
                  bypass: Collection[str]) -> tuple[bool, bool]:
    """(decrypted?, left alone because of the bypass list?) for `host` under a profile's
    `inspect_https` mode and hosts. The collections are sets of host names."""
    if mode == "off" or (mode == "hosts" and bypass_match(host, inspect_hosts) is None):
        return False, False
    if bypass_match(host, bypass) is not None:
        return False, True
    return True, False


def inspects_https(profile: ProfileConfig | None, host: str, bypass: Collection[str] | None = None) -> bool:
    """True when requests to `host` over HTTPS are decrypted for `profile`, so their
    full address is decided like a plain-HTTP one. `bypass`: the configured
    `[https] bypass` (the shipped list when not given)."""
    if profile is None or profile.inspect_https == "off":
        return False
    name = host.rstrip(".").lower()
    return inspection_of(profile.inspect_https, frozenset(profile.inspect_hosts), name,
                         _DEFAULT_BYPASS if bypass is None else bypass)[0]
