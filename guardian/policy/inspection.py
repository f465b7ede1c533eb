"""Whether Guardian sees the whole address of an HTTPS request for a profile and site.

Without HTTPS inspection, Guardian sees only the site name of an https:// request (the
host inside the CONNECT), so rules with a page part cannot apply to it. Every
explanation (the rule explanation, the tester, the why page, `guardian check`) asks
this one question before saying what an https:// address gets; HTTPS inspection
answers True here for the sites it decrypts.
"""

from __future__ import annotations

from guardian.config import ProfileConfig


def inspects_https(profile: ProfileConfig | None, host: str) -> bool:
    """True when requests to `host` over HTTPS are decrypted for `profile`, so their
    full address is decided like a plain-HTTP one. No inspection exists yet."""
    return False
