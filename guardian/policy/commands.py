"""What `guardian check`, `guardian pause`, `guardian allow` and `guardian pauses` do.

The CLI parses arguments and calls these; each prints to `out` (errors to `err`) and
returns the exit status: 0 when the command did its job (for `check`, whether the
answer is allow or block), 2 for a usage error (bad time, address, type, unknown
profile or device), 1 when the data dir cannot be written or an id is unknown.
"""

from __future__ import annotations

import ipaddress
import json
import sys
from collections.abc import Callable
from datetime import datetime
from typing import TextIO

from guardian.config import Config
from guardian.filters.request_types import REQUEST_TYPES

from .decide import Policy
from .pauses import Pause, PauseStore, Scope, normalise_host

USAGE, FAILED = 2, 1


def check_command(
    policy: Policy, url: str, client: str, at: str | None, source: str | None, rtype: str | None, as_json: bool,
    out: TextIO | None = None, err: TextIO | None = None,
) -> int:
    """Print the decision the policy makes for `url` from `client`. `at` is ISO 8601;
    without an offset it is local time in the configured zone."""
    out, err = out or sys.stdout, err or sys.stderr
    when = None
    if at is not None:
        try:
            when = datetime.fromisoformat(at)
        except ValueError:
            print(f"guardian check: --at {at!r} is not an ISO 8601 date and time (like 2026-12-01T21:30)", file=err)
            return USAGE
    try:
        ipaddress.ip_address(client)
    except ValueError:
        print(f"guardian check: --client {client!r} is not an IP address", file=err)
        return USAGE
    if rtype is not None and rtype.lower() not in REQUEST_TYPES:
        print(f"guardian check: --type {rtype!r} is not a request type ({', '.join(sorted(REQUEST_TYPES))})",
              file=err)
        return USAGE
    if "://" in url and not url.lower().startswith(("http://", "https://")):
        print(f"guardian check: {url!r}: only http:// and https:// URLs (or a bare host name)", file=err)
        return USAGE
    try:
        result = policy.explain(url, client, when, source, rtype.lower() if rtype else None)
        result.update(policy.usage_report(url, client, when))
    except ValueError as exc:  # an unparseable URL (bad port, bad brackets)
        print(f"guardian check: {url!r}: {exc}", file=err)
        return USAGE
    if as_json:
        print(json.dumps(result), file=out)
        return 0
    print(f"{result['action']}: {url}", file=out)
    print(f"  reason:   {result['reason']}", file=out)
    if result["rule"]:
        print(f"  rule:     {result['rule']} (list {result['list']})", file=out)
    if result["schedule"]:
        print(f"  schedule: {result['schedule']}", file=out)
    print(f"  device:   {result['device'] or f'not configured ({client})'}", file=out)
    print(f"  profile:  {result['profile']}", file=out)
    if result.get("note"):
        print(f"  note:     {result['note']}", file=out)
    if result.get("service_name"):
        print(f"  service:  {result['service_name']}", file=out)
    if result.get("limit"):
        print(f"  limit:    {result['limit']}: {result['used_minutes']} minutes used today, "
              f"{result['left_minutes']} left", file=out)
    return 0


def pause_command(
    config: Config, *, profile: str | None, device: str | None, minutes: float,
    out: TextIO | None = None, err: TextIO | None = None, now: float | None = None,
) -> int:
    """Pause filtering for one profile or one device."""
    out, err = out or sys.stdout, err or sys.stderr
    target = _target(config, profile, device, "pause", err)
    if target is None:
        return USAGE
    return _add(config, out, err, lambda store: store.add_pause(target[0], target[1], minutes, now))


def allow_command(
    config: Config, *, host: str, profile: str | None, device: str | None, minutes: float,
    out: TextIO | None = None, err: TextIO | None = None, now: float | None = None,
) -> int:
    """Allow one host (and its subdomains) for one profile or one device."""
    out, err = out or sys.stdout, err or sys.stderr
    target = _target(config, profile, device, "allow", err)
    if target is None:
        return USAGE
    if not normalise_host(host):
        print("guardian allow: --host needs a host name, like youtube.com", file=err)
        return USAGE
    return _add(config, out, err, lambda store: store.add_allowance(target[0], target[1], host, minutes, now))


def pauses_command(
    config: Config, *, cancel: str | None = None, as_json: bool = False,
    out: TextIO | None = None, err: TextIO | None = None, now: float | None = None,
) -> int:
    """List the pauses and allowances in force, or cancel one by id."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        store = PauseStore.for_data_dir(config.data_dir)
        if cancel is not None:
            entry = store.cancel(cancel)
            if entry is None:
                print(f"guardian pauses: no pause or allowance in force has the id {cancel!r}", file=err)
                return FAILED
            print(f"cancelled {entry.id}: {entry.describe(config.zone())}", file=out)
            return 0
        entries = store.active(now)
    except OSError as exc:
        print(f"guardian pauses: {exc}", file=err)
        return FAILED
    if as_json:
        print(json.dumps([e.to_plain() for e in entries]), file=out)
    elif not entries:
        print("No pauses or allowances in force.", file=out)
    else:
        for entry in entries:
            print(f"{entry.id}  {entry.describe(config.zone())}", file=out)
    return 0


def _target(config: Config, profile: str | None, device: str | None, command: str,
            err: TextIO) -> tuple[Scope, str] | None:
    if (profile is None) == (device is None):
        print(f"guardian {command}: give either --profile or --device", file=err)
        return None
    if profile is not None:
        if profile not in {p.name for p in config.profiles}:
            print(f"guardian {command}: no profile is named {profile!r}", file=err)
            return None
        return ("profile", profile)
    assert device is not None
    if device not in {d.name for d in config.devices}:
        print(f"guardian {command}: no device is named {device!r}", file=err)
        return None
    return ("device", device)


def _add(config: Config, out: TextIO, err: TextIO, add: Callable[[PauseStore], Pause]) -> int:
    try:
        entry: Pause = add(PauseStore.for_data_dir(config.data_dir))
    except ValueError as exc:
        print(f"guardian: {exc}", file=err)
        return USAGE
    except OSError as exc:
        print(f"guardian: cannot save in {config.data_dir}: {exc}", file=err)
        return FAILED
    print(f"{entry.describe(config.zone())} (id {entry.id})", file=out)
    return 0
