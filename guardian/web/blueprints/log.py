"""The request log: search with paging, why a request was blocked, and the two ways to
let it through ("allow for this profile" adds a rule; "allow for N minutes" adds an
allowance for the device, or for the profile when the device has no name)."""

from __future__ import annotations

import time
from datetime import datetime

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response  # what redirect() gives; flask's Response is one too

from guardian.logstore import LogUnavailableError
from guardian.logstore.queries import LoggedRequest
from guardian.policy.parent_rules import https_record_note, is_public_suffix
from guardian.policy.pauses import Scope
from guardian.policy.schedules import ZoneClock, compile_window

from .. import forms, mutations
from ..editing import save
from ..forms import FieldError
from ..outcomes import always_allow_helps, own_block_rule
from ..state import services

bp = Blueprint("log", __name__)
ACTIONS = ("allowed", "blocked", "cached", "error")
PAGE = 50
ALLOW_CHOICES = (15, 30, 60, 120)


def _filters() -> dict:
    """The search form's fields, checked; a bad one is flashed and left out."""
    args = request.args
    zone = services().config.zone()
    found: dict = {}
    try:
        if args.get("host"):
            found["host"] = forms.text(args["host"], "Site", 253).lower()
        if args.get("device"):
            found["device"] = forms.text(args["device"], "Device")
        if args.get("action"):
            found["action"] = forms.choice(args["action"], "Action", ACTIONS)
        for key, field in (("since", "from"), ("until", "to")):
            moment = forms.local_datetime(args.get(field), field.capitalize())
            if moment is not None:
                found[key] = (moment if moment.tzinfo else moment.replace(tzinfo=zone)).timestamp()
        if args.get("before"):
            found["before_id"] = forms.whole_number(args["before"], "Page", 1, 2**62)
    except FieldError as exc:
        flash(str(exc), "error")
    return found


@bp.get("/log")
def index() -> str:
    queries = services().log_queries
    page, error = None, None
    filters = _filters()
    if queries is None:
        error = "The request log is turned off (Settings → Log)."
    else:
        try:
            page = queries.search(limit=PAGE, **filters)
        except LogUnavailableError as exc:
            error = f"The request log cannot be read: {exc}"
    devices = [d.name for d in services().config.devices]
    next_args = {**request.args, "before": page.next_before_id} if page and page.next_before_id else None
    return render_template("log/index.html", title="Log", page=page, error=error, devices=devices,
                           actions=ACTIONS, args=request.args, next_args=next_args)


def _record(record_id: int) -> LoggedRequest:
    queries = services().log_queries
    if queries is None:
        abort(404)
    try:
        record = queries.record(record_id)
    except LogUnavailableError:
        abort(404)
    if record is None:
        abort(404)
    return record


@bp.get("/log/<int:record_id>")
def why(record_id: int) -> str:
    record = _record(record_id)
    queries = services().log_queries
    assert queries is not None
    explanation = queries.why_blocked(record_id)
    https_note = ""
    if record.method == "CONNECT" and record.host:
        profile = next((p for p in services().config.profiles if p.name == record.profile), None)
        https_note = https_record_note(profile, record.host, services().config.https.bypass)
    # A top-level domain or public suffix (a log entry for `com`) is never offered: it would allow every site.
    can_allow = bool(record.host) and not is_public_suffix(record.host or "")
    # Offer only what would change the outcome: an allow rule does nothing against a schedule,
    # and against the parents' own block rule the honest action is removing that rule.
    always_helps, own_rule = False, None
    if can_allow and record.action == "blocked" and record.host and record.profile:
        config = services().config
        at = datetime.fromtimestamp(record.started, config.zone())
        target = (record.host if record.method == "CONNECT"
                  else f"{record.scheme or 'http'}://{record.host}{record.target or '/'}")
        own_rule = own_block_rule(config, record.profile, target, at)
        always_helps = own_rule is None and always_allow_helps(config, record.profile, record.host, target, at)
    return render_template("log/why.html", title="Why", record=record, https_note=https_note, can_allow=can_allow,
                           summary=explanation.summary if explanation else "", choices=ALLOW_CHOICES,
                           always_helps=always_helps, own_rule=own_rule,
                           running_schedule=_minutes_left(record.profile, record.schedule) is not None)


