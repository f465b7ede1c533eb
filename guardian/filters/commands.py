"""What `guardian filters report` and `guardian filters match` do; guardian/cli.py parses
the arguments and calls these. Each list is named by its file name's stem."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from .engine import FilterEngine
from .hosts import FORMATS


def report_command(paths: list[str], fmt: str = "auto", out: TextIO | None = None) -> int:
    """Print the parse report of each list file. Exit code 2 if a file cannot be read."""
    out = out or sys.stdout
    if fmt not in FORMATS:
        print(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}", file=sys.stderr)
        return 2
    engine = _load(paths, fmt)
    if engine is None:
        return 2
    for report in engine.report.values():
        print(report.render(), file=out)
    compact = sum(report.compact for report in engine.report.values())
    print(f"total: {engine.rule_count} rules ({compact} in compact host tables, "
          f"{engine.rule_count - compact} in the token index)", file=out)
    return 0


def match_command(
    paths: list[str], url: str, source: str | None, request_type: str | None, out: TextIO | None = None
) -> int:
    """Print the decision for one URL: exit code 0 allowed, 1 blocked, 2 on a read error."""
    out = out or sys.stdout
    engine = _load(paths, "auto")
    if engine is None:
        return 2
    decision = engine.match(url, source_url=source, request_type=request_type)
    print(f"{'blocked' if decision.blocked else 'allowed'}: {url}", file=out)
    print(f"rule: {decision.rule if decision.rule is not None else '(none)'}", file=out)
    print(f"list: {decision.list if decision.list is not None else '(none)'}", file=out)
    return 1 if decision.blocked else 0


def _load(paths: list[str], fmt: str) -> FilterEngine | None:
    try:
        return FilterEngine.from_files([Path(path) for path in paths], fmt)
    except OSError as error:
        print(f"cannot read list: {error}", file=sys.stderr)
        return None
