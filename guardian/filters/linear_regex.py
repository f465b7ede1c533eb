"""Regular expressions that run in time linear in the URL: RE2 (google-re2).

Python's `re` backtracks: one list rule such as `/(a+)+$/` or `.*\\/.*\\/` can spend
seconds on one crafted URL while holding the GIL, and every other request waits. RE2 runs
any expression it accepts in linear time; it refuses back-references and look-arounds,
and a list rule that needs them is refused with the parse report saying why.

Regex rules look for a match in the first `REGEX_URL_LIMIT` characters of a URL only (an
end position, so `$` still means the URL's end): real list regexes describe a URL's
scheme, host and path, and the bound keeps a rule's worst case fixed whatever the caller
passes in.
"""

from __future__ import annotations

import re

import re2

REGEX_URL_LIMIT = 4096

LinearRegexError = re2.error
escape = re2.escape
_CASE_FLAG_RE = re.compile(r"\(\?[a-zA-Z-]*i")


def compile_linear(source: str, case_sensitive: bool) -> re2._Regexp:
    """Compile with RE2; raises LinearRegexError when RE2 cannot run `source`."""
    options = re2.Options()
    options.case_sensitive = case_sensitive
    options.never_capture = True  # only "does it match" is asked
    options.log_errors = False  # a refused list rule is reported, not logged to stderr by C++
    return re2.compile(source, options)


def refusal(source: str, case_sensitive: bool) -> str | None:
    """Why a list's regular expression is refused, or None when RE2 can run it."""
    try:
        compile_linear(source, case_sensitive)
    except LinearRegexError as error:
        detail = error.args[0] if error.args else error
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", "replace")
        return f"regular expression that cannot run in linear time ({detail})"
    return None


def required_literal(source: str) -> str:
    """The longest run of plain characters every match of `source` must contain, or "".

    A cheap `in` test with it skips most URLs before RE2 is asked (each RE2 call costs a
    microsecond or so of binding overhead). Read conservatively: only the top level counts
    (groups, classes and alternatives are skipped), and a character followed by a
    quantifier that allows zero of it ends the run without joining it.
    """
    if _CASE_FLAG_RE.search(source):
        return ""  # `(?i)` changes what a literal means
    best = run = ""
    i, n = 0, len(source)
    while i < n:
        char = source[i]
        literal = None
        if char == "\\" and i + 1 < n:
            escaped = source[i + 1]
            literal = escaped if not escaped.isalnum() else None
            i += 2
        elif char == "|":
            return ""  # an alternative at the top level: nothing is required
        elif char == "(":
            i = _skip_group(source, i)
        elif char == "[":
            i = _skip_class(source, i)
        elif char in ".^$":
            i += 1
        elif char in "?*+{":
            i = _skip_quantifier(source, i)
        else:
            literal = char
            i += 1
        if literal is None:
            best, run = max(best, run, key=len), ""
            continue
        following = source[i] if i < n else ""
        if following in ("?", "*", "{"):
            best, run = max(best, run, key=len), ""  # zero repeats allowed: not required
        elif following == "+":
            best, run = max(best, run + literal, key=len), ""
        else:
            run += literal
    return max(best, run, key=len)


def _skip_group(source: str, i: int) -> int:
    depth = 0
    while i < len(source):
        char = source[i]
        if char == "\\":
            i += 2
            continue
        if char == "[":
            i = _skip_class(source, i)
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return i


def _skip_class(source: str, i: int) -> int:
    i += 1
    if i < len(source) and source[i] == "^":
        i += 1
    if i < len(source) and source[i] == "]":
        i += 1  # a `]` first in a class is a member
    while i < len(source) and source[i] != "]":
        i += 2 if source[i] == "\\" else 1
    return i + 1


def _skip_quantifier(source: str, i: int) -> int:
    if source[i] == "{":
        close = source.find("}", i)
        i = close + 1 if close >= 0 else i + 1
    else:
        i += 1
    if i < len(source) and source[i] in "?+":
        i += 1  # lazy or possessive
    return i
