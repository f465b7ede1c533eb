"""What loading one list found: its format, rules by kind, lines skipped by reason, and
the lines dropped as errors (with their line numbers). Refused rules (readable, but unsafe
to apply) are errors too, and are also counted by reason for the lists' status."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

# A garbage file could produce an error per line; the count stays exact, the examples do not.
MAX_ERRORS_KEPT = 200


@dataclass
class ParseReport:
    list_name: str
    format: str
    lines: int = 0
    rules: Counter[str] = field(default_factory=Counter)  # kind -> rules loaded
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> lines skipped
    error_count: int = 0
    errors: list[tuple[int, str, str]] = field(default_factory=list)  # (line number, line, reason)
    refused: Counter[str] = field(default_factory=Counter)  # reason -> rules refused as unsafe
    compact: int = 0  # plain host rules held in the list's compact host table, not the token index

    def add_error(self, line_number: int, line: str, reason: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append((line_number, line, reason))

    def add_refused(self, line_number: int, line: str, reason: str) -> None:
        self.refused[reason.split(" (", 1)[0]] += 1
        self.add_error(line_number, line, f"refused: {reason}")

    @property
    def rule_count(self) -> int:
        return sum(self.rules.values())

    def to_plain(self) -> dict[str, Any]:
        """Only dicts, lists, strs and ints: what the index cache can marshal."""
        return {
            "list_name": self.list_name, "format": self.format, "lines": self.lines,
            "rules": dict(self.rules), "skipped": dict(self.skipped),
            "error_count": self.error_count, "errors": [list(error) for error in self.errors],
            "refused": dict(self.refused),
            "compact": self.compact,
        }

    @classmethod
    def from_plain(cls, plain: dict[str, Any]) -> ParseReport:
        return cls(
            list_name=plain["list_name"], format=plain["format"], lines=plain["lines"],
            rules=Counter(plain["rules"]), skipped=Counter(plain["skipped"]),
            error_count=plain["error_count"], errors=[tuple(error) for error in plain["errors"]],
            refused=Counter(plain["refused"]),
            compact=plain.get("compact", 0),
        )

    def render(self) -> str:
        """The report as the command line prints it."""
        out = [f"{self.list_name}: {self.format} format, {self.lines} lines, {self.rule_count} rules"]
        for kind, count in sorted(self.rules.items()):
            out.append(f"  rules  {kind:<28} {count:>8}")
        out.append(f"  into   {'compact host table':<28} {self.compact:>8}")
        out.append(f"  into   {'token index':<28} {self.rule_count - self.compact:>8}")
        for reason, count in sorted(self.skipped.items()):
            out.append(f"  skip   {reason:<28} {count:>8}")
        for reason, count in sorted(self.refused.items()):
            out.append(f"  refuse {reason:<28} {count:>8}")
        if self.error_count:
            out.append(f"  errors {'dropped':<28} {self.error_count:>8}")
            for line_number, line, reason in self.errors:
                out.append(f"    line {line_number}: {reason}: {line}")
            if self.error_count > len(self.errors):
                out.append(f"    ... and {self.error_count - len(self.errors)} more")
        return "\n".join(out)
