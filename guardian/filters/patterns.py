"""Turn a rule's pattern into a matcher, and pick the tokens it is indexed by.

Plain substrings and plain hosts need no matcher (`in` and the host tables do). For the
rest the engine builds one the first time a URL reaches the rule, so most are never
built: a `Glob` (string methods) where the pattern allows, else a regex compiled with RE2,
which matches in linear time whatever the URL (see linear_regex.py).

Tokens are runs of `[a-z0-9%]` in the lower-cased URL. A token of a pattern can index the
rule only when it is bounded on both sides (by a literal non-token character, `^`, or an
anchor): then any URL the rule matches holds it as a whole token, and a URL that lacks
it can skip the rule without looking.
"""

from __future__ import annotations

import re
from typing import Any

from .linear_regex import REGEX_URL_LIMIT, compile_linear, escape, required_literal
from .rules import END_ANCHOR, HOST_ANCHOR, MATCH_CASE, REGEX, START_ANCHOR

# `^` matches one character that is not a letter, digit or `_ - . %`, or the end of the URL.
_SEPARATOR = r"(?:[^A-Za-z0-9_.%-]|$)"
# `||`: after the scheme, at the start of the host or of one of its labels.
_HOST_START = r"^[a-z][a-z0-9+.-]*:(?://)?(?:[^/?#]*[.@])?"
_NOT_SEPARATORS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_.%-")
_HOST_PART_RE = re.compile(r"[a-z0-9._-]+")
# Runs of these in the lower-cased URL (and in patterns) are the tokens of the index.
TOKEN_RE = re.compile(r"[a-z0-9%]+")


def pattern_regex(flags: int, pattern: str) -> Any:
    """The compiled (RE2) regex for a rule's pattern (matched against the lower-cased URL
    unless the rule is `$match-case`)."""
    case_sensitive = bool(flags & MATCH_CASE)
    if flags & REGEX:
        return compile_linear(pattern, case_sensitive)
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
            parts.append(escape(piece))
    if flags & END_ANCHOR:
        parts.append("$")
    return compile_linear("".join(parts), case_sensitive)


def bounded_tokens(flags: int, pattern: str) -> list[str]:
    """Tokens of a (non-regex) pattern that any URL it matches must hold whole."""
    if flags & REGEX:
        return []
    text = pattern.lower()
    tokens = []
    for found in TOKEN_RE.finditer(text):
        start, end = found.span()
        left_bounded = text[start - 1] != "*" if start > 0 else bool(flags & (HOST_ANCHOR | START_ANCHOR))
        right_bounded = text[end] != "*" if end < len(text) else bool(flags & END_ANCHOR)
        if left_bounded and right_bounded:
            tokens.append(found.group())
    return tokens


class RegexMatcher:
    """A pattern no `Glob` can express, as a compiled RE2 regex. A list's own regex
    (`limit` set) sees only the first REGEX_URL_LIMIT characters of the URL. `literal`,
    a substring every match holds, lets most URLs skip the regex with one `in` test."""

    __slots__ = ("limit", "literal", "regex")

    def __init__(self, regex: Any, limit: int | None = None, literal: str = "") -> None:
        self.regex = regex
        self.limit = limit
        self.literal = literal

    def matches(self, url: str, host_start: int, host_end: int) -> bool:
        if self.literal and self.literal not in url:
            return False
        try:
            if self.limit is not None and len(url) > self.limit:
                # An end position, not a cut: `$` still means the URL's real end.
                return self.regex.search(url, 0, self.limit) is not None
            return self.regex.search(url) is not None
        except UnicodeEncodeError:  # a lone surrogate: RE2 reads UTF-8
            return self.matches(url.encode("utf-8", "replace").decode("utf-8"), host_start, host_end)


