"""What a parent types as a rule, made into the rule Guardian applies, with what it does.

One normaliser for every way in: the settings page (and its API) before saving, the
configuration loader on every load, and the policy when it compiles a profile. Parents
type addresses and site names, not Adblock Plus, so:

- an address becomes a site rule: `https://www.tiktok.com/` -> `tiktok.com` (the site
  and its subdomains; a leading `www.` is dropped: the site is meant), and an address with a page part
  becomes a site-and-path rule: `https://school.example/homework` ->
  `||school.example/homework`, which only applies where Guardian sees the path;
- `*.youtube.test`, `||tiktok.com` (no `^`), `games.test.` (trailing dot) mean the site:
  `youtube.test`, `||tiktok.com^`, `games.test`;
- internationalised names are converted to the IDNA form browsers send
  (`bücher.example` -> `xn--bcher-kva.example`), and the parent is told;
- a rule that can never match (it contains a space) is refused;
- a rule that blocks (or allows) every site (`*`, `||*^`, `http`) needs confirming;
- an allow rule for a top-level domain or public suffix (`com`, `co.uk`) is refused;
- a word without a dot (`tiktok`) matches any address containing it: a warning with a
  suggestion (`||tiktok.com^`).

The explanation says what the plain-HTTP request and the HTTPS connection (CONNECT)
each get: for HTTPS Guardian sees only the site name, so a path never applies there
unless the profile inspects HTTPS for that site (inspection.py).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from guardian.config import ProfileConfig
from guardian.filters.domains import public_suffixes

from .inspection import inspects_https

if TYPE_CHECKING:
    from .rulesets import RuleSet  # imported where used: rulesets compiles through this module

MAX_RULE = 2000
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SPACE = re.compile(r"\s")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
# A site as typed: `||`, `*.`, the name (any script), `^`, trailing dots; nothing else.
_SITE_SHAPE = re.compile(r"(?:\|\|)?(?:\*\.)*([^\s/:?#|^$*@\[\]]+?)\.*(\^\|?)?", re.UNICODE)
_LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?")
_WORD = re.compile(r"[a-z0-9-]+")
_HOST_AND_PATH = re.compile(r"[a-z0-9-]+(?:\.[a-z0-9-]+)+\.?/", re.IGNORECASE)
# Two unrelated addresses: a rule matching both matches (almost) every site.
_PROBES = (("guardian-probe-one.example", "http://guardian-probe-one.example/p?q=1"),
           ("probe-two.guardian.invalid", "http://probe-two.guardian.invalid/x/y.html"))


@dataclass(frozen=True, slots=True)
class TypedRule:
    """The outcome of normalising one rule. `rule` is what to store and apply (None when
    refused); `error` says why it was refused; `confirm` is set for a rule that blocks or
    allows every site, usable only once the parent confirmed it."""

    written: str
    kind: str
    rule: str | None = None
    error: str | None = None
    dead: bool = False  # refused because it could never match anything
    unusable: bool = False  # the filter engine cannot use it (an unknown option...)
    confirm: str | None = None
    notes: tuple[str, ...] = ()  # how what was typed was read
    warnings: tuple[str, ...] = ()
    explanation: str = ""
    host: str | None = None  # the site it names, when it names one
    path: str | None = None  # the page part of a site-and-path rule

    @property
    def ok(self) -> bool:
        return self.rule is not None and self.error is None

    def message(self) -> str:
        """Everything a parent should read, in one paragraph."""
        parts = [self.error] if self.error else [*self.notes, self.explanation, *self.warnings]
        if self.confirm and not self.error:
            parts.append(self.confirm)
        return " ".join(p for p in parts if p)


@dataclass
class _Reading:
    rule: str
    exception: bool
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    host: str | None = None
    path: str | None = None


class RuleRefused(ValueError):
    def __init__(self, message: str, dead: bool = False) -> None:
        super().__init__(message)
        self.dead = dead


def normalise_rule(text: object, kind: str = "block", *, confirmed: bool = False,
                   profile: ProfileConfig | None = None, bypass: Collection[str] | None = None,
                   probe: bool = True) -> TypedRule:
    """Read one rule as a parent typed it for a profile's `kind` ("block" or "allow")
    rules. `probe=False` skips the every-site test (the loader: a rule in the file is
    deliberate); `profile` and `bypass` (the `[https] bypass` list) let the explanation
    ask whether HTTPS is inspected for the rule's site."""
    written = text if isinstance(text, str) else ""
    if not written.strip():
        return TypedRule(written, kind, error="Type a site (like example.com), an address or an Adblock Plus rule.")
    stripped = written.strip()
    if len(stripped) > MAX_RULE or _CONTROL.search(stripped):
        return TypedRule(written, kind, error=f"A rule is one line of at most {MAX_RULE} characters.")
    try:
        reading = _read(stripped)
        if kind == "allow" or reading.exception:
            _refuse_too_wide(reading)
    except RuleRefused as exc:
        return TypedRule(written, kind, error=str(exc), dead=exc.dead)
    stored = ("@@" if reading.exception and kind == "block" else "") + reading.rule
    allows = kind == "allow" or reading.exception
    from .rulesets import compile_rules  # rulesets compiles through this module

    problems: list[str] = []
    compiled = compile_rules([reading.rule], "rule", problems, normalise=False)
    if compiled is None:
        message = problems[0].split(": ", 2)[-1] if problems else "this rule cannot be used"
        return TypedRule(written, kind, error=message[:1].upper() + message[1:] + ".", unusable=True)
    confirm = None
    if probe and all(compiled.match(host, url, None, "document") for host, url in _PROBES):
        verb = "allows" if allows else "blocks"
        confirm = f"This rule {verb} every site for the profile."
        if not confirmed:
            return TypedRule(written, kind, rule=stored, error=None, confirm=confirm, notes=tuple(reading.notes),
                             warnings=tuple(reading.warnings), explanation="", host=reading.host,
                             path=reading.path)
    return TypedRule(written, kind, rule=stored, confirm=confirm, notes=tuple(reading.notes),
                     warnings=tuple(reading.warnings), explanation=_explain(reading, compiled, allows, profile, bypass),
                     host=reading.host, path=reading.path)


