"""Logging in and out, and setting the first password with the one-time code.

The set-up form exists only while no password is set; it needs the code printed to the
service log, so someone who merely reaches the page on the network cannot claim the
house. Failed logins and wrong codes count towards the same lockout (throttle.py).
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse  # what redirect() gives

from ..credentials import PasswordError, check_new_password
from ..security import end_session, logged_in, proxied_client, start_session
from ..state import web_state
from ..throttle import LoginThrottle

bp = Blueprint("auth", __name__)


def _client() -> str:
    """The device asking: through Guardian's own proxy every request comes from this
    machine, so the proxy names the real device in a header only it can sign."""
    return proxied_client() or request.remote_addr or "unknown"


def _throttle() -> LoginThrottle:
    state = web_state()
    state.throttle.password_is(state.credentials.generation())
    return state.throttle


def _locked_page(template: str, seconds: float) -> Response:
    minutes = max(1, round(seconds / 60))
    message = (f"Too many wrong tries. Try again in {minutes} minute{'s' * (minutes != 1)}, or set a new "
               "password on the Guardian machine with `guardian set-password`.")
    return Response(render_template(template, error=message, title="Locked"), 429)


def _safe_next(target: str | None) -> str:
    # Only a path on this site: an attacker's link must not send the parent elsewhere after login.
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("dashboard.index")


@bp.route("/login", methods=["GET", "POST"])
def login() -> BaseResponse | str:
    state = web_state()
    if not state.credentials.has_password():
        return redirect(url_for("auth.setup"))
    if request.method == "GET":
        if logged_in():
            return redirect(_safe_next(request.args.get("next")))
        return render_template("auth/login.html", title="Log in", next=request.args.get("next", ""))
    locked = _throttle().locked_for(_client())
    if locked:
        return _locked_page("auth/login.html", locked)
    try:
        good = state.credentials.verify(request.form.get("password", ""))
    except PasswordError as exc:
        return Response(render_template("auth/login.html", title="Log in", error=str(exc)), 500)
    if not good:
        _throttle().failed(_client())
        return Response(render_template("auth/login.html", title="Log in", error="Wrong password.",
                                        next=request.form.get("next", "")), 401)
    _throttle().succeeded(_client())
    start_session()
    return redirect(_safe_next(request.form.get("next")), 303)


def _plain_code(text: str) -> str:
    """The code as letters and digits only: `FRA2 69KX T7G3`, `fra2-69kx-t7g3` and `fra269kxt7g3` are one code."""
    return "".join(ch for ch in text[:200] if ch.isascii() and ch.isalnum()).lower()


@bp.route("/setup", methods=["GET", "POST"])
def setup() -> BaseResponse | str:
    state = web_state()
    if state.credentials.has_password():
        return redirect(url_for("auth.login"))
    code = state.setup_code()
    if request.method == "GET":
        return render_template("auth/setup.html", title="Set the password")
    locked = _throttle().locked_for(_client())
    if locked:
        return _locked_page("auth/setup.html", locked)
    if not hmac.compare_digest(_plain_code(request.form.get("code", "")).encode(), _plain_code(code).encode()):
        _throttle().failed(_client())
        return Response(render_template("auth/setup.html", title="Set the password",
                                        error="That is not the code in the service log."), 401)
    try:
        password = check_new_password(request.form.get("password", ""), request.form.get("confirm", ""))
    except PasswordError as exc:
        return Response(render_template("auth/setup.html", title="Set the password", error=str(exc)), 400)
    state.credentials.set_password(password)
    state.forget_setup_code()
    _throttle().succeeded(_client())
    start_session()
    flash("Password set. Welcome to Guardian.", "ok")
    return redirect(url_for("guide.index"), 303)


@bp.post("/logout")
def logout() -> BaseResponse:
    end_session()
    return redirect(url_for("auth.login"), 303)
