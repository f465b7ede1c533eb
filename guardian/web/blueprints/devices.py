"""Devices: the configured ones and the ones seen on the network; naming, profiles,
addresses, pausing filtering and extra time (small forms that work without JavaScript;
forgetting a device asks on a page of its own first)."""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response  # what redirect() gives; flask's Response is one too

from guardian.logstore import LogUnavailableError

from .. import forms, mutations
from ..allowances import EXTEND_CHOICES, Running, group_of, running
from ..editing import save, save_form
from ..field_errors import FormFields, refused
from ..forms import FieldError
from ..state import services
from .dashboard import start_of_today
from .trust import trust_by_device

bp = Blueprint("devices", __name__)
PAUSE_CHOICES = (15, 30, 60, 120, 240)
DEVICE_FIELDS = FormFields(labels={"name": "Name", "match": "Address", "profile": "Profile"}, default="name")
ADDRESS_FIELDS = FormFields(labels={"match": "Address"}, default="match")


def _requests_today() -> tuple[dict[str, int], dict[str, int]]:
    """Today's requests per named device, and per address for devices without a name."""
    queries = services().log_queries
    if queries is None:
        return {}, {}
    try:
        since = start_of_today()
        named = {d.device: d.requests for d in queries.top_devices(since, limit=1000) if d.device}
        return named, queries.unnamed_by_address(since)
    except LogUnavailableError:
        return {}, {}


def unnamed_devices() -> list[dict[str, Any]]:
    """Seen devices no configured device matches by IP or MAC, most recent first."""
    configured = {match for device in services().config.devices for match in device.match}
    return [seen for seen in services().devices_seen.devices()
            if seen.get("ip") not in configured and seen.get("mac") not in configured]


def pauses_by_device() -> dict[str, Running]:
    return {r.name: r for r in running(kind="pause", scope="device")}


@bp.get("/devices")
def index() -> str:
    config = services().config
    named_today, unnamed_today = _requests_today()
    return render_template("devices/index.html", title="Devices", devices=config.devices,
                           profiles=[p.name for p in config.profiles], seen=unnamed_devices(),
                           today=named_today, unnamed_today=unnamed_today, pauses=pauses_by_device(),
                           choices=PAUSE_CHOICES,
                           allowances=running(kind="allow", scope="device"), extend_choices=EXTEND_CHOICES,
                           trust=trust_by_device())


def _profile_field() -> str:
    return forms.choice(request.form.get("profile"), "Profile", tuple(p.name for p in services().config.profiles))


def _to_index() -> Response:
    return redirect(url_for("devices.index"), 303)


@bp.post("/devices/name")
def name() -> Response | tuple[str, int]:
    try:
        match = forms.device_match(request.form.get("match"))
        label = forms.text(request.form.get("name"), "Name")
        profile = _profile_field()
    except FieldError as exc:
        return refused(exc, DEVICE_FIELDS, index)
    return save_form(lambda doc: mutations.add_device(doc, label, match, profile), f"{label} is now a named device.",
                     DEVICE_FIELDS, index, _to_index)


@bp.post("/devices/update")
def update() -> Response | tuple[str, int]:
    old = request.form.get("device", "")
    try:
        label = forms.text(request.form.get("name"), "Name")
        profile = _profile_field()
    except FieldError as exc:
        return refused(exc, DEVICE_FIELDS, index)
    return save_form(lambda doc: mutations.update_device(doc, old, label, profile), f"{label} saved.",
                     DEVICE_FIELDS, index, _to_index)


@bp.post("/devices/address/add")
def add_address() -> Response | tuple[str, int]:
    """A second address for a named device: its MAC, or the other IP it gets on another network."""
    device = request.form.get("device", "")
    try:
        match = forms.device_match(request.form.get("match"))
    except FieldError as exc:
        return refused(exc, ADDRESS_FIELDS, index)
    return save_form(lambda doc: mutations.add_device_match(doc, device, match), f"{device} now also has {match}.",
                     ADDRESS_FIELDS, index, _to_index)


@bp.post("/devices/address/remove")
def remove_address() -> Response:
    device, match = request.form.get("device", ""), request.form.get("match", "")
    save(lambda doc: mutations.remove_device_match(doc, device, match), f"{match} is no longer {device}.")
    return _to_index()


@bp.get("/devices/forget")
def forget() -> str:
    """The question before forgetting a device, as a page: it works without JavaScript."""
    wanted = request.args.get("device", "")
    device = next((d for d in services().config.devices if d.name == wanted), None)
    if device is None:
        abort(404)
    return render_template("devices/forget.html", title=f"Forget {device.name}?", device=device)


@bp.post("/devices/remove")
def remove() -> Response:
    old = request.form.get("device", "")
    save(lambda doc: mutations.remove_device(doc, old), f"{old} is no longer a named device.")
    return _to_index()


def _named_device() -> str:
    name = request.form.get("device", "")
    if not any(d.name == name for d in services().config.devices):
        raise FieldError("That device is not in the configuration any more.")
    return name


@bp.post("/devices/pause")
def pause() -> Response:
    """Filtering off for the device for N minutes; "extra" adds the minutes to a pause
    still running instead of starting from now."""
    try:
        device = _named_device()
        minutes = forms.minutes(request.form.get("minutes"))
    except FieldError as exc:
        flash(str(exc), "error")
        return redirect(url_for("devices.index"), 303)
    start = time.time()
    running = pauses_by_device().get(device)
    if request.form.get("extra") and running is not None:
        start = max(start, running.expires)
    entry = services().pauses.add_pause("device", device, minutes, now=start)
    flash(entry.describe(services().config.zone()) + ".", "ok")
    return redirect(url_for("devices.index"), 303)


def _back_where_asked() -> Response:
    return redirect(request.referrer if request.referrer and request.referrer.startswith(request.host_url)
                    else url_for("devices.index"), 303)


@bp.post("/pauses/cancel")
def cancel() -> Response:
    """End a pause or allowance now, with every extension of it (the form names them all)."""
    ended = [e for e in (services().pauses.cancel(i) for i in request.form.getlist("id")[:100]) if e]
    flash("Ended." if ended else "That had already ended.", "ok" if ended else "note")
    return _back_where_asked()


@bp.post("/pauses/extend")
def extend() -> Response:
    """+N minutes on a running pause or allowance, counted from when it would end."""
    try:
        minutes = forms.minutes(request.form.get("minutes"))
    except FieldError as exc:
        flash(str(exc), "error")
        return _back_where_asked()
    found = group_of(request.form.get("id", ""))
    if found is None:
        flash("That had already ended.", "note")
        return _back_where_asked()
    entry, same = found
    start = max(time.time(), *(e.expires for e in same))
    pauses = services().pauses
    if entry.kind == "pause":
        added = pauses.add_pause(entry.scope, entry.name, minutes, now=start)
    elif entry.kind == "end":
        assert entry.host is not None
        added = pauses.end_schedule(entry.name, entry.host, minutes, now=start)
    else:
        assert entry.host is not None
        added = pauses.add_allowance(entry.scope, entry.name, entry.host, minutes, now=start)
    flash(added.describe(services().config.zone()) + ".", "ok")
    return _back_where_asked()
