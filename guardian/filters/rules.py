"""Parse one Adblock Plus / uBlock Origin line into a network rule, or say why not.

A line is one of four things: a `NetworkRule` the engine can apply, `Skipped` (a
comment, a cosmetic or scriptlet rule, a directive, or a network rule whose only effect
is outside a proxy's reach such as `$popup`, `$csp` or `$redirect-rule`), `Invalid` (syntax
the engine cannot read or an option it does not support), or `Refused` (a rule that would
be unsafe to apply: a regex that needs backtracking; index.py refuses more). Skipped,
invalid and refused lines are counted by the list's parse report; none of them stops a
list from loading.

A rule is reduced to plain data (flags and a type mask as ints, the pattern as a string,
`$domain=` as a dict) so the built index can be marshalled to disk and loaded back fast.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from .linear_regex import refusal as regex_refusal
from .request_types import ALL_TYPES, OPTION_TYPES, UNKNOWN

EXCEPTION = 1 << 0
IMPORTANT = 1 << 1
THIRD_PARTY = 1 << 2  # applies to third-party requests only
FIRST_PARTY = 1 << 3  # applies to first-party requests only
MATCH_CASE = 1 << 4
REGEX = 1 << 5  # pattern is a regular expression's source
HOST_ANCHOR = 1 << 6  # `||`: pattern starts at a label of the URL's host
START_ANCHOR = 1 << 7  # `|` at the start: pattern starts the URL
END_ANCHOR = 1 << 8  # `|` at the end: pattern ends the URL
PLAIN = 1 << 9  # a bare substring: no anchor, `*` or `^`
HAS_INCLUDES = 1 << 10  # `$domain=` names at least one domain the rule is for
HAS_ENTITIES = 1 << 11  # `$domain=` has a `name.*` entry
BADFILTER = 1 << 12

PARTY_FLAGS = THIRD_PARTY | FIRST_PARTY


class NetworkRule(NamedTuple):
    raw: str
    flags: int
    types: int  # mask of request_types bits the rule applies to
    pattern: str  # lower-cased unless MATCH_CASE; without anchors
    domains: dict[str, bool] | None  # `$domain=` entry -> included (True) or excluded
    host: str | None  # set when the whole pattern is `||host^`: the rule is about a host


class Skipped(NamedTuple):
    reason: str


class Invalid(NamedTuple):
    reason: str


class Refused(NamedTuple):
    """Readable, but applying it could freeze or switch off filtering."""

    reason: str


ParsedLine = NetworkRule | Skipped | Invalid | Refused

# `example.com##.ad`, `#@#`, `#?#`, `#$#`, `#%#`, `$$`, `$@$` with an optional list of
# domains before the marker. A network rule's `#` has a `/`, `|` or `^` before it.
_COSMETIC_RE = re.compile(r"^[^\s/|^#$@]*(#@?(?:\$\?|[?$%])?#|\$@?\$)")
_COSMETIC_REASONS = {
    "##": "cosmetic", "#@#": "cosmetic", "#?#": "cosmetic", "#@?#": "cosmetic",
    "#$#": "scriptlet or style injection", "#@$#": "scriptlet or style injection",
    "#$?#": "scriptlet or style injection", "#@$?#": "scriptlet or style injection",
    "#%#": "scriptlet or style injection", "#@%#": "scriptlet or style injection",
    "$$": "html filter", "$@$": "html filter",
}
_PLAIN_HOST_RE = re.compile(r"\|\|([a-z0-9_-]+(?:\.[a-z0-9_-]+)*)\^")
_OPTION_NAME_RE = re.compile(r"~?[a-z0-9_-]+")
_DOMAIN_ENTRY_RE = re.compile(r"~?[^\s~|/,*]+(?:\.\*)?")

# Options with no meaning for a proxy: the rule is skipped, not counted as an error.
_NO_PROXY_MEANING = frozenset({
    "popup", "popunder", "generichide", "ghide", "elemhide", "ehide", "specifichide", "shide",
    "genericblock", "csp", "removeparam", "rewrite", "cname", "inline-script", "inline-font",
})
# `$redirect=` blocks and names a replacement (the extension's job); a proxy only blocks.
_BLOCKING_REDIRECTS = frozenset({"redirect", "empty", "mp4"})


def parse_line(line: str) -> ParsedLine:
    """Classify one line of an Adblock Plus list (the text of a single rule)."""
    text = line.strip()
    if not text:
        return Skipped("blank")
    first = text[0]
    if first == "!":
        directive = text.startswith(("!#if", "!#endif", "!#else", "!#include"))
        return Skipped("directive" if directive else "comment")
    if first == "[" and text.endswith("]"):
        return Skipped("comment")
    if "#" in text or "$$" in text or "$@$" in text:
        marker = _COSMETIC_RE.match(text)
        if marker is not None:
            kind = marker.group(1)
            if kind == "##" and text.startswith(("+js(", "^"), marker.end()):
                return Skipped("scriptlet or style injection" if text[marker.end()] == "+" else "html filter")
            return Skipped(_COSMETIC_REASONS[kind])
        if first == "#":
            return Skipped("comment")
    return parse_network_rule(text)


def is_cosmetic(text: str) -> bool:
    """Whether a stripped line is a cosmetic, scriptlet or HTML rule (`example.com##.ad`)."""
    return _COSMETIC_RE.match(text) is not None


def parse_network_rule(text: str) -> ParsedLine:
    """Parse a network rule (`||host^$opts`, `@@...`, `/regex/$opts`, `pattern`)."""
    plain_host = _PLAIN_HOST_RE.fullmatch(text)
    if plain_host is not None:
        # The common case by far; the general path below gives the same answer, slower.
        host = plain_host.group(1)
        return NetworkRule(text, HOST_ANCHOR, ALL_TYPES, host + "^", None, host)
    flags = 0
    body = text
    if body.startswith("@@"):
        flags |= EXCEPTION
        body = body[2:]
    pattern, options = _split_options(body)
    if pattern is None:
        return Invalid("regular expression without closing /")
    types = ALL_TYPES
    domains: dict[str, bool] | None = None
    if options is not None:
        parsed = _parse_options(options, bool(flags & EXCEPTION))
        if isinstance(parsed, Skipped | Invalid):
            return parsed
        option_flags, types, domains = parsed
        flags |= option_flags
    if pattern.startswith("/") and pattern.endswith("/") and len(pattern) > 2:
        source = pattern[1:-1]
        try:
            re.compile(source, 0 if flags & MATCH_CASE else re.IGNORECASE)
        except re.error as error:
            return Invalid(f"regular expression does not compile: {error}")
        refused = regex_refusal(source, bool(flags & MATCH_CASE))
        if refused is not None:
            return Refused(refused)
        return NetworkRule(text, flags | REGEX, types, source, domains, None)
    return _pattern_rule(text, flags, types, pattern, domains)


def _split_options(body: str) -> tuple[str | None, str | None]:
    """(pattern, options) of a rule body; a regex rule's own `$` belongs to the regex."""
    if body.startswith("/"):
        close = body.rfind("/")
        if close > 0 and close == len(body) - 1:
            return body, None
        if close > 0 and body[close + 1] == "$":
            return body[: close + 1], body[close + 2 :]
    dollar = body.rfind("$")
    if dollar < 0:
        return body, None
    return body[:dollar], body[dollar + 1 :]


