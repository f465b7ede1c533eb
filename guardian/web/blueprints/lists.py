"""Lists: subscribe from the catalog in one tap or by URL, see each list's state in
words, turn lists off, and "update now" (run on a thread by refresher.py)."""

from __future__ import annotations

import re

from flask import Blueprint, flash, redirect, render_template, request, url_for
from tomlkit import TOMLDocument
from werkzeug.wrappers import Response  # what redirect() gives; flask's Response is one too

from guardian.config import LIST_FORMATS
from guardian.config_edit import add_list, add_list_to_profile, remove_list
from guardian.lists.catalog import CatalogError, find_entry, is_builtin, load_catalog

from .. import forms, mutations
from ..editing import save
from ..forms import FieldError
from ..listinfo import rule_counts
from ..state import services, web_state

bp = Blueprint("lists", __name__)


def _slug(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60]
    return slug if slug and slug != "custom" else "list"


def _free_id(base: str) -> str:
    taken = {entry.id for entry in services().config.lists}
    candidate, n = base, 2
    while candidate in taken or candidate == "custom":
        candidate, n = f"{base}-{n}", n + 1
    return candidate


@bp.get("/lists")
def index() -> str:
    s = services()
    rows = [(entry, s.list_store.load_meta(entry.id), is_builtin(entry.url)) for entry in s.config.lists]
    users = {entry.id: [p.name for p in s.config.profiles if entry.id in p.lists] for entry in s.config.lists}
    subscribed = {entry.url for entry in s.config.lists} | {entry.id for entry in s.config.lists}
    try:
        catalog = [c for c in load_catalog() if c.id not in subscribed and c.url not in subscribed]
        catalog_error = None
    except CatalogError as exc:
        catalog, catalog_error = [], str(exc)
    refresher = web_state().refresher
    return render_template("lists/index.html", title="Lists", rows=rows, catalog=catalog,
                           catalog_error=catalog_error, refresher=refresher, formats=LIST_FORMATS,
                           users=users, counts=rule_counts(), profiles=[p.name for p in s.config.profiles])


def _chosen_profiles() -> list[str]:
    """The profiles ticked on the subscribe form (every one is ticked at first)."""
    known = [p.name for p in services().config.profiles]
    if "profiles_asked" not in request.form:  # a form without the question: every profile, as it would be ticked
        return known
    chosen = [name for name in known if name in request.form.getlist("profiles")]
    if not chosen:
        raise FieldError("Tick at least one profile to protect with the new list.")
    return chosen


def _for_whom(chosen: list[str]) -> str:
    return f"profile {chosen[0]}" if len(chosen) == 1 else "profiles " + ", ".join(chosen)


def _refresh(ids: list[str] | None) -> None:
    if web_state().refresher.start(ids):
        flash("Updating in the background; reload this page in a minute to see the result.", "ok")
    else:
        flash("An update is already running; reload this page in a minute.", "note")


@bp.post("/lists/subscribe")
def subscribe() -> Response:
    entry = find_entry(request.form.get("id", ""))
    if entry is None:
        flash("That list is not in the catalog.", "error")
        return redirect(url_for("lists.index"), 303)
    try:
        chosen = _chosen_profiles()
    except FieldError as exc:
        flash(str(exc), "error")
        return redirect(url_for("lists.index"), 303)

    def change(doc: TOMLDocument) -> None:
        add_list(doc, entry.id, entry.url, name=entry.name, format=entry.format)
        for profile in chosen:
            add_list_to_profile(doc, entry.id, profile)

    if save(change, f"Subscribed to {entry.name} ({_for_whom(chosen)})."):
        _refresh([entry.id])
    return redirect(url_for("lists.index"), 303)


@bp.post("/lists/add")
def add() -> Response:
    try:
        name = forms.text(request.form.get("name"), "Name", 100)
        url = forms.text(request.form.get("url"), "Address", 2000)
        if not url.lower().startswith(("https://", "http://")):
            raise FieldError("Address: a list is fetched from an http:// or https:// address.")
        fmt = forms.choice(request.form.get("format", "auto"), "Format", LIST_FORMATS)
        chosen = _chosen_profiles()
    except FieldError as exc:
        flash(str(exc), "error")
        return redirect(url_for("lists.index"), 303)
    list_id = _free_id(_slug(name))

    def change(doc: TOMLDocument) -> None:
        add_list(doc, list_id, url, name=name, format=fmt)
        for profile in chosen:
            add_list_to_profile(doc, list_id, profile)

    if save(change, f"Subscribed to {name} ({_for_whom(chosen)})."):
        _refresh([list_id])
    return redirect(url_for("lists.index"), 303)


@bp.post("/lists/toggle")
def toggle() -> Response:
    list_id = request.form.get("id", "")
    enabled = request.form.get("enabled") == "1"
    save(lambda doc: mutations.set_list_enabled(doc, list_id, enabled),
         f"{list_id} turned {'on' if enabled else 'off'}.")
    return redirect(url_for("lists.index"), 303)


@bp.post("/lists/remove")
def remove() -> Response:
    list_id = request.form.get("id", "")
    if save(lambda doc: remove_list(doc, list_id), f"Unsubscribed from {list_id}."):
        services().list_store.remove(list_id)
    return redirect(url_for("lists.index"), 303)


@bp.post("/lists/update")
def update() -> Response:
    known = {entry.id for entry in services().config.lists}
    list_id = request.form.get("id")
    if list_id and list_id not in known:
        flash("No such list.", "error")
    else:
        _refresh([list_id] if list_id else None)
    return redirect(url_for("lists.index"), 303)
