"""Turn a rule's pattern into a regular expression, and pick the tokens it is indexed by.

Only rules that are not a plain substring or a plain host need a regex, and the engine
compiles one the first time a URL reaches that rule, so most of the list's regexes are
never built.

Tokens are runs of `[a-z0-9%]` in the lower-cased URL. A token of a pattern can index the
rule only when it is bounded on both sides (by a literal non-token character, `^`, or an
anchor): then any URL the rule matches holds it as a whole token, and a URL that lacks
it can skip the rule without looking.
"""

from __future__ import annotations

import re

from .rules import END_ANCHOR, HOST_ANCHOR, MATCH_CASE, REGEX, START_ANCHOR

# `^` matches one character that is not a letter, digit or `_ - . %`, or the end of the URL.
_SEPARATOR = r"(?:[^A-Za-z0-9_.%-]|$)"
# `||`: after the scheme, at the start of the host or of one of its labels.
_HOST_START = r"^[a-z][a-z0-9+.-]*:(?://)?(?:[^/?#]*[.@])?"
TOKEN_RE = re.compile(r"[a-z0-9%]+")
_PATTERN_TOKEN_RE = re.compile(r"[a-z0-9%]+")


def pattern_regex(flags: int, pattern: str) -> re.Pattern[str]:
    """The compiled regex for a rule's pattern (matched against the lower-cased URL
    unless the rule is `$match-case`)."""
    regex_flags = 0 if flags & MATCH_CASE else re.IGNORECASE
    if flags & REGEX:
        return re.compile(pattern, regex_flags)
    parts = []
    if flags & HOST_ANCHOR:
        parts.append(_HOST_START)
    elif flags & START_ANCHOR:
        parts.append("^")
    for piece in re.split(r"([*^])", pattern):
        if piece == "*":
            parts.append(".*")
        elif piece == "^":
            parts.append(_SEPARATOR)
        elif piece:
            parts.append(re.escape(piece))
    if flags & END_ANCHOR:
        parts.append("$")
    return re.compile("".join(parts), regex_flags)


def bounded_tokens(flags: int, pattern: str) -> list[str]:
    """Tokens of a (non-regex) pattern that any URL it matches must hold whole."""
    if flags & REGEX:
        return []
    text = pattern.lower()
    tokens = []
    for found in _PATTERN_TOKEN_RE.finditer(text):
        start, end = found.span()
        left_bounded = text[start - 1] != "*" if start > 0 else bool(flags & (HOST_ANCHOR | START_ANCHOR))
        right_bounded = text[end] != "*" if end < len(text) else bool(flags & END_ANCHOR)
        if left_bounded and right_bounded:
            tokens.append(found.group())
    return tokens