class Glob:
    """A pattern of literal pieces joined by `*`, matched with `str.startswith`/`str.find`.

    Building one costs a few microseconds where compiling a regex costs over a hundred, and
    most rules a browsing session reaches are of this shape: `||host/path`, `||host^*.js`,
    `|https://x/`, `/ads/*banner^`. `^` may only open the first piece (right after a host
    the rule names) or close the last; other patterns get a `RegexMatcher`.
    """

    __slots__ = (
        "end_anchor", "first_anchored", "host_part", "host_whole", "pieces", "skip_separator",
        "trailing_separator",
    )

    def __init__(self, flags: int, pattern: str, host_part: str, host_whole: bool, skip_separator: bool) -> None:
        self.host_part = host_part  # `||` rules: the hostname the pattern starts with
        self.host_whole = host_whole  # the host must end where host_part does
        # `||host^...`: after a whole host comes `:`, `/`, `?`, `#` or the end, so the `^`
        # always matches; it takes one character, or none at the end of the URL.
        self.skip_separator = skip_separator
        self.first_anchored = bool(flags & (HOST_ANCHOR | START_ANCHOR))
        self.end_anchor = bool(flags & END_ANCHOR)
        self.trailing_separator = pattern.endswith("^")
        self.pieces = (pattern[:-1] if self.trailing_separator else pattern).split("*")

    def matches(self, url: str, host_start: int, host_end: int) -> bool:
        host_part = self.host_part
        if not host_part:
            return self._match_from(url, 0)
        host = url[host_start:host_end]
        if self.host_whole:
            if host != host_part and not host.endswith("." + host_part):
                return False
            if self.skip_separator:
                if host_end == len(url):
                    return self.pieces == [""]
                host_end += 1
            return self._match_from(url, host_end)
        # The host part may end inside a label (`||ads*`): find the first label it starts.
        # The rest is empty or opens with `*`, so a match from a later label would also
        # match from this one: one try is enough (and keeps a long host linear).
        at = host.find(host_part)
        while at >= 0:
            if at == 0 or host[at - 1] == ".":
                return self._match_from(url, host_start + at + len(host_part))
            at = host.find(host_part, at + 1)
        return False

    def _match_from(self, url: str, position: int) -> bool:
        pieces = self.pieces
        last = len(pieces) - 1
        for number, piece in enumerate(pieces):
            if number == last:
                return self._last_piece(url, piece, position, number == 0 and self.first_anchored)
            if number == 0 and self.first_anchored:
                if not url.startswith(piece, position):
                    return False
                position += len(piece)
            else:
                found = url.find(piece, position)
                if found < 0:
                    return False
                position = found + len(piece)
        return True

    def _last_piece(self, url: str, piece: str, position: int, anchored: bool) -> bool:
        if self.end_anchor:  # (a trailing `^` with an end anchor is left to regexes)
            start = len(url) - len(piece)
            if anchored:
                return start == position and url.startswith(piece, position)
            return start >= position and url.endswith(piece)
        if anchored:
            found = position if url.startswith(piece, position) else -1
            return found >= 0 and (not self.trailing_separator or _separator_at(url, found + len(piece)))
        found = url.find(piece, position)
        while found >= 0:
            if not self.trailing_separator or _separator_at(url, found + len(piece)):
                return True
            found = url.find(piece, found + 1)
        return False


def _separator_at(url: str, position: int) -> bool:
    return position >= len(url) or url[position] not in _NOT_SEPARATORS


def _regex_matcher(flags: int, pattern: str) -> RegexMatcher:
    literal = max(pattern.replace("^", "*").split("*"), key=len)
    return RegexMatcher(pattern_regex(flags, pattern), None, literal if flags & MATCH_CASE else literal.lower())


def _literal(flags: int, source: str) -> str:
    """A list regex's required literal, in the form the URL it is matched against has."""
    literal = required_literal(source)
    if flags & MATCH_CASE:
        return literal
    # Case-insensitive rules see the lower-cased URL; outside ASCII, Python's lower() and
    # RE2's case folding can disagree, so no shortcut there.
    return literal.lower() if literal.isascii() else ""


def required_substring(flags: int, pattern: str) -> str:
    """A substring every URL the pattern matches holds, in the form the pattern is matched
    against (the lower-cased URL unless `$match-case`); "" when none is known. Lets the
    engine pass over a rule with one `in` test."""
    if flags & REGEX:
        return _literal(flags, pattern)
    # Outside regexes the pattern is already in that form (rules.py lower-cases it), and
    # what lies between `*` and `^` is matched literally.
    return max(pattern.replace("^", "*").split("*"), key=len)


def compile_pattern(flags: int, pattern: str) -> Glob | RegexMatcher:
    """The cheapest matcher for a rule's pattern."""
    if flags & REGEX:
        return RegexMatcher(pattern_regex(flags, pattern), REGEX_URL_LIMIT, _literal(flags, pattern))
    if flags & MATCH_CASE or (flags & END_ANCHOR and pattern.endswith("^")):
        return _regex_matcher(flags, pattern)
    host_part = ""
    host_whole = skip_separator = False
    rest = pattern
    if flags & HOST_ANCHOR:
        found = _HOST_PART_RE.match(pattern)
        host_part = found.group() if found else ""
        rest = pattern[len(host_part) :]
        if not host_part or (rest and rest[0] not in "*/^:?#"):
            return _regex_matcher(flags, pattern)
        host_whole = bool(rest) and rest[0] != "*"
        if rest.startswith("^"):
            skip_separator = True
            rest = rest[1:]
    if "^" in rest[:-1]:
        return _regex_matcher(flags, pattern)
    return Glob(flags, rest, host_part, host_whole, skip_separator)
