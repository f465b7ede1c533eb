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

import re2

REGEX_URL_LIMIT = 4096

LinearRegexError = re2.error
escape = re2.escape


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
