"""Checking what people type, before anything else sees it.

Every value from a form or an API call passes one of these; each raises `FieldError`
with a sentence saying what is wrong. Values only ever go into the configuration (which
is validated again by `parse_config`), the pause store or a query's parameters: nothing
is passed to a shell or pasted into SQL.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime

from guardian.config import ConfigError, check_device_match, parse_clock
from guardian.filters import check_rule
from guardian.policy.pauses import normalise_host

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_HOST = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")
_SITE_RULE = re.compile(r"^\|\|([a-z0-9][a-z0-9.-]*[a-z0-9])\^$")
MAX_RULE = 2000
MAX_MINUTES = 7 * 24 * 60


class FieldError(ValueError):
    """A value someone typed that cannot be used; the message is for them."""


def text(value: object, what: str, max_length: int = 64) -> str:
    if not isinstance(value, str):
        raise FieldError(f"{what}: expected text.")
    value = value.strip()
    if not value:
        raise FieldError(f"{what}: please fill this in.")
    if len(value) > max_length:
        raise FieldError(f"{what}: at most {max_length} characters.")
    if _CONTROL.search(value):
        raise FieldError(f"{what}: contains control characters.")
    return value


def whole_number(value: object, what: str, low: int, high: int) -> int:
    if isinstance(value, bool):
        raise FieldError(f"{what}: expected a whole number.")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise FieldError(f"{what}: expected a whole number.") from None
    if not low <= number <= high:
        raise FieldError(f"{what}: from {low} to {high}.")
    return number


def minutes(value: object) -> int:
    return whole_number(value, "Minutes", 1, MAX_MINUTES)


def choice(value: object, what: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise FieldError(f"{what}: one of {', '.join(choices)}.")
    return str(value)


def ip_address(value: object, what: str = "Address") -> str:
    try:
        return str(ipaddress.ip_address(text(value, what, 64)))
    except ValueError:
        raise FieldError(f"{what}: {value!r} is not an IP address.") from None


def host(value: object, what: str = "Site") -> str:
    name = normalise_host(text(value, what, 253))
    if not _HOST.match(name):
        raise FieldError(f"{what}: {value!r} is not a site name like example.com.")
    return name


def clock(value: object, what: str) -> str:
    try:
        return parse_clock(text(value, what, 5), what)
    except ConfigError:
        raise FieldError(f"{what}: a time of day like 21:30.") from None


def device_match(value: object) -> str:
    try:
        return check_device_match(text(value, "Address", 64), "match")
    except ConfigError:
        raise FieldError("Address: an IP address, a network like 192.168.1.0/24 or a MAC address.") from None


def local_datetime(value: object, what: str = "Time") -> datetime | None:
    """A datetime-local field ('2026-12-01T21:30'); None when left empty."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return datetime.fromisoformat(text(value, what, 40))
    except ValueError:
        raise FieldError(f"{what}: a date and time like 2026-12-01T21:30.") from None


def explain_rule(value: object, kind: str = "block") -> tuple[bool, str]:
    """Whether a parent's rule is usable and what it does, the way the policy reads it:
    a bare site name means the site and its subdomains; in an allow list `@@` is optional."""
    if not isinstance(value, str) or not value.strip():
        return False, "Type a site (like example.com) or an Adblock Plus rule."
    rule = value.strip()
    if len(rule) > MAX_RULE or _CONTROL.search(rule):
        return False, f"A rule is one line of at most {MAX_RULE} characters."
    verb = "Allows" if kind == "allow" or rule.startswith("@@") else "Blocks"
    bare = rule.removeprefix("@@").lower()
    site = _SITE_RULE.match(bare)
    if site or (_HOST.match(bare) and "." in bare):
        return True, f"{verb} {site.group(1) if site else bare} and all its subdomains."
    ok, message = check_rule(rule.removeprefix("@@"))
    if not ok:
        return False, message[:1].upper() + message[1:] + "."
    message = message.replace("blocks", verb.lower(), 1) if kind == "allow" else message
    return True, message[:1].upper() + message[1:] + "."


def rule(value: object, kind: str) -> str:
    ok, message = explain_rule(value, kind)
    if not ok:
        raise FieldError(f"Rule: {message}")
    return str(value).strip()
