"""The public suffix list (publicsuffix.org), matched offline from one flat table.

The list's text is the snapshot the `tldextract` package ships (`.tld_set_snapshot`, the
Mozilla Public Suffix List); it is read from the installed package's folder without
importing `tldextract`, whose import (with `requests`, `urllib3`, `idna`) and nested trie
of dictionaries cost a long-running service about 13 MiB where this table costs about 1.

Matching follows the list's algorithm as `tldextract` walks it, label by label from the
right: the longest run of labels the list names is the suffix; a wildcard (`*.ck`) makes
one more label part of it unless an exception (`!www.ck`) names that label. Labels in
punycode (`xn--...`) are compared in Unicode, as the list writes them. The ICANN section
alone, or with the private section (`github.io`), as the caller asks.
"""

from __future__ import annotations

import importlib.util
import re
import threading
from pathlib import Path

# What each key of the table is; a key is a rule's labels, or the labels a longer rule ends with.
_NODE, _RULE, _WILD, _EXCEPTION = 1, 2, 4, 8  # in the ICANN section
_PRIVATE = 16  # the same four, shifted, for the private section
_PRIVATE_SECTION = "// ===BEGIN PRIVATE DOMAINS==="
_IPV4 = re.compile(r"(?:(?:[0-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5])\.){3}"
                   r"(?:[0-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5])", re.ASCII)


def snapshot_path() -> Path:
    """The list as the installed `tldextract` package ships it (found, not imported)."""
    spec = importlib.util.find_spec("tldextract")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the public suffix list (package tldextract) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / ".tld_set_snapshot"


def looks_like_ipv4(host: str) -> bool:
    return _IPV4.fullmatch(host) is not None


class SuffixTable:
    """One dict from dotted labels to what they are in each section; built from the list's text."""

    def __init__(self, text: str) -> None:
        table: dict[str, int] = {}
        public_text, _, private_text = text.partition(_PRIVATE_SECTION)
        for section, scale in ((public_text, 1), (private_text, _PRIVATE)):
            for line in section.splitlines():
                rule = line.strip().split(" ", 1)[0].lower()
                if not rule or rule.startswith("//"):
                    continue
                kind = _NODE | _RULE
                if rule.startswith("!"):  # hangs below its parent as `!label`: not a node the walk enters
                    rule, kind = rule[1:], _EXCEPTION
                elif rule.startswith("*."):  # `*.ck`: the node `ck` has a wildcard below it
                    rule, kind = rule[2:], _NODE | _WILD
                table[rule] = table.get(rule, 0) | kind * scale
                # every shorter run of its labels is a node the walk passes through
                start = rule.find(".")
                while start != -1:
                    parent = rule[start + 1:]
                    table[parent] = table.get(parent, 0) | _NODE * scale
                    start = rule.find(".", start + 1)
        self._table = table

    def suffix_length(self, labels: list[str], private: bool) -> int:
        """How many labels at the end of `labels` (lower-case) are the public suffix; 0 when the
        list names none of them."""
        table = self._table
        scales = (1, _PRIVATE) if private else (1,)
        node = sum(_NODE * s for s in scales)
        rule = sum(_RULE * s for s in scales)
        wild = sum(_WILD * s for s in scales)
        exception = sum(_EXCEPTION * s for s in scales)
        suffix = 0
        current = ""  # the labels walked so far, dotted
        for walked, label in enumerate(reversed(labels)):
            name = _decode(label)
            candidate = f"{name}.{current}" if current else name
            kind = table.get(candidate, 0)
            if kind & node:
                current = candidate
                if kind & rule:
                    suffix = walked + 1
                continue
            if current and table.get(current, 0) & wild:
                return walked if kind & exception else walked + 1
            break
        return suffix


def _decode(label: str) -> str:
    """A punycode label in Unicode, as the list writes it; any other label as it is."""
    if label.startswith("xn--"):
        try:
            return label.encode("ascii").decode("idna").lower()
        except (UnicodeError, ValueError):
            return label
    return label


class LazySuffixTable:
    """The table, read from the snapshot on first use (a restart from the index cache need not
    pay for it before a rule asks)."""

    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._table: SuffixTable | None = None
        self._lock = threading.Lock()

    def table(self) -> SuffixTable:
        table = self._table
        if table is None:
            with self._lock:
                if self._table is None:
                    path = self._path or snapshot_path()
                    self._table = SuffixTable(path.read_text(encoding="utf-8"))
                table = self._table
        return table

    def suffix_length(self, labels: list[str], private: bool) -> int:
        return self.table().suffix_length(labels, private)


suffix_table = LazySuffixTable()
