"""Logging in and out, and setting the first password with the one-time code.

The set-up form exists only while no password is set; it needs the code printed to the
service log, so someone who merely reaches the page on the network cannot claim the
house. Failed logins and wrong codes count towards the same lockout (throttle.py).
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from flask import Blueprint, Response, flash, redirect, render_template, request, session, url_for

from ..credentials import PasswordError, check_new_password
from ..security import logged_in, start_session
from ..state import web_state

bp = Blueprint("auth", __name__)


def _client() -> str:
    return request.remote_addr or "unknown"


def _locked_page(template: str, seconds: float) -> Response:
    minutes = max(1, round(seconds / 60))
    message = f"Too many wrong tries from this device. Try again in {minutes} minute{'s' * (minutes != 1)}."
    return Response(render_template(template, error=message, title="Locked"), 429)


def _safe_next(target: str | None) -> str:
    # Only a path on this site: an attacker's link must not send the parent elsewhere after login.
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("dashboard.index")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str:
    state = web_state()
    if not state.credentials.has_password():
        return redirect(url_for("auth.setup"))
    if request.method == "GET":
        if logged_in():
            return redirect(_safe_next(request.args.get("next")))
        return render_template("auth/login.html", title="Log in", next=request.args.get("next", ""))
    locked = state.throttle.locked_for(_client())
    if locked:
        return _locked_page("auth/login.html", locked)
    try:
        good = state.credentials.verify(request.form.get("password", ""))
    except PasswordError as exc:
        return Response(render_template("auth/login.html", title="Log in", error=str(exc)), 500)
    if not good:
        state.throttle.failed(_client())
        return Response(render_template("auth/login.html", title="Log in", error="Wrong password.",
                                        next=request.form.get("next", "")), 401)
    state.throttle.succeeded(_client())
    start_session()
    return redirect(_safe_next(request.form.get("next")), 303)


@bp.route("/setup", methods=["GET", "POST"])
def setup() -> Response | str:
    state = web_state()
    if state.credentials.has_password():
        return redirect(url_for("auth.login"))
    code = state.setup_code()
    if request.method == "GET":
        return render_template("auth/setup.html", title="Set the password")
    locked = state.throttle.locked_for(_client())
    if locked:
        return _locked_page("auth/setup.html", locked)
    typed = request.form.get("code", "").strip().lower()
    if not hmac.compare_digest(typed.encode(), code.encode()):
        state.throttle.failed(_client())
        return Response(render_template("auth/setup.html", title="Set the password",
                                        error="That is not the code in the service log."), 401)
    try:
        password = check_new_password(request.form.get("password", ""), request.form.get("confirm", ""))
    except PasswordError as exc:
        return Response(render_template("auth/setup.html", title="Set the password", error=str(exc)), 400)
    state.credentials.set_password(password)
    state.forget_setup_code()
    state.throttle.succeeded(_client())
    start_session()
    flash("Password set. Welcome to Guardian.", "ok")
    return redirect(url_for("guide.index"), 303)


@bp.post("/logout")
def logout() -> Response:
    session.clear()
    return redirect(url_for("auth.login"), 303)
