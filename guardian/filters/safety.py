"""Rules one list may not carry because they would switch off every other list.

Exceptions and `$badfilter`s apply across lists (see docs/filters.md), so one careless or
hostile list with `@@||com^` or `@@*` would allow everything the household's other lists
block. An exception or `$badfilter` whose reach is a whole top-level domain or public
suffix, or everything, is refused: the list loads without it, and its parse report says
which line and why.

Reach is tested, not guessed from the text: the rule's own matcher is tried on the root
page of a made-up site under a few common suffixes, and under the suffix the rule names
when it names one. A rule that matches such a page matches every site under that suffix.
An included `$domain=` narrower than a public suffix keeps the rule on those sites only,
so it is accepted.
"""

from __future__ import annotations

from .domains import public_suffixes, url_host_span
from .linear_regex import LinearRegexError
from .patterns import compile_pattern
from .rules import BADFILTER, EXCEPTION, HOST_ANCHOR, NetworkRule

_PROBE_LABEL = "guardian-reach-probe"
_PROBE_SUFFIXES = ("com", "net", "org", "de", "co.uk", "example")


def too_broad(rule: NetworkRule) -> str | None:
    """Why an exception or `$badfilter` is refused, or None (also for blocking rules)."""
    if not rule.flags & (EXCEPTION | BADFILTER):
        return None
    if rule.domains and any(
        # `name.*` is one entity (name.com, name.de, ...): narrow, though `name` is one label.
        included and (entry.endswith(".*") or not public_suffixes.is_suffix(entry))
        for entry, included in rule.domains.items()
    ):
        return None
    host = _host_part(rule)
    if host and "." in host.strip(".") and not public_suffixes.is_suffix(host):
        return None  # `@@||cdn.example/...` (most exceptions): confined to that name
    named = host if host and public_suffixes.is_suffix(host) else None
    suffixes = (named, *_PROBE_SUFFIXES) if named else _PROBE_SUFFIXES
    try:
        matcher = compile_pattern(rule.flags, rule.pattern)
    except LinearRegexError:
        return None  # refused earlier as a regex RE2 cannot run
    reached = [suffix for suffix in suffixes if any(
        matcher.matches(url, *url_host_span(url)[1:])
        for url in (f"https://{_PROBE_LABEL}.{suffix}/", f"http://{_PROBE_LABEL}.{suffix}/")
    )]
    if not reached:
        return None
    kind = "an exception" if rule.flags & EXCEPTION else "a $badfilter"
    where = "every site" if set(_PROBE_SUFFIXES) <= set(reached) else f"every site under .{reached[0]}"
    return f"{kind} that reaches {where}, which would switch off the other lists"


def _host_part(rule: NetworkRule) -> str:
    """The host name a `||` rule starts with (`||co.uk^` -> co.uk), "" for other rules."""
    if not rule.flags & HOST_ANCHOR:
        return ""
    host = rule.host
    if host is None:
        end = 0
        while end < len(rule.pattern) and (rule.pattern[end].isalnum() or rule.pattern[end] in "-_."):
            end += 1
        host = rule.pattern[:end]
    return host.strip(".").lower()