def _parse_options(options: str, exception: bool) -> tuple[int, int, dict[str, bool] | None] | Skipped | Invalid:
    flags = 0
    included_types = 0
    excluded_types = 0
    domains: dict[str, bool] | None = None
    popup = False
    for option in options.split(","):
        name, _, value = option.strip().partition("=")
        name = name.lower()
        if not _OPTION_NAME_RE.fullmatch(name):
            return Invalid(f"malformed option {option!r}")
        negated = name.startswith("~")
        bare = name[1:] if negated else name
        if bare in OPTION_TYPES:
            if negated:
                excluded_types |= OPTION_TYPES[bare]
            else:
                included_types |= OPTION_TYPES[bare]
        elif name in ("third-party", "3p", "~first-party", "~1p"):
            flags |= THIRD_PARTY
        elif name in ("first-party", "1p", "~third-party", "~3p"):
            flags |= FIRST_PARTY
        elif name in ("domain", "from"):
            domains = _parse_domains(value)
            if domains is None:
                return Invalid(f"unsupported $domain= value {value!r}")
        elif name == "all":
            included_types |= ALL_TYPES & ~UNKNOWN
        elif name == "important":
            flags |= IMPORTANT
        elif name == "badfilter":
            flags |= BADFILTER
        elif name == "match-case":
            flags |= MATCH_CASE
        elif name == "popup":
            popup = True
        elif name in _BLOCKING_REDIRECTS:
            # An exception's `$redirect=` only cancels the redirect, never the block.
            if exception:
                return Skipped("$redirect exception")
        elif bare == "redirect-rule":
            # uBlock Origin redirects with it only what another rule blocks; it never
            # blocks by itself, and its exception cancels the redirect alone.
            return Skipped("$redirect-rule")
        elif bare in _NO_PROXY_MEANING:
            return Skipped(f"${bare}")
        else:
            return Invalid(f"unsupported option ${name}")
    if popup and not included_types:
        return Skipped("$popup")
    if flags & PARTY_FLAGS == PARTY_FLAGS:
        return Invalid("both $third-party and $first-party")
    types = (included_types or ALL_TYPES) & ~excluded_types
    if not types:
        return Invalid("no request type left")
    if domains is not None:
        if any(domains.values()):
            flags |= HAS_INCLUDES
        if any(entry.endswith(".*") for entry in domains):
            flags |= HAS_ENTITIES
    return flags, types, domains


