"""Hosts files, plain domain lists, and telling them apart from Adblock Plus lists.

Both formats name hosts to block outright, so each host becomes the rule `||host^`. Hosts
files carry an address before the names (`0.0.0.0 ads.example`), several names per line,
and `#` comments anywhere; the names a system's own hosts file lists (`localhost`,
`broadcasthost`, ...) and addresses in the name column are not targets.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .rules import is_cosmetic

FORMATS = ("auto", "abp", "hosts", "domains")

_ADDRESS_RE = re.compile(r"(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9a-f]*:[0-9a-f:.%a-z]*)", re.IGNORECASE)
_HOSTNAME_RE = re.compile(r"(?:[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?\.)*[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?")
_NOT_TARGETS = frozenset({
    "localhost", "localhost.localdomain", "local", "broadcasthost", "ip6-localhost",
    "ip6-loopback", "ip6-localnet", "ip6-mcastprefix", "ip6-allnodes", "ip6-allrouters",
    "ip6-allhosts", "0.0.0.0",
})
_SAMPLE_LINES = 500


def hostname(text: str) -> str | None:
    """`text` as a lower-case hostname, or None if it is not one."""
    name = text.lower().rstrip(".")
    if len(name) > 253 or not _HOSTNAME_RE.fullmatch(name):
        return None
    return name


def hosts_line(line: str) -> tuple[list[str], str | None]:
    """(hosts named, error) for one hosts-file line; comments and blanks give ([], None)."""
    text = line.split("#", 1)[0].strip()
    if not text:
        return [], None
    fields = text.split()
    if not _ADDRESS_RE.fullmatch(fields[0]):
        # A bare name in a hosts file: some published lists mix the two formats.
        return domain_line(text)
    names = []
    for field in fields[1:]:
        if field.lower() in _NOT_TARGETS or _ADDRESS_RE.fullmatch(field):
            continue
        name = hostname(field)
        if name is None:
            return [], f"not a hostname: {field!r}"
        names.append(name)
    return names, None


def domain_line(line: str) -> tuple[list[str], str | None]:
    """(hosts named, error) for one line of a domain-per-line list."""
    text = line.split("#", 1)[0].strip()
    if not text or text.startswith("!"):
        return [], None
    # `*.example.com` and `||example.com^` both mean the domain and everything under it.
    if text.startswith("*."):
        text = text[2:]
    elif text.startswith("||") and text.endswith("^"):
        text = text[2:-1]
    if " " in text or "\t" in text:
        return [], f"more than one field: {text!r}"
    if is_cosmetic(line.strip()):
        # `example.com##.ad` hides an element on example.com; it does not block the site.
        return [], f"a cosmetic rule, not a host name: {line.strip()!r}"
    name = hostname(text)
    if name is None:
        return [], f"not a hostname: {text!r}"
    if name in _NOT_TARGETS:
        return [], None
    return [name], None


def _looks_like_a_site(text: str) -> bool:
    """A web host name as domain lists write them: `ads.example.com`, not the ABP
    substring rules `_120x60.` or `_chartbeat.js` that a host name's grammar also admits."""
    return (
        "." in text.strip(".") and not text.endswith(".") and text[0] not in "_-." and hostname(text) is not None
    )


def detect_format(lines: Iterable[str]) -> str:
    """"hosts", "domains" or "abp", by a vote of the first few hundred rule lines."""
    votes = {"hosts": 0, "domains": 0, "abp": 0}
    seen = 0
    for line in lines:
        text = line.strip()
        if not text or text[0] in "#!":
            if text.startswith("[Adblock") or text.startswith("! Title:"):
                return "abp"
            continue
        if text[0] == "[":
            return "abp"
        fields = text.split("#", 1)[0].split()
        if is_cosmetic(text):
            # `example.com##.ad` starts with a host name, but only ABP lists carry it.
            votes["abp"] += 1
        elif len(fields) >= 2 and _ADDRESS_RE.fullmatch(fields[0]):
            votes["hosts"] += 1
        elif len(fields) == 1 and _looks_like_a_site(fields[0]):
            votes["domains"] += 1
        else:
            votes["abp"] += 1
        seen += 1
        if seen >= _SAMPLE_LINES:
            break
    if not seen:
        return "abp"
    return max(votes, key=lambda name: votes[name])
