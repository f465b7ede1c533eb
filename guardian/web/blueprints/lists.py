"""Lists: subscribe from the catalog in one tap, by URL or to a file on this machine,
see each list's state in words, turn lists off, and "update now" (run on a thread by
refresher.py; the page shows the download running and updates itself when it ends)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from flask import Blueprint, flash, redirect, render_template, request, url_for
from tomlkit import TOMLDocument
from werkzeug.wrappers import Response  # what redirect() gives; flask's Response is one too

from guardian.config import LIST_FORMATS
from guardian.config_edit import add_list, add_list_to_profile, remove_list
from guardian.lists.catalog import CatalogEntry, CatalogError, find_entry, is_builtin, load_catalog
from guardian.lists.download import file_url_path

from .. import forms, mutations
from ..editing import Mutation, save
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
        whole: tuple[CatalogEntry, ...] = load_catalog()
        catalog_error = None
    except CatalogError as exc:
        whole, catalog_error = (), str(exc)
    catalog = [c for c in whole if c.id not in subscribed and c.url not in subscribed]
    homepages = {entry.id: c.homepage for entry in s.config.lists for c in whole if entry.url == c.url}
    refresher = web_state().refresher
    return render_template("lists/index.html", title="Lists", rows=rows, catalog=catalog,
                           catalog_error=catalog_error, refresher=refresher, formats=LIST_FORMATS,
                           users=users, counts=rule_counts(), profiles=[p.name for p in s.config.profiles],
                           names=_names(), homepages=homepages)


def _names() -> dict[str, str]:
    return {entry.id: entry.name for entry in services().config.lists}


def _name(list_id: str) -> str:
    """A list's name for a message (its id only when no list has that id)."""
    return _names().get(list_id, list_id)


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
    """Start the download. The page shows it running and updates itself when it ends, so a
    started download needs no message of its own."""
    if not web_state().refresher.start(ids):
        flash("An update is already running; this page shows the result when it is done.", "note")


def _subscribe(change: Mutation, ids: list[str], name: str, chosen: list[str]) -> None:
    """Save a new list and download it, saying both in one message."""
    if web_state().refresher.running:
        detail = "Another download is running: press “Update now” on it when that one is done."
    else:
        detail = "It is downloading now; this page shows the result when it is done."
    if save(change, f"Subscribed to {name} ({_for_whom(chosen)}). {detail}"):
        web_state().refresher.start(ids)  # refused only while another runs, as the message says


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

    _subscribe(change, [entry.id], entry.name, chosen)
    return redirect(url_for("lists.index"), 303)


# The machine's own folders. A list's rules show on pages (the tester, the log), so a file
# there read as a list would show its lines: a page must not be a way to read them.
_SYSTEM_FOLDERS = tuple(Path(p) for p in ("/etc", "/proc", "/sys", "/dev", "/run", "/boot", "/root", "/usr",
                                          "/var", "/bin", "/sbin", "/lib", "/lib64", "/opt", "/snap"))


def _system_file(path: Path) -> bool:
    """Whether `path` (resolved) is the machine's or Guardian's own: a system folder,
    Guardian's data folder, or anything hidden (~/.ssh)."""
    data_dir = services().data_dir.resolve()
    if any(part.startswith(".") for part in path.parts[1:]):
        return True
    return any(path.is_relative_to(folder) for folder in (*_SYSTEM_FOLDERS, data_dir))


def list_source(typed: str) -> str:
    """What the add form's address names, as the configuration stores it: an http(s)://
    address, or a readable file on this machine (an absolute path or a file:// URL, as the
    configuration and `guardian lists add` accept). FieldError in words otherwise."""
    if typed.lower().startswith(("https://", "http://")):
        return typed
    if typed.lower().startswith("file://"):
        try:
            path = file_url_path(typed)
        except ValueError:
            raise FieldError("Address: a file:// address names a file on this machine (file:///home/pi/list.txt)."
                             ) from None
    elif "://" in typed:
        raise FieldError("Address: a list is fetched from an http:// or https:// address, or read from a file "
                         "on this machine.")
    else:
        path = Path(typed)
        if not path.is_absolute():
            raise FieldError("Address: give the whole path of the file, starting with / (/home/pi/list.txt), "
                             "or an http:// or https:// address.")
    if not path.exists():
        raise FieldError(f"Address: there is no file {path} on this machine.")
    if _system_file(path.resolve()):
        raise FieldError(f"Address: {path} is one of this machine's own files, not a list; Guardian reads lists "
                         "from other folders (a home folder, a USB stick).")
    if not path.is_file():
        raise FieldError(f"Address: {path} is a folder, not a file.")
    if not os.access(path, os.R_OK):
        raise FieldError(f"Address: Guardian is not allowed to read {path}; make it readable for Guardian's user.")
    return typed if typed.lower().startswith("file://") else str(path)


@bp.post("/lists/add")
def add() -> Response:
    try:
        name = forms.text(request.form.get("name"), "Name", 100)
        url = list_source(forms.text(request.form.get("url"), "Address", 2000))
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

    _subscribe(change, [list_id], name, chosen)
    return redirect(url_for("lists.index"), 303)


@bp.post("/lists/toggle")
def toggle() -> Response:
    list_id = request.form.get("id", "")
    enabled = request.form.get("enabled") == "1"
    save(lambda doc: mutations.set_list_enabled(doc, list_id, enabled),
         f"{_name(list_id)} turned {'on' if enabled else 'off'}.")
    return redirect(url_for("lists.index"), 303)


@bp.post("/lists/remove")
def remove() -> Response:
    list_id = request.form.get("id", "")
    if save(lambda doc: remove_list(doc, list_id), f"Unsubscribed from {_name(list_id)}."):
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
