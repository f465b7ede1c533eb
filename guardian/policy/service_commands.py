"""`guardian services`, `guardian usage` and `guardian allow --service`.

The running service holds the live minute counts, so usage and rewards go through its
control socket; when it is not running they read (and, for a reward, write) usage.db
directly, which the service loads when it starts.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from typing import Any, TextIO

from guardian import control
from guardian.config import Config, household_service_table
from guardian.logstore.usage import USAGE_FILE, UsageStore
from guardian.policy.limits import UsageMeter
from guardian.service_catalog import GROUPS, ServiceIndex, default_catalog, merge

USAGE, FAILED = 2, 1


def _index(config: Config) -> ServiceIndex:
    return ServiceIndex(merge(default_catalog(), [household_service_table(s) for s in config.services]))


def services_command(config: Config, action: str, service_id: str | None, as_json: bool = False,
                     out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    index = _index(config)
    if action == "show":
        service = index.services.get(service_id or "")
        if service is None:
            print(f"guardian services: no service has the id {service_id!r} (see guardian services list)", file=err)
            return USAGE
        if as_json:
            print(json.dumps({"id": service.id, "name": service.name, "group": service.group,
                              "hosts": list(service.hosts), "shared": sorted(service.shared),
                              "source": service.source}), file=out)
            return 0
        print(f"{service.name} ({service.id}), group {GROUPS[service.group]}", file=out)
        for host in service.hosts:
            print(f"  {host}{'  (shared)' if host in service.shared else ''}", file=out)
        if service.source:
            print(f"Hosts from: {service.source}", file=out)
        return 0
    if as_json:
        print(json.dumps([{"id": s.id, "name": s.name, "group": s.group} for s in index.services.values()]),
              file=out)
        return 0
    for group, title in GROUPS.items():
        members = [s for s in index.services.values() if s.group == group]
        if members:
            print(f"{title} ({group}):", file=out)
            for s in members:
                print(f"  {s.id:20} {s.name}", file=out)
    return 0


def stored_usage(config: Config) -> UsageMeter | None:
    """The day's use as the service last wrote it, for `guardian check`; None when there is
    no usage.db yet or this user cannot read it (the check then shows no minutes used)."""
    path = config.data_dir / USAGE_FILE
    if not path.exists():
        return None
    try:
        return UsageMeter(config.zone(), UsageStore(path))
    except (OSError, sqlite3.Error):
        return None


def _local_policy(config: Config) -> Any:
    """A policy whose meter holds what usage.db has (the service is not running)."""
    from guardian.policy import Policy

    meter = UsageMeter(config.zone(), UsageStore.for_data_dir(config.data_dir))
    return Policy(config, {}, usage=meter)


def usage_command(config: Config, device: str | None, as_json: bool,
                  out: TextIO | None = None, err: TextIO | None = None) -> int:
    from guardian.policy.usage import usage_rows

    out, err = out or sys.stdout, err or sys.stderr
    if device is not None and device not in {d.name for d in config.devices}:
        print(f"guardian usage: no device is named {device!r}", file=err)
        return USAGE
    try:
        rows = control.call(config.data_dir, "usage", timeout=10, device=device)["rows"]
    except control.NotRunning:
        policy = _local_policy(config)
        rows = usage_rows(policy, device)
        policy.usage.store.close()
    if as_json:
        print(json.dumps(rows), file=out)
        return 0
    if not rows:
        print("No time limits apply today." if device is None else f"No time limits apply to {device} today.",
              file=out)
        return 0
    for row in rows:
        shared = " (shared by the profile)" if row["shared"] else ""
        print(f"{row['device']}: {row['limit']}{shared}: {row['used_minutes']} of {row['minutes']} minutes used, "
              f"{row['left_minutes']} left", file=out)
    return 0


def allow_service_command(config: Config, device: str | None, service: str, minutes: float,
                          out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Add minutes to today's limit of a service for a device (a reward)."""
    from guardian.policy.usage import add_minutes

    out, err = out or sys.stdout, err or sys.stderr
    if device is None:
        print("guardian allow: --service adds minutes for one device: give --device", file=err)
        return USAGE
    if minutes != int(minutes):
        print("guardian allow: --minutes must be a whole number with --service", file=err)
        return USAGE
    try:
        reply = control.call(config.data_dir, "usage-add", timeout=10, device=device, service=service,
                             minutes=int(minutes))
    except control.NotRunning:
        policy = _local_policy(config)
        reply = add_minutes(policy, device, service, int(minutes))
        policy.usage.store.close()
    if not reply.get("ok"):
        print(f"guardian allow: {reply.get('error')}", file=err)
        return USAGE
    print(reply["message"], file=out)
    for row in reply["rows"]:
        print(f"  {row['limit']}: {row['used_minutes']} of {row['minutes']} minutes used, "
              f"{row['left_minutes']} left", file=out)
    return 0
