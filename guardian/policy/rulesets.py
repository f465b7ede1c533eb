"""The parents' own rules (a profile's `block`/`allow`, a schedule's `block`), compiled.

Strategy: parents mostly write whole sites: `||tiktok.com^`, or just `tiktok.com`. Those
go into a dict of host -> rule text and are matched by walking the request's host and its
parent domains (a few dict lookups), because asking even a tiny FilterEngine costs as
much as the big one (it still tokenises the URL). Every other rule goes to a small
FilterEngine of its own. So a profile with only site rules adds almost nothing to a
decision, and any Adblock Plus rule still works.

Conventions, friendlier than strict Adblock Plus, documented in docs/policy.md:
- a bare host name (`tiktok.com`) means that site and its subdomains (`||tiktok.com^`),
  not "any URL containing this text";
- in an allow list a rule may be written with or without `@@`;
- in a block list a rule starting with `@@` is an exception: it joins the allow rules.
A rule the engine cannot use is reported with its text in `problems` and skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from guardian.filters import FilterEngine, check_rule

# The list id reported for a parent's rule (profile rules and schedule rules alike).
CUSTOM_LIST = "custom"

_SITE_RULE = re.compile(r"\|\|([a-z0-9][a-z0-9.-]*[a-z0-9])\^")
_BARE_HOST = re.compile(r"[a-z0-9-]+(?:\.[a-z0-9-]+)+")


class RuleSet:
    """Rules of one kind matched as blocking rules; `match` returns the rule as written."""

    __slots__ = ("_engine", "_hosts", "_originals")

    def __init__(self, hosts: dict[str, str], engine: FilterEngine | None, originals: dict[str, str]) -> None:
        self._hosts = hosts
        self._engine = engine
        self._originals = originals  # engine's rule text -> the text the parent wrote

    def match(self, host: str, url: str | None, source_url: str | None, request_type: str | None) -> str | None:
        """The matching rule, or None. `url` None means a CONNECT: the host alone."""
        hosts = self._hosts
        if hosts:
            name = host
            while True:
                rule = hosts.get(name)
                if rule is not None:
                    return rule
                dot = name.find(".")
                if dot < 0:
                    break
                name = name[dot + 1 :]
        engine = self._engine
        if engine is None:
            return None
        decision = engine.match(url, source_url, request_type) if url is not None else engine.match_host(host)
        if decision.blocked and decision.rule is not None:
            return self._originals.get(decision.rule, decision.rule)
        return None


def split_rules(block: Iterable[str], allow: Iterable[str]) -> tuple[list[str], list[str]]:
    """(block rules, allow rules) with `@@` exceptions in a block list moved to allow."""
    blocks: list[str] = []
    allows = list(allow)
    for rule in block:
        (allows if rule.strip().startswith("@@") else blocks).append(rule)
    return blocks, allows


def compile_rules(rules: Iterable[str], where: str, problems: list[str], kind: str = "block",
                  normalise: bool = True) -> RuleSet | None:
    """Compile rules to match as blocking rules (an allow list's `@@` is dropped first);
    None when there are none usable. Each rule is first read the way parents write them
    (parent_rules.normalise_rule); bad rules are described in `problems`."""
    from .parent_rules import normalise_rule  # it compiles its probes through here

    hosts: dict[str, str] = {}
    engine_rules: list[str] = []
    originals: dict[str, str] = {}
    for written in rules:
        text = written.strip()
        if not text:
            continue
        rule = text.removeprefix("@@")
        if normalise:
            typed = normalise_rule(text, kind, confirmed=True, probe=False)
            if typed.rule is None:
                problems.append(f"{where}: rule {text!r} skipped: {typed.error}")
                continue
            rule = typed.rule.removeprefix("@@")
        lowered = rule.lower()
        site = _SITE_RULE.fullmatch(lowered)
        if site or _BARE_HOST.fullmatch(lowered):
            hosts.setdefault(site.group(1) if site else lowered, text)
            continue
        ok, message = check_rule(rule)
        if not ok:
            problems.append(f"{where}: rule {text!r} skipped: {message}")
            continue
        engine_rules.append(rule)
        originals[rule] = text
    if not hosts and not engine_rules:
        return None
    engine = None
    if engine_rules:
        engine = FilterEngine.from_lists({CUSTOM_LIST: "\n".join(engine_rules)}, formats={CUSTOM_LIST: "abp"})
    return RuleSet(hosts, engine, originals)
