"""Services and daily limits on the settings page: a profile's services grid (grouped,
searchable, one letter tile each), its limits with today's use per device and a button
for more minutes; the log and "why" pages name a host's service."""

from __future__ import annotations

import zlib
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response  # what redirect() gives; flask's Response is one too

from guardian.config import DAYS, ProfileConfig
from guardian.policy.usage import add_minutes, usage_rows
from guardian.service_catalog import GROUPS

from .. import forms, mutations, service_mutations
from ..editing import save, save_form
from ..field_errors import FormFields, refused
from ..forms import FieldError
from ..state import profile_or_404, services

bp = Blueprint("screen_time", __name__)
TILE_COLOURS = 8
WEEKDAYS, WEEKEND = DAYS[:5], DAYS[5:]
# the limit's name is the service's, so a clash of names is the service's field
LIMIT_FIELDS = FormFields(labels={"service": "Service", "minutes": "Minutes a day",
                                  "weekend_minutes": "At weekends"},
                          keys={"name": "service", "services": "service"},
                          aliases={"Minutes": "minutes", "Weekend minutes": "weekend_minutes"}, default="service")
DURING_FIELDS = FormFields(labels={"service": "Block", "schedule": "During"}, default="service")
ONLY_DURING_FIELDS = FormFields(labels={"service": "Allow", "windows": "Only during"}, default="service")
MORE_FIELDS = FormFields(labels={"minutes": "Minutes"}, default="minutes")
WINDOW_FIELDS = FormFields(labels={"name": "Name", "days": "Days", "from": "From", "to": "To"}, default="name")


@bp.app_template_filter("with_service")
def with_service(host: str | None) -> str:
    """'YouTube (www.youtube.com)' for a host a service uses, else the host."""
    if not host:
        return ""
    return services().policy.policy.services.describe(host)


@bp.app_template_filter("service_label")
def service_label(service: str) -> str:
    """A service's or group's name ("YouTube", "Games") for its id."""
    return _label(service)


def _back(name: str) -> Response:
    return redirect(url_for("screen_time.page", name=name), 303)


def _states(profile: ProfileConfig) -> dict[str, str]:
    """service id -> its state for the profile, in a parent's words."""
    policy = services().policy.policy
    rules = policy.service_rules.get(profile.name)
    states: dict[str, str] = {}
    if rules is None:
        return states
    for service in rules.mentioned:
        if service in rules.blocked:
            states[service] = "blocked"
            continue
        parts = []
        during = [b.name for b in rules.schedule_blocks if service in b.services]
        if during:
            parts.append("blocked during " + ", ".join(during))
        if service in rules.only_during:
            parts.append("only during " + rules.only_during[service][1])
        limits = rules.limits.get(service, ())
        if limits:
            parts.append("limited: " + ", ".join(limits_text(limit.minutes) for limit in limits))
        states[service] = "; ".join(parts) or "allowed"
    return states


def _on(days: list[str]) -> str:
    if days == list(WEEKDAYS):
        return "on weekdays"
    if days == list(WEEKEND):
        return "at weekends"
    return "on " + ", ".join(days)


def limits_text(minutes: tuple[int | None, ...]) -> str:
    """'60 min a day', '60 min on weekdays, 120 min at weekends' or '30 min on mon, wed'."""
    if len(set(minutes)) == 1 and minutes[0] is not None:
        return f"{minutes[0]} min a day"
    by_value: dict[int, list[str]] = {}
    for day, value in zip(DAYS, minutes, strict=True):
        if value is not None:
            by_value.setdefault(value, []).append(day)
    return ", ".join(f"{value} min {_on(days)}" for value, days in by_value.items())


@bp.get("/profiles/services")
def page() -> str:
    return services_page(request.args.get("name"))