def _minutes_left(profile: str | None, name: str | None) -> int | None:
    """Minutes until a profile's schedule that is on now ends; None when it is not on (or never ends)."""
    if not profile or not name:
        return None
    config = services().config
    try:
        schedule = next(s for s in config.profile(profile).schedules if s.name == name)
    except (KeyError, StopIteration):
        return None
    window = compile_window(schedule)
    minute = ZoneClock(config.zone()).minute_of_week(time.time())
    if not window.active(minute) or services().pauses.schedule_ended(profile, None, name, time.time()):
        return None
    return window.ends_at(minute)


@bp.post("/log/end-schedule")
def end_schedule() -> Response:
    """End bedtime (or any schedule) now, until it comes round again."""
    record = _record(forms.whole_number(request.form.get("record"), "Record", 1, 2**62))
    left = _minutes_left(record.profile, record.schedule)
    if left is None or not record.profile or not record.schedule:
        flash(f"{record.schedule or 'That schedule'} is not on now, so there is nothing to end.", "note")
        return redirect(url_for("log.why", record_id=record.id), 303)
    entry = services().pauses.end_schedule(record.profile, record.schedule, left)
    flash(entry.describe(services().config.zone()) + ".", "ok")
    return redirect(url_for("log.why", record_id=record.id), 303)


@bp.post("/log/allow-profile")
def allow_profile() -> Response:
    record = _record(forms.whole_number(request.form.get("record"), "Record", 1, 2**62))
    if not record.host or not record.profile:
        flash("This request was logged without its site or profile, so it cannot be allowed from here.", "error")
        return redirect(url_for("log.why", record_id=record.id), 303)
    config = services().config
    host, profile = record.host, record.profile
    try:
        rule = forms.rule(host, "allow").rule
        assert rule is not None  # forms.rule refuses a rule it could not read
    except FieldError as exc:
        flash(f"Not allowed: {exc}", "error")
        return redirect(url_for("log.why", record_id=record.id), 303)
    at = datetime.fromtimestamp(record.started, config.zone())
    target = host if record.method == "CONNECT" else f"{record.scheme or 'http'}://{host}{record.target or '/'}"
    if not always_allow_helps(config, profile, host, target, at):
        flash(f"Not added: allowing {host} for good would not have let this through "
              "(a schedule, a service block or your own block rule comes first).", "error")
        return redirect(url_for("log.why", record_id=record.id), 303)
    save(lambda doc: mutations.add_rule(doc, profile, "allow", rule, config),
         f"{host} is now always allowed for the profile {profile}.")
    return redirect(url_for("log.why", record_id=record.id), 303)


@bp.post("/log/allow-minutes")
def allow_minutes() -> Response:
    record = _record(forms.whole_number(request.form.get("record"), "Record", 1, 2**62))
    try:
        minutes = forms.minutes(request.form.get("minutes"))
        if not record.host or not (record.device or record.profile):
            raise FieldError("This request was logged without its site or device, so it cannot be allowed from here.")
    except FieldError as exc:
        flash(str(exc), "error")
        return redirect(url_for("log.why", record_id=record.id), 303)
    scope: Scope
    scope, name = ("device", record.device) if record.device else ("profile", record.profile)
    try:
        entry = services().pauses.add_allowance(scope, name or "default", record.host, minutes)
    except ValueError as exc:
        flash(f"Not allowed: {exc}", "error")
        return redirect(url_for("log.why", record_id=record.id), 303)
    flash(entry.describe(services().config.zone()) + ".", "ok")
    return redirect(url_for("log.why", record_id=record.id), 303)
