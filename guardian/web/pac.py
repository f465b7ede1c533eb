"""The proxy auto-configuration file served at /proxy.pac and /wpad.dat.

Everything goes through Guardian except plain local names (no dot: printers, the
router's name), `localhost`, `.local` mDNS names, and the settings page itself (so a
mistake in the proxy can always be fixed from a browser). Whether a device may go
`DIRECT` when the proxy does not answer is its profile's `pac_fallback`: "none" (the
browser shows an error instead of quietly going around the filter, which is what a
child would arrange otherwise) or "direct" (nobody loses the internet while Guardian is
down, at the price of unfiltered browsing meanwhile).

Values are checked before they are put into the script (they come from the validated
configuration, but the script is code, so nothing unchecked goes in).
"""

from __future__ import annotations

import json
import re

_SAFE_HOST = re.compile(r"^[A-Za-z0-9.:\-\[\]]+$")


def host_of(address: str) -> str:
    """'192.168.1.5:8080' -> '192.168.1.5', '[fd00::5]:8080' -> 'fd00::5'."""
    if address.startswith("["):
        return address[1:].split("]", 1)[0]
    return address.rsplit(":", 1)[0]


def pac_script(proxy_address: str, web_address: str, web_names: tuple[str, ...], fallback: str = "none") -> str:
    for value in (proxy_address, web_address, *web_names):
        if not _SAFE_HOST.match(value):
            raise ValueError(f"{value!r} cannot go into a PAC file")
    direct = sorted({host_of(web_address).lower(), *(name.lower() for name in web_names)})
    return (
        "// Guardian: send every request through the filtering proxy.\n"
        "function FindProxyForURL(url, host) {\n"
        "  host = host.toLowerCase();\n"
        '  if (isPlainHostName(host) || host === "localhost" || dnsDomainIs(host, ".local")) {\n'
        '    return "DIRECT";\n'
        "  }\n"
        f"  var settingsPage = {json.dumps(direct)};\n"
        "  for (var i = 0; i < settingsPage.length; i++) {\n"
        '    if (host === settingsPage[i]) { return "DIRECT"; }\n'
        "  }\n"
        f"  return {json.dumps('PROXY ' + proxy_address + ('; DIRECT' if fallback == 'direct' else ''))};\n"
        "}\n"
    )