def services_page(name: str | None) -> str:
    """The profile's services page; a refused form on it is rendered again through this too."""
    profile = profile_or_404(name)
    policy = services().policy.policy
    states = _states(profile)
    groups: list[dict[str, Any]] = []
    for group, title in GROUPS.items():
        members = [s for s in policy.services.services.values() if s.group == group]
        if members:
            groups.append({"id": group, "title": title, "services": [
                {"id": s.id, "name": s.name, "letter": s.name[:1].upper(),
                 "colour": zlib.crc32(s.id.encode()) % TILE_COLOURS, "state": states.get(s.id, "allowed"),
                 "hosts": " ".join(s.hosts)} for s in members]})
    devices = {d.name for d in services().config.devices if d.profile == profile.name}
    rows = [r for r in usage_rows(policy) if r["device"] in devices]
    conflicts = [c for c in policy.conflicts if c.startswith(f"Profile {profile.name}:")]
    limited = sorted({s for lim in profile.limits for s in lim.services})
    return render_template("screen_time/services.html", title=f"Services for {profile.name}", profile=profile,
                           groups=groups, rows=rows, conflicts=conflicts, group_names=GROUPS,
                           limited=limited, limits_text=limits_text,
                           limit_rules=policy.service_rules.get(profile.name), days=DAYS)


@bp.post("/profiles/services/set")
def set_state() -> Response:
    name = profile_or_404(request.form.get("profile")).name
    service = request.form.get("service", "")
    if service not in services().policy.policy.services.services and service not in GROUPS:
        abort(400)
    # the services grid's buttons say it in their address, a form of one service in a field
    blocked = request.form.get("state", request.args.get("state")) == "blocked"
    config = services().config
    label = services().policy.policy.services.services.get(service)
    shown = label.name if label else GROUPS[service]
    save(lambda doc: service_mutations.set_service_blocked(doc, name, service, blocked, config),
         f"{shown} is {'blocked' if blocked else 'allowed again'} for {name}.")
    return _back(name)


@bp.post("/profiles/services/schedule")
def schedule_block() -> Response | tuple[str, int]:
    """Block a service during one of the profile's schedules, or stop doing so."""
    profile = profile_or_404(request.form.get("profile"))
    service = request.form.get("service", "")
    schedule = request.form.get("schedule", "")
    if service not in services().policy.policy.services.services and service not in GROUPS:
        abort(400)
    blocked = request.form.get("state") != "allowed"
    config = services().config
    return save_form(
        lambda doc: service_mutations.set_schedule_services(doc, profile.name, schedule, service, blocked, config),
        f"{_label(service)} is {'blocked' if blocked else 'no longer blocked'} during {schedule}.",
        DURING_FIELDS, lambda: services_page(profile.name), lambda: _back(profile.name))


@bp.post("/profiles/services/windows")
def windows() -> Response | tuple[str, int]:
    """Allow a service only during the chosen schedules (none chosen: always, as before)."""
    profile = profile_or_404(request.form.get("profile"))
    service = request.form.get("service", "")
    if service not in services().policy.policy.services.services and service not in GROUPS:
        abort(400)
    names = {s.name for s in profile.schedules}
    chosen = [w for w in request.form.getlist("windows") if w in names]
    config = services().config
    done = f"{_label(service)} only during {' or '.join(chosen)}." if chosen else f"{_label(service)}: any time."
    return save_form(lambda doc: service_mutations.set_allowed_windows(doc, profile.name, service, chosen, config),
                     done, ONLY_DURING_FIELDS, lambda: services_page(profile.name), lambda: _back(profile.name))


@bp.post("/profiles/services/window")
def add_window() -> Response | tuple[str, int]:
    """A schedule that blocks nothing itself: a named time for `allow_only_during`."""
    name = profile_or_404(request.form.get("profile")).name
    try:
        window = {
            "name": forms.text(request.form.get("name"), "Name"),
            "days": [day for day in DAYS if day in request.form.getlist("days")],
            "from": forms.clock(request.form.get("from"), "From"),
            "to": forms.clock(request.form.get("to"), "To"),
            "block": [],
        }
        if not window["days"]:
            raise FieldError("Days: tick at least one day.")
    except FieldError as exc:
        return refused(exc, WINDOW_FIELDS, lambda: services_page(name))
    config = services().config
    return save_form(lambda doc: mutations.add_schedule(doc, name, window, config), f"Window {window['name']} added.",
                     WINDOW_FIELDS, lambda: services_page(name), lambda: _back(name))


