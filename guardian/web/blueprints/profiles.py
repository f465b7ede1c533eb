"""Profiles: create, rename, delete (not `default`); their lists, the parents' own rules
(checked as typed by static/app.js through /api/rules/check), schedules with a weekly
picture, safe search and YouTube mode; pausing a whole profile."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response  # what redirect() gives; flask's Response is one too

from guardian.config import (
    DAYS,
    INSPECT_MODES,
    PAC_FALLBACKS,
    REFERER_POLICIES,
    THIRD_PARTY_COOKIES,
    YOUTUBE_MODES,
)
from guardian.filekinds import check_file_kind, file_groups
from guardian.policy.schedules import week_intervals

from .. import forms, mutations
from ..allowances import EXTEND_CHOICES, running
from ..charts import week_picture
from ..editing import save, save_form
from ..field_errors import FormFields, refused
from ..forms import FieldError
from ..outcomes import allow_rule_conflicts
from ..state import profile_or_404, services

bp = Blueprint("profiles", __name__)
KINDS = ("block", "allow")
NAME_FIELDS = FormFields(labels={"name": "Name"}, default="name")
RULE_FIELDS = FormFields(labels={"rule": "Rule"}, keys={"block": "rule", "allow": "rule"}, default="rule")
SCHEDULE_FIELDS = FormFields(labels={"name": "Name", "days": "Days", "from": "From", "to": "Until", "rules": "Rules"},
                             keys={"block": "rules"}, aliases={"Schedule name": "name"}, default="name")


def _back(name: str) -> Response:
    return redirect(url_for("profiles.edit", name=name), 303)


@bp.get("/profiles")
def index() -> str:
    return index_page()


def index_page() -> str:
    config = services().config
    users = {p.name: [d.name for d in config.devices if d.profile == p.name] for p in config.profiles}
    paused = {r.name: r for r in running(kind="pause", scope="profile")}
    return render_template("profiles/index.html", title="Profiles", profiles=config.profiles, users=users,
                           paused=paused, allowances=running(kind="allow", scope="profile"),
                           extend_choices=EXTEND_CHOICES)


@bp.get("/profiles/edit")
def edit() -> str:
    return edit_page(request.args.get("name"))


def edit_page(name: str | None) -> str:
    """The profile's page; a refused form on it is rendered again through this too."""
    profile = profile_or_404(name)
    pictures = {s.name: week_picture(week_intervals(s), f"When {s.name} applies") for s in profile.schedules}
    config = services().config
    conflicts = {rule: allow_rule_conflicts(config, profile.name, rule) for rule in profile.allow}
    undone = {}  # block rule -> the allow rule that undoes it
    for allow_rule, notes in conflicts.items():
        for note in notes:
            if note.startswith("It undoes your own block rule "):
                undone[note.removeprefix("It undoes your own block rule ").split(":", 1)[0]] = allow_rule
    check_allow = request.args.get("check_allow", "")[:2000]
    pending = allow_rule_conflicts(config, profile.name, check_allow) if check_allow else []
    groups = file_groups()
    return render_template("profiles/edit.html", title=f"Profile {profile.name}", profile=profile,
                           lists=services().config.lists, youtube_modes=YOUTUBE_MODES, days=DAYS,
                           pictures=pictures, file_groups=groups.values(),
                           running=running(scope="profile", name=profile.name), extend_choices=EXTEND_CHOICES,
                           conflicts=conflicts, undone=undone, check_allow=check_allow, pending=pending,
                           pending_confirm=request.args.get("confirm", ""),
                           other_file_types=[k for k in profile.block_file_types if k not in groups],
                           privacy=services().config.privacy_for(profile))


@bp.post("/profiles/create")
def create() -> Response | tuple[str, int]:
    try:
        name = forms.text(request.form.get("name"), "Name")
    except FieldError as exc:
        return refused(exc, NAME_FIELDS, index_page)
    config = services().config
    return save_form(lambda doc: mutations.add_profile(doc, name, config), f"Profile {name} created.",
                     NAME_FIELDS, index_page, lambda: _back(name))


@bp.post("/profiles/rename")
def rename() -> Response | tuple[str, int]:
    old = profile_or_404(request.form.get("profile")).name
    try:
        new = forms.text(request.form.get("name"), "Name")
    except FieldError as exc:
        return refused(exc, NAME_FIELDS, lambda: edit_page(old))
    config = services().config
    return save_form(lambda doc: mutations.rename_profile(doc, old, new, config), f"Renamed to {new}.",
                     NAME_FIELDS, lambda: edit_page(old), lambda: _back(new))


@bp.post("/profiles/delete")
def delete() -> Response:
    name = profile_or_404(request.form.get("profile")).name
    config = services().config
    if save(lambda doc: mutations.delete_profile(doc, name, config), f"Profile {name} deleted."):
        return redirect(url_for("profiles.index"), 303)
    return _back(name)


@bp.post("/profiles/options")
def options() -> Response:
    name = profile_or_404(request.form.get("profile")).name
    config = services().config
    known = {entry.id for entry in config.lists}
    chosen = [list_id for list_id in request.form.getlist("lists") if list_id in known]
    try:
        youtube = forms.choice(request.form.get("youtube", "off"), "YouTube", YOUTUBE_MODES)
        fallback = forms.choice(request.form.get("pac_fallback", "none"), "When Guardian is off", PAC_FALLBACKS)
    except FieldError as exc:
        flash(str(exc), "error")
        return _back(name)
    safe = request.form.get("safe_search") == "on"
    save(lambda doc: mutations.set_profile_options(doc, name, chosen, safe, youtube, config, fallback), "Saved.")
    return _back(name)


