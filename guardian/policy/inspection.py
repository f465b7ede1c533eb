"""Whether Guardian sees the whole address of an HTTPS request for a profile and site.

Without HTTPS inspection, Guardian sees only the site name of an https:// request (the
host inside the CONNECT), so rules with a page part cannot apply to it. Every
explanation (the rule explanation, the tester, the why page, `guardian check`) and the
policy itself ask this one question before saying or deciding what an https:// address
gets (docs/https.md: `inspect_https`, `inspect_hosts`, `[https] bypass`).
"""

from __future__ import annotations

from collections.abc import Collection

from guardian.config import ProfileConfig
from guardian.tls.bypass import bypass_match


def inspection(mode: str, hosts: frozenset[str], bypass: frozenset[str], host: str) -> tuple[bool, str | None]:
    """(inspected?, why not in words when the never-decrypt list says no) for a profile
    whose `inspect_https` is `mode` ("off" | "hosts" | "all") with `inspect_hosts` `hosts`."""
    if mode == "off":
        return False, None
    if mode == "hosts" and bypass_match(host, hosts) is None:
        return False, None
    if bypass_match(host, bypass) is not None:
        return False, "Not inspected: on the list of sites Guardian never decrypts"
    return True, None


def inspects_https(profile: ProfileConfig | None, host: str, bypass: Collection[str] = ()) -> bool:
    """True when requests to `host` over HTTPS are decrypted for `profile`, so their full
    address is decided like a plain-HTTP one. `bypass` is the `[https] bypass` list."""
    if profile is None:
        return False
    return inspection(profile.inspect_https, frozenset(profile.inspect_hosts), frozenset(bypass),
                      host.rstrip(".").lower())[0]