def _label(service: str) -> str:
    found = services().policy.policy.services.services.get(service)
    return found.name if found else GROUPS.get(service, service)


@bp.post("/profiles/limits/add")
def add_limit() -> Response | tuple[str, int]:
    """A limit of one service or group: the same minutes every day, or different minutes
    at weekends (then written as two entries of one name, weekdays and weekend)."""
    name = profile_or_404(request.form.get("profile")).name
    config = services().config
    target = request.form.get("service", "")
    catalog = services().policy.policy.services.services
    try:
        if target not in catalog and target not in GROUPS:
            raise FieldError("Service: choose a service or a group.")
        minutes = forms.whole_number(request.form.get("minutes"), "Minutes", 0, 1440)
        weekend_field = (request.form.get("weekend_minutes") or "").strip()
        weekend = forms.whole_number(weekend_field, "Weekend minutes", 0, 1440) if weekend_field else None
        days = [day for day in DAYS if day in request.form.getlist("days")] or list(DAYS)
    except FieldError as exc:
        return refused(exc, LIMIT_FIELDS, lambda: services_page(name))
    title = catalog[target].name if target in catalog else GROUPS[target]
    shared = request.form.get("shared") == "on"

    def entry(value: int, on: list[str]) -> dict[str, Any]:
        return {"name": title, "services": [target], "minutes": value, "days": on, "shared": shared}

    if weekend is None or weekend == minutes:
        entries = [entry(minutes, list(DAYS) if weekend is not None else days)]
        done = f"{title}: {minutes} minutes a day for {name}."
    else:
        entries = [entry(minutes, list(WEEKDAYS)), entry(weekend, list(WEEKEND))]
        done = f"{title}: {minutes} minutes on weekdays and {weekend} at weekends for {name}."
    return save_form(lambda doc: service_mutations.add_limit(doc, name, entries, config), done, LIMIT_FIELDS,
                     lambda: services_page(name), lambda: _back(name))


@bp.post("/profiles/limits/remove")
def remove_limit() -> Response:
    name = profile_or_404(request.form.get("profile")).name
    limit = request.form.get("limit", "")
    config = services().config
    save(lambda doc: service_mutations.remove_limit(doc, name, limit, config), f"Limit {limit} removed.")
    return _back(name)


@bp.post("/profiles/limits/more")
def more_minutes() -> Response | tuple[str, int]:
    name = profile_or_404(request.form.get("profile")).name
    try:
        minutes = forms.whole_number(request.form.get("minutes"), "Minutes", 1, 1440)
    except FieldError as exc:  # beside the row's own field: `form` names the device and limit
        return refused(exc, MORE_FIELDS, lambda: services_page(name))
    reply = add_minutes(services().policy.policy, request.form.get("device", ""), request.form.get("service", ""),
                        minutes)
    flash(reply["message"] + "." if reply["ok"] else f"Not done: {reply['error']}.", "ok" if reply["ok"] else "error")
    return _back(name)


def time_today() -> list[dict[str, Any]]:
    """Dashboard rows: each device's limits today with a bar's share used."""
    rows = usage_rows(services().policy.policy)
    for row in rows:
        row["share"] = min(100, round(100 * row["used_minutes"] / row["minutes"])) if row["minutes"] else 100
    return rows


def top_services(queries: Any, since: float, until: float, per_device: int = 5) -> dict[str, list[tuple[str, int]]]:
    """Each named device's most used services today, from its allowed requests per host:
    counting by service ("YouTube") says more to a parent than by host."""
    index = services().policy.policy.services
    result: dict[str, list[tuple[str, int]]] = {}
    for device in queries.top_devices(since, until, limit=10):
        if device.device is None:
            continue
        counts: dict[str, int] = {}
        for host in queries.top_hosts(since, until, "allowed", device=device.device, limit=500):
            name = index.name_of(host.host)
            if name is not None:
                counts[name] = counts.get(name, 0) + host.requests
        if counts:
            result[device.device] = sorted(counts.items(), key=lambda item: -item[1])[:per_device]
    return result