@bp.post("/profiles/https")
def https() -> Response:
    name = profile_or_404(request.form.get("profile")).name
    config = services().config
    try:
        mode = forms.choice(request.form.get("inspect_https", "off"), "Look inside HTTPS connections", INSPECT_MODES)
        hosts = request.form.get("inspect_hosts", "").replace(",", " ").split()
        if mode == "hosts" and not hosts:
            raise FieldError("Sites to look inside: name at least one site, like youtube.com.")
    except FieldError as exc:
        flash(str(exc), "error")
        return _back(name)
    block_page = request.form.get("https_block_page") == "on"
    save(lambda doc: mutations.set_profile_https(doc, name, block_page, mode, hosts, config), "Saved.")
    return _back(name)


@bp.post("/profiles/downloads-privacy")
def downloads_privacy() -> Response:
    name = profile_or_404(request.form.get("profile")).name
    config = services().config
    groups = file_groups()
    kinds = [group for group in groups if group in request.form.getlist("file_types")]
    try:
        for extension in request.form.get("other_file_types", "").replace(",", " ").split():
            problem = check_file_kind(extension)
            if problem:
                raise FieldError(f"Other file types: {extension} is not a file extension such as exe.")
            kinds.append(extension.lower().lstrip("."))
        privacy = {
            "strip_tracking_parameters": request.form.get("strip_tracking_parameters") == "on",
            "referer": forms.choice(request.form.get("referer", "origin"), "Referrer", REFERER_POLICIES),
            "global_privacy_control": request.form.get("global_privacy_control") == "on",
            "third_party_cookies": forms.choice(request.form.get("third_party_cookies", "allow"),
                                                "Third-party cookies", THIRD_PARTY_COOKIES),
        }
    except FieldError as exc:
        flash(str(exc), "error")
        return _back(name)
    save(lambda doc: mutations.set_downloads_and_privacy(doc, name, list(dict.fromkeys(kinds)), privacy, config),
         "Saved.")
    return _back(name)


@bp.post("/profiles/rules/add")
def add_rule() -> Response | tuple[str, int]:
    name = profile_or_404(request.form.get("profile")).name
    config = services().config
    try:
        kind = forms.choice(request.form.get("kind"), "Kind", KINDS)
        typed = forms.rule(request.form.get("rule"), kind, request.form.get("confirm") == "on",
                           config.profile(name), config.https.bypass)
    except FieldError as exc:
        return refused(exc, RULE_FIELDS, lambda: edit_page(name), key_field="kind")
    rule = typed.rule
    assert rule is not None
    if kind == "allow" and request.form.get("despite") != "1" and allow_rule_conflicts(config, name, rule):
        # say what still beats it before saving; the profile page asks to save anyway
        return redirect(url_for("profiles.edit", name=name, check_allow=rule, confirm=request.form.get("confirm")), 303)
    return save_form(lambda doc: mutations.add_rule(doc, name, kind, rule, config),
                     " ".join([f"Added {rule} to the {kind} rules.", *typed.notes, *typed.warnings]),
                     RULE_FIELDS, lambda: edit_page(name), lambda: _back(name), key_field="kind")


@bp.post("/profiles/rules/remove")
def remove_rule() -> Response:
    name = profile_or_404(request.form.get("profile")).name
    config = services().config
    kind = request.form.get("kind", "")
    rule = request.form.get("rule", "")
    if kind not in KINDS:
        abort(400)
    save(lambda doc: mutations.remove_rule(doc, name, kind, rule, config), f"Removed {rule}.")
    return _back(name)


@bp.post("/profiles/schedules/add")
def add_schedule() -> Response | tuple[str, int]:
    name = profile_or_404(request.form.get("profile")).name
    config = services().config
    try:
        schedule = {
            "name": forms.text(request.form.get("name"), "Name"),
            "days": [day for day in DAYS if day in request.form.getlist("days")],
            "from": forms.clock(request.form.get("from"), "From"),
            "to": forms.clock(request.form.get("to"), "Until"),
        }
        if not schedule["days"]:
            raise FieldError("Days: tick at least one day.")
        if request.form.get("what") == "some":
            lines = [line for line in request.form.get("rules", "").splitlines() if line.strip()]
            if not lines:
                raise FieldError("Rules: give at least one site, or choose “everything”.")
            schedule["block"] = [_schedule_rule(line) for line in lines]
        else:
            schedule["block"] = "all"
    except FieldError as exc:
        return refused(exc, SCHEDULE_FIELDS, lambda: edit_page(name))
    return save_form(lambda doc: mutations.add_schedule(doc, name, schedule, config),
                     f"Schedule {schedule['name']} added.", SCHEDULE_FIELDS, lambda: edit_page(name),
                     lambda: _back(name))


def _schedule_rule(line: str) -> str:
    typed = forms.explain_rule(line, "block")
    if typed.error:
        raise FieldError(f"Rules: {typed.error}")
    if typed.confirm:
        raise FieldError(f"Rules: {line.strip()} would block every site; choose “everything” instead.")
    assert typed.rule is not None
    return typed.rule


@bp.post("/profiles/schedules/remove")
def remove_schedule() -> Response:
    name = profile_or_404(request.form.get("profile")).name
    config = services().config
    schedule = request.form.get("schedule", "")
    save(lambda doc: mutations.remove_schedule(doc, name, schedule, config), f"Schedule {schedule} removed.")
    return _back(name)


@bp.post("/profiles/pause")
def pause() -> Response:
    name = profile_or_404(request.form.get("profile")).name
    try:
        minutes = forms.minutes(request.form.get("minutes"))
    except FieldError as exc:
        flash(str(exc), "error")
    else:
        entry = services().pauses.add_pause("profile", name, minutes)
        flash(entry.describe(services().config.zone()) + ".", "ok")
    return redirect(url_for("profiles.index"), 303)
