"""The JSON API under /api/ (docs/api.md): what the pages' script calls, and what a
household's own scripts may use with the API token. Same checks as the pages: login or
token, CSRF for browser sessions, every field validated, edits version-checked."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from flask import Blueprint, Response, jsonify, request

from guardian.logstore import LogQueries, LogUnavailableError
from guardian.policy.pauses import Scope

from .. import forms, mutations
from ..editing import save_json
from ..forms import FieldError
from ..listinfo import rule_counts
from ..security import api_error, require_json
from ..state import services, web_state
from .dashboard import start_of_today
from .log import ACTIONS
from .tester import OTHER, decide

bp = Blueprint("api", __name__, url_prefix="/api")
MAX_PAGE = 500


@bp.errorhandler(FieldError)
def _field_error(exc: FieldError) -> Response:
    return api_error(400, str(exc))


@bp.errorhandler(LogUnavailableError)
def _no_log(exc: LogUnavailableError) -> Response:
    return api_error(503, f"the request log cannot be read: {exc}")


def _queries() -> LogQueries:
    queries = services().log_queries
    if queries is None:
        raise LogUnavailableError("the request log is turned off")
    return queries


@bp.get("/config/version")
def version() -> Response:
    return jsonify({"version": services().config_version()})


@bp.get("/status")
def status() -> Response:
    s = services()
    body: dict[str, Any] = {
        "lists": [{"id": e.id, "enabled": e.enabled} for e in s.config.lists],
        "cache": s.cache.stats() if s.cache is not None else None,
        "version": s.config_version(),
    }
    try:
        totals = _queries().totals(start_of_today(), time.time())
        body["today"] = dataclasses.asdict(totals)
    except LogUnavailableError:
        body["today"] = None
    return jsonify(body)


@bp.post("/rules/check")
def check_rule() -> Response:
    body = require_json()
    kind = forms.choice(body.get("kind", "block"), "kind", ("block", "allow"))
    profile = next((p for p in services().config.profiles if p.name == body.get("profile")), None)
    typed = forms.explain_rule(body.get("rule"), kind, profile, services().config.https.bypass)
    return jsonify({"ok": typed.ok, "explanation": typed.message(), "rule": typed.rule, "confirm": typed.confirm,
                    "notes": list(typed.notes), "warnings": list(typed.warnings)})


@bp.post("/check")
def check() -> Response:
    body = require_json()
    return jsonify(decide(body.get("url", ""), body.get("device", OTHER), body.get("address", ""), body.get("at", "")))


@bp.get("/devices")
def devices() -> Response:
    s = services()
    return jsonify({
        "configured": [{"name": d.name, "match": list(d.match), "profile": d.profile} for d in s.config.devices],
        "seen": s.devices_seen.devices(),
    })


@bp.get("/log")
def log() -> Response:
    args = request.args
    filters: dict[str, Any] = {"limit": forms.whole_number(args.get("limit", 50), "limit", 1, MAX_PAGE)}
    for key in ("since", "until"):
        if args.get(key):
            filters[key] = float(forms.whole_number(args[key], key, 0, 2**40))
    if args.get("host"):
        filters["host"] = forms.text(args["host"], "host", 253).lower()
    if args.get("device"):
        filters["device"] = forms.text(args["device"], "device")
    if args.get("action"):
        filters["action"] = forms.choice(args["action"], "action", ACTIONS)
    if args.get("before"):
        filters["before_id"] = forms.whole_number(args["before"], "before", 1, 2**62)
    page = _queries().search(**filters)
    return jsonify({"records": [dataclasses.asdict(r) for r in page.records], "next_before": page.next_before_id})


@bp.get("/log/<int:record_id>")
def log_record(record_id: int) -> Response:
    explanation = _queries().why_blocked(record_id)
    if explanation is None:
        return api_error(404, "no such record (it may have expired)")
    return jsonify({"record": dataclasses.asdict(explanation.record), "summary": explanation.summary})


def _scope(body: dict) -> tuple[Scope, str]:
    chosen = forms.choice(body.get("scope"), "scope", ("profile", "device"))
    scope: Scope = "profile" if chosen == "profile" else "device"
    name = body.get("name")
    config = services().config
    names = [p.name for p in config.profiles] if scope == "profile" else [d.name for d in config.devices]
    if name not in names:
        raise FieldError(f"name: no {scope} is named {name!r}")
    return scope, name


@bp.get("/pauses")
def pauses() -> Response:
    return jsonify({"entries": [p.to_plain() for p in services().pauses.active()]})


@bp.post("/pauses")
def add_pause() -> tuple[Response, int]:
    body = require_json()
    scope, name = _scope(body)
    entry = services().pauses.add_pause(scope, name, forms.minutes(body.get("minutes")))
    return jsonify(entry.to_plain()), 201


@bp.post("/allowances")
def add_allowance() -> tuple[Response, int]:
    body = require_json()
    scope, name = _scope(body)
    try:
        entry = services().pauses.add_allowance(scope, name, forms.host(body.get("host")),
                                                forms.minutes(body.get("minutes")))
    except ValueError as exc:
        raise FieldError(f"host: {exc}") from None
    return jsonify(entry.to_plain()), 201


@bp.delete("/pauses/<entry_id>")
def cancel_pause(entry_id: str) -> Response:
    entry = services().pauses.cancel(entry_id)
    if entry is None:
        return api_error(404, "no active pause or allowance has that id")
    return jsonify(entry.to_plain())


@bp.get("/lists")
def lists() -> Response:
    s = services()
    counts = rule_counts()  # built-in lists too
    out = []
    for entry in s.config.lists:
        meta = s.list_store.load_meta(entry.id)
        out.append({"id": entry.id, "name": entry.name, "url": entry.url, "enabled": entry.enabled,
                    "status": meta.status if meta else None, "rules": counts.get(entry.id) or 0,
                    "profiles": [p.name for p in s.config.profiles if entry.id in p.lists],
                    "error": meta.error if meta else None,
                    "fetched_at": meta.fetched_at.isoformat() if meta and meta.fetched_at else None})
    return jsonify({"lists": out, "updating": web_state().refresher.running})


@bp.post("/lists/refresh")
def refresh() -> Response | tuple[Response, int]:
    body = require_json()
    ids = body.get("ids")
    known = {entry.id for entry in services().config.lists}
    if ids is not None and (not isinstance(ids, list) or not all(isinstance(i, str) and i in known for i in ids)):
        raise FieldError("ids: a list of the ids of subscribed lists, or leave it out for all")
    if not web_state().refresher.start(ids):
        return api_error(409, "an update is already running")
    return jsonify({"started": True}), 202


def _rule_edit(remove: bool) -> Response:
    body = require_json()
    config = services().config
    profile = body.get("profile")
    if profile not in [p.name for p in config.profiles]:
        raise FieldError(f"profile: no profile is named {profile!r}")
    kind = forms.choice(body.get("kind"), "kind", ("block", "allow"))
    if remove:
        rule = forms.text(body.get("rule"), "rule", forms.MAX_RULE)
        return save_json(lambda doc: mutations.remove_rule(doc, profile, kind, rule, config), body.get("version"))
    typed = forms.rule(body.get("rule"), kind, body.get("confirm") is True, config.profile(profile),
                       config.https.bypass).rule
    assert typed is not None  # forms.rule refuses a rule it could not read
    return save_json(lambda doc: mutations.add_rule(doc, profile, kind, typed, config), body.get("version"))


@bp.post("/profiles/rules")
def add_rule() -> Response:
    return _rule_edit(remove=False)


@bp.delete("/profiles/rules")
def remove_rule() -> Response:
    return _rule_edit(remove=True)