def _read(text: str) -> _Reading:
    exception = text.startswith("@@")
    body = text[2:] if exception else text
    if _SPACE.search(body):
        raise RuleRefused(f"“{text}” contains a space, and web addresses never do, so it would never match. "
                          "Type one site name, like tiktok.com.", dead=True)
    if _SCHEME.match(body):
        return _read_address(body, exception)
    if _HOST_AND_PATH.match(body) and _is_host(body.split("/", 1)[0].rstrip(".").lower()):
        return _read_address("http://" + body, exception)
    site = _site(body)
    if site is not None:
        host, notes = site
        # Stored the way it was typed where that is already exact: `tiktok.com` or `||tiktok.com^`.
        reading = _Reading(f"||{host}^" if body.startswith("||") else host, exception, notes, host=host)
        if body not in (host, f"||{host}^"):
            reading.notes.insert(0, f"Read as {reading.rule}: the site {host} and all its subdomains.")
        return reading
    return _read_adblock(body, exception)


def _read_address(address: str, exception: bool) -> _Reading:
    try:
        parts = urlsplit(address)
        parts.port  # noqa: B018 -- raises ValueError for a bad port
    except ValueError:
        raise RuleRefused(f"“{address}” is not a usable web address.", dead=True) from None
    if parts.scheme.lower() not in ("http", "https"):
        raise RuleRefused("Only http:// and https:// addresses can be filtered.", dead=True)
    host, notes = _host(parts.hostname or "")
    page = parts.path if parts.path not in ("", "/") else ""
    if parts.query:
        page = (page or "/") + "?" + parts.query
    if not page:
        notes.insert(0, f"Read the address as the whole site {host} (and all its subdomains).")
        return _Reading(host, exception, notes, host=host)
    rule = f"||{host}{page}"
    notes.insert(0, f"Read the address as {rule}: that page on {host}.")
    return _Reading(rule, exception, notes, host=host, path=page)


