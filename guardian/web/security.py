"""The request checks every page and API call passes, in order, and the response headers.

1. Host allow-list (hosts.py): anything else is 400 before any other work.
2. Who is asking: the pages need a session cookie from /login; the API takes the same
   session or the installation's API token as `Authorization: Bearer ...`. Without an
   admin password, pages lead to the set-up form.
3. State changes (any method but GET/HEAD/OPTIONS) from a browser session need the
   session's CSRF token (form field `csrf_token` or header `X-CSRF-Token`) and, when the
   browser says where the request comes from (Origin, else Referer), this very origin.
   A bearer token is not sent by browsers on their own, so token calls skip this.
4. Every response carries a strict Content-Security-Policy (only this site's own
   scripts, styles and images; no framing) and is not cached when it is a page.

Sessions are Flask's signed cookies (HttpOnly, SameSite=Lax), made permanent with a
lifetime of at most seven days counted from login, and tied to the password's
generation and to a session id the server keeps (credentials.py), so logging out ends
the session on the server and a password change logs every browser out.
"""

from __future__ import annotations

import hmac
import secrets
import time
from datetime import timedelta
from urllib.parse import urlsplit

from flask import Flask, Response, abort, g, jsonify, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response as BaseResponse  # what redirect() gives

from .hosts import split_host
from .state import web_state

SESSION_LIFETIME = timedelta(days=7)
CLIENT_HEADER = "Guardian-Client"  # set by the proxy when it forwards a device's request here
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PUBLIC_ENDPOINTS = frozenset({"static", "favicon", "auth.login", "auth.setup", "guide.pac", "guide.wpad", "trust.index",
                              "trust.der", "trust.pem", "trust.mobileconfig"})
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


def configure(app: Flask) -> None:
    app.config.update(
        SESSION_COOKIE_NAME="guardian_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
        MAX_CONTENT_LENGTH=4 * 2**20,  # the largest thing posted is a backup archive
    )
    app.before_request(_check_host)
    app.before_request(_check_login)
    app.before_request(_check_csrf)
    app.after_request(_headers)
    app.jinja_env.globals["csrf_token"] = csrf_token


def csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def start_session() -> None:
    """Log in: a new session (a new CSRF token too), so nothing from before carries over."""
    session.clear()
    session.permanent = True
    credentials = web_state().credentials
    session["gen"] = credentials.generation()
    session["login_at"] = time.time()
    session["sid"] = credentials.new_session(session["login_at"], SESSION_LIFETIME.total_seconds())
    session["csrf"] = secrets.token_urlsafe(32)


def logged_in() -> bool:
    gen = session.get("gen")
    started = session.get("login_at")
    if not gen or not isinstance(started, int | float):
        return False
    if time.time() - started > SESSION_LIFETIME.total_seconds():
        return False
    credentials = web_state().credentials
    current = credentials.generation()
    if current is None or not hmac.compare_digest(str(gen), current):
        return False
    sid = session.get("sid")
    return isinstance(sid, str) and credentials.session_alive(sid)


def end_session() -> None:
    """Log out on the server too: a copy of the cookie no longer works either."""
    sid = session.get("sid")
    if isinstance(sid, str):
        web_state().credentials.end_session(sid)
    session.clear()


def proxied_client(header: str | None = None) -> str | None:
    """The real device's address when this request came through Guardian's own proxy,
    which adds `CLIENT_HEADER: <address> <secret>` (and drops any copy a client sent);
    None for a request that reached the page directly or carries a wrong secret."""
    value = header if header is not None else request.headers.get(CLIENT_HEADER)
    if not value:
        return None
    address, _, secret = value.partition(" ")
    expected = web_state().services.client_header_secret
    if not secret or not hmac.compare_digest(secret.encode(), expected.encode()):
        return None
    return address


def is_api() -> bool:
    return request.path.startswith("/api/")


def api_error(status: int, message: str) -> Response:
    response = jsonify({"error": message})
    response.status_code = status
    return response


# Devices that auto-detect a proxy fetch the PAC file by the name `wpad` (docs/install.md);
# that file is public and tells nothing a rebinding page could use.
_WPAD_ENDPOINTS = frozenset({"guide.pac", "guide.wpad"})


def _wpad_name(host: str) -> bool:
    name = split_host(host)
    return name == "wpad" or name.startswith("wpad.")


def _check_host() -> Response | None:
    if request.endpoint in _WPAD_ENDPOINTS and _wpad_name(request.host):
        return None
    if not web_state().hosts.allowed(request.host):
        return Response("Unknown host name: use the settings page's own address.\n", 400,
                        mimetype="text/plain")
    return None


def _check_login() -> BaseResponse | None:
    g.via_token = False
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    state = web_state()
    if is_api():
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            if state.credentials.check_api_token(header[7:].strip()):
                g.via_token = True
                return None
            return api_error(401, "the API token is not valid")
        if logged_in():
            return None
        return api_error(401, "log in first, or send the API token as 'Authorization: Bearer TOKEN'")
    if not state.credentials.has_password():
        return redirect(url_for("auth.setup"))
    if logged_in():
        return None
    if request.method in SAFE_METHODS:
        return redirect(url_for("auth.login", next=request.full_path if request.query_string else request.path))
    return redirect(url_for("auth.login"))


def _same_origin() -> bool:
    expected = f"{request.scheme}://{request.host}".lower()
    origin = request.headers.get("Origin")
    if origin is not None:
        return origin.lower() == expected
    referer = request.headers.get("Referer")
    if referer is not None:
        parts = urlsplit(referer)
        return f"{parts.scheme}://{parts.netloc}".lower() == expected
    return True  # neither header: not a browser's cross-site request; the token still decides


def _check_csrf() -> Response | None:
    if request.method in SAFE_METHODS or g.get("via_token"):
        return None
    if not _same_origin():
        return _forbidden("This change came from another site, so it was refused.")
    sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token", "")
    expected = session.get("csrf")
    if not expected or not hmac.compare_digest(str(sent).encode(), str(expected).encode()):
        return _forbidden("The form had expired or did not come from this page. Reload the page and try again.")
    return None


def _forbidden(message: str) -> Response:
    if is_api():
        return api_error(403, message)
    return Response(render_template("error.html", title="Refused", message=message), 403)


def _headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    if request.endpoint not in ("static", "favicon"):
        response.headers["Cache-Control"] = "no-store"
    return response


def require_json() -> dict:
    """The JSON object of an API call, or a 400."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(api_error(400, "send a JSON object with Content-Type: application/json"))
    return body