def _parse_domains(value: str) -> dict[str, bool] | None:
    domains: dict[str, bool] = {}
    for entry in value.lower().split("|"):
        if not _DOMAIN_ENTRY_RE.fullmatch(entry):
            return None
        if entry.startswith("~"):
            domains[entry[1:]] = False
        else:
            domains[entry] = True
    return domains or None


def _pattern_rule(
    text: str, flags: int, types: int, pattern: str, domains: dict[str, bool] | None
) -> NetworkRule:
    if pattern.startswith("||"):
        flags |= HOST_ANCHOR
        pattern = pattern[2:]
    elif pattern.startswith("|"):
        flags |= START_ANCHOR
        pattern = pattern[1:]
    if pattern.endswith("|") and not pattern.endswith("\\|"):
        flags |= END_ANCHOR
        pattern = pattern[:-1]
    # A `*` at either end matches anything, so it cancels the anchor on that side.
    if pattern.startswith("*"):
        flags &= ~(HOST_ANCHOR | START_ANCHOR)
        pattern = pattern.lstrip("*")
    if pattern.endswith("*"):
        flags &= ~END_ANCHOR
        pattern = pattern.rstrip("*")
    if not flags & MATCH_CASE:
        pattern = pattern.lower()
    if not flags & (HOST_ANCHOR | START_ANCHOR | END_ANCHOR) and "*" not in pattern and "^" not in pattern:
        flags |= PLAIN
    host = None
    if flags & HOST_ANCHOR and not flags & END_ANCHOR and pattern.endswith("^"):
        candidate = pattern[:-1]
        if _PLAIN_HOST_RE.fullmatch(f"||{candidate}^"):
            host = candidate
    return NetworkRule(text, flags, types, pattern, domains, host)


def twin_key(rule: NetworkRule) -> str:
    """What a `$badfilter` rule and the rule it cancels have in common: the rule text with
    `badfilter` taken out of its options and the options put in order."""
    raw = rule.raw
    if "$" not in raw:
        return raw
    body, options = _split_options(raw)
    if options is None:
        return raw
    kept = sorted(option for option in (part.strip().lower() for part in options.split(",")) if option != "badfilter")
    return f"{body}${','.join(kept)}" if kept else str(body)


def check_rule(text: str) -> tuple[bool, str]:
    """Validate one rule as a parent types it: (usable, explanation or error)."""
    parsed = parse_line(text)
    if isinstance(parsed, Invalid | Refused):
        return False, parsed.reason
    if isinstance(parsed, Skipped):
        return False, f"ignored by the proxy ({parsed.reason})"
    return True, describe(parsed)


def describe(rule: NetworkRule) -> str:
    """A short English account of what a rule does."""
    verb = "allows" if rule.flags & EXCEPTION else "blocks"
    if rule.host is not None:
        what = f"{rule.host} and its subdomains"
    elif rule.flags & REGEX:
        what = f"URLs matching the regular expression {rule.pattern}"
    else:
        what = f"URLs matching {rule.raw.split('$', 1)[0].removeprefix('@@')}"
    details = []
    if rule.flags & IMPORTANT:
        details.append("overrides exceptions")
    if rule.flags & THIRD_PARTY:
        details.append("third-party requests only")
    if rule.flags & FIRST_PARTY:
        details.append("first-party requests only")
    if rule.types != ALL_TYPES:
        details.append("some request types only")
    if rule.domains:
        details.append("on some sites only")
    if rule.flags & BADFILTER:
        return f"cancels the rule {twin_key(rule)}"
    return f"{verb} {what}" + (f" ({', '.join(details)})" if details else "")