def _site(body: str) -> tuple[str, list[str]] | None:
    """(IDNA host, notes) when `body` is a site written one of the friendly ways, else None."""
    shape = _SITE_SHAPE.fullmatch(body)
    if shape is None:
        return None
    name = shape.group(1)
    plain = not body.startswith(("||", "*.")) and shape.group(2) is None
    if "." not in name.strip("."):
        return None  # one word: a substring rule, read by the engine (with a warning)
    if plain and not any(ord(c) > 127 for c in name) and not _is_host(name.lower()):
        return None
    try:
        return _host(name)
    except RuleRefused:
        if plain:
            return None
        raise


def _host(name: str) -> tuple[str, list[str]]:
    notes: list[str] = []
    name = name.strip().rstrip(".").lower()
    if any(ord(c) > 127 for c in name):
        try:
            encoded = name.encode("idna").decode("ascii")
        except UnicodeError:
            raise RuleRefused(f"“{name}” is not a name a browser can visit.", dead=True) from None
        notes.append(f"{name} is written {encoded} in the addresses browsers send (its international form); "
                     "the rule uses that.")
        name = encoded
    if not _is_host(name):
        raise RuleRefused(f"“{name}” is not a site name like example.com.", dead=True)
    labels = name.split(".")
    if labels[0] == "www" and len(labels) > 2:
        name = ".".join(labels[1:])
        notes.append(f"www. is left out so that all of {name} is covered.")
    return name, notes


def _is_host(name: str) -> bool:
    return 0 < len(name) <= 253 and all(_LABEL.fullmatch(label) for label in name.split("."))


def _read_adblock(body: str, exception: bool) -> _Reading:
    notes: list[str] = []
    if any(ord(c) > 127 for c in body):
        converted = _idna_in_rule(body)
        if converted is None:
            raise RuleRefused("This rule has characters that never appear in the addresses browsers send, "
                              "so it would never match.", dead=True)
        notes.append(f"Read as {converted}: international names are written in their IDNA form in addresses.")
        body = converted
    reading = _Reading(body, exception, notes)
    pattern = body.split("$", 1)[0]
    if _WORD.fullmatch(pattern.lower()):
        reading.warnings.append(
            f"“{pattern}” matches any address that contains it anywhere (for example "
            f"shop.example/{pattern}-case). To block one site, write it with its ending, like ||{pattern}.com^.")
    host = re.match(r"\|\|([a-z0-9.-]+)", body.lower())
    if host:
        reading.host = host.group(1).rstrip(".")
        rest = pattern[2 + len(host.group(1)):]
        if rest.startswith("/"):
            reading.path = rest
    return reading


def _idna_in_rule(body: str) -> str | None:
    """`||bücher.example/x$image` with its host in IDNA form; None when the non-ASCII
    characters are not in an `||host` part."""
    found = re.match(r"(\|\|)([^/^$|:*]+)(.*)", body, re.DOTALL)
    if found is None or any(ord(c) > 127 for c in found.group(3)):
        return None
    try:
        host = found.group(2).rstrip(".").lower().encode("idna").decode("ascii")
    except UnicodeError:
        return None
    return f"||{host}{found.group(3)}"


def _refuse_too_wide(reading: _Reading) -> None:
    """Allowing a whole top-level domain, or every address containing a word, lets
    everything through: refused (a block list gets a warning instead)."""
    pattern = reading.rule.split("$", 1)[0]
    if _WORD.fullmatch(pattern.lower()) and not public_suffixes.listed(pattern.lower()):
        raise RuleRefused(f"“{pattern}” alone would allow every address that contains it anywhere; "
                          f"write the site with its ending, like {pattern}.com.")
    host = reading.host or (pattern.lower() if _WORD.fullmatch(pattern.lower()) else None)
    if host is not None and is_public_suffix(host):
        raise RuleRefused(f"{host} is an ending shared by many unrelated sites (every name ending in .{host}); "
                          f"allow one site instead, like example.{host}.")


