"""Checking what people type, before anything else sees it.

Every value from a form or an API call passes one of these; each raises `FieldError`
with a sentence saying what is wrong. Values only ever go into the configuration (which
is validated again by `parse_config`), the pause store or a query's parameters: nothing
is passed to a shell or pasted into SQL.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection
from datetime import datetime

from guardian.config import ConfigError, ProfileConfig, check_device_match, parse_clock
from guardian.policy.parent_rules import MAX_RULE as MAX_RULE
from guardian.policy.parent_rules import TypedRule, is_public_suffix, normalise_rule
from guardian.policy.pauses import normalise_host

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_HOST = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")
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


def bypass_site(value: object) -> str:
    """A site for the list Guardian never decrypts: a host name ("*.mybank.example" means
    the same as "mybank.example"); an ending shared by many sites ("com", "co.uk") is refused."""
    what = "Site"
    name = host(text(value, what, 253).removeprefix("*."), what)
    if is_public_suffix(name):
        raise FieldError(f"{what}: {name!r} is an ending shared by many unrelated sites; "
                         f"name one site instead, like mybank.{name}.")
    return name


def clock(value: object, what: str) -> str:
    try:
        return parse_clock(text(value, what, 5), what, end=True)  # "from = 24:00" is refused with the rest
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


def explain_rule(value: object, kind: str = "block", profile: ProfileConfig | None = None,
                 bypass: Collection[str] | None = None) -> TypedRule:
    """How the policy reads a parent's rule (parent_rules.normalise_rule): what will be
    saved, what it does over HTTP and HTTPS, warnings, and whether it needs confirming.
    `bypass` is the `[https] bypass` list (sites never inspected)."""
    return normalise_rule(value, kind, profile=profile, bypass=bypass)


def rule(value: object, kind: str, confirmed: bool = False, profile: ProfileConfig | None = None,
         bypass: Collection[str] | None = None) -> TypedRule:
    """A rule ready to save (`.rule`); FieldError when refused or not confirmed."""
    typed = normalise_rule(value, kind, confirmed=confirmed, profile=profile, bypass=bypass)
    if typed.error:
        raise FieldError(f"Rule: {typed.error}")
    if typed.confirm and not confirmed:
        raise FieldError(f"Rule: {typed.confirm} (tick “I mean it” to save it).")
    return typed