def _explain(reading: _Reading, compiled: RuleSet, allows: bool, profile: ProfileConfig | None,
             bypass: Collection[str] | None) -> str:
    verb = "Allows" if allows else "Blocks"
    host = reading.host
    if host is not None and reading.path is None and reading.rule in (host, f"||{host}^"):
        return f"{verb} {host} and all its subdomains, over HTTP and HTTPS."
    on_connect = host is not None and compiled.match(host, None, None, None) is not None
    what = f"{verb.lower()} addresses matching {reading.rule}"
    if host is not None and reading.path is not None:
        what = f"{verb.lower()} {host}{reading.path} and what is under it"
    if on_connect:
        return f"{what[:1].upper()}{what[1:]}, over HTTP and HTTPS."
    if host is not None and inspects_https(profile, host, bypass):
        return f"{what[:1].upper()}{what[1:]}, over HTTP and over HTTPS (this profile inspects HTTPS on {host})."
    https = (f"Over HTTPS Guardian sees only the site name, not the page, so the page part does not apply: "
             f"https:// addresses on {host} are {'not allowed by this rule' if allows else 'not blocked'}."
             if host is not None else
             "Over HTTPS Guardian sees only the site name, so this rule does not apply to https:// addresses.")
    return f"{what[:1].upper()}{what[1:]} over plain HTTP (http:// addresses). {https}"


def rule_notes(profiles: Iterable[ProfileConfig], bypass: Collection[str] | None = None) -> list[str]:
    """For `guardian config check`: each rule in the file that is read differently from
    how it is written, warned about, or blocks every site, in a parent's words."""
    lines = []
    for profile in profiles:
        written = [("block", "block", r) for r in profile.block] + [("allow", "allow", r) for r in profile.allow]
        written += [("block", f"schedule {s.name}", r) for s in profile.schedules for r in s.block]
        for kind, where, text in written:
            typed = normalise_rule(text, kind, confirmed=True, profile=profile, bypass=bypass)
            said = [*typed.notes, *typed.warnings, *([typed.confirm] if typed.confirm else [])]
            if typed.path is not None and not inspects_https(profile, typed.host or "", bypass):
                said.append(typed.explanation)
            if said:
                lines.append(f"profile {profile.name}, {where}: {text}: {' '.join(said)}")
    return lines


def page_rules_for(profile: ProfileConfig, host: str) -> list[str]:
    """The profile's rules (as written) that name a page on `host` or a site above it:
    the ones an HTTPS connection to `host` cannot be judged by."""
    found = []
    written = [*profile.block, *profile.allow, *(r for s in profile.schedules for r in s.block)]
    for text in written:
        typed = normalise_rule(text, "block", confirmed=True, probe=False)
        site = typed.host
        if typed.path is not None and site is not None and (host == site or host.endswith("." + site)):
            found.append(text)
    return found


def https_record_note(profile: ProfileConfig | None, host: str, bypass: Collection[str] | None = None) -> str:
    """For a logged HTTPS connection: what Guardian could see, and the page rules that
    therefore did not apply to it."""
    if inspects_https(profile, host, bypass):
        return ""
    note = (f"This was an HTTPS connection: Guardian sees only the site name ({host}), not the page, "
            "so it was decided on the site alone.")
    rules = page_rules_for(profile, host) if profile is not None else []
    if rules:
        note += (f" Rules naming a page on this site ({', '.join(rules)}) apply only to http:// addresses, "
                 "not to this connection.")
    return note


def is_public_suffix(host: str) -> bool:
    """Whether `host` is a public suffix (ICANN or private section of the list), a top-level
    domain or a bare machine name."""
    host = host.strip().rstrip(".").lower()
    if not host:
        return False
    return public_suffixes.is_suffix(host)
