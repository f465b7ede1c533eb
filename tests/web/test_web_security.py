"""The settings page's security rules, through Flask's test client."""

from __future__ import annotations

import logging
import os
import re
import time
from email.utils import parsedate_to_datetime

from guardian.web import create_app
from guardian.web.commands import set_password_command
from guardian.web.credentials import Credentials
from guardian.web.security import SESSION_LIFETIME
from tests.web.conftest import Web

PASSWORD = "correct horse battery"


def test_no_default_password_every_page_leads_to_setup(web: Web) -> None:
    for path in ("/", "/devices", "/settings", "/login"):
        response = web.get(path)
        assert response.status_code == 302
        assert response.headers["Location"] == "/setup"
    assert web.get("/api/status").status_code == 401
    assert not (web.household.data_dir / "admin.json").exists()
    for password in ("", "admin", "guardian", "password"):
        assert web.post("/login", {"password": password}, version=False).status_code == 302


def test_setup_needs_the_code_from_the_log(household, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="guardian"):
        app = create_app(household)
    code = re.search(r"set-up code (\S+)", caplog.text).group(1)
    web = Web(app.test_client(), household)
    assert web.get("/setup").status_code == 200
    wrong = web.post("/setup", {"code": "aaaa-bbbb-cccc", "password": PASSWORD, "confirm": PASSWORD}, version=False)
    assert wrong.status_code == 401
    assert not Credentials(household.data_dir).has_password()
    short = web.post("/setup", {"code": code, "password": "short", "confirm": "short"}, version=False)
    assert short.status_code == 400
    done = web.post("/setup", {"code": code, "password": PASSWORD, "confirm": PASSWORD}, version=False)
    assert done.status_code == 303
    assert web.get("/").status_code == 200  # logged in by the set-up
    admin = household.data_dir / "admin.json"
    assert admin.stat().st_mode & 0o777 == 0o600
    assert PASSWORD not in admin.read_text() and "scrypt" in admin.read_text()
    assert (household.data_dir / "web-secret").stat().st_mode & 0o777 == 0o600
    # the form is gone once a password exists
    assert web.get("/setup").headers["Location"] == "/login"


def test_login_logout_and_session_cookie(web: Web) -> None:
    Credentials(web.household.data_dir).set_password(PASSWORD)
    page = web.get("/login")
    assert page.status_code == 200
    assert 'name="password"' in page.text and 'name="csrf_token"' in page.text
    assert web.post("/login", {"password": "wrong password"}, version=False).status_code == 401
    response = web.post("/login", {"password": PASSWORD, "next": "//evil.example/"}, version=False)
    assert response.status_code == 303 and response.headers["Location"] == "/"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    expires = parsedate_to_datetime(re.search(r"Expires=([^;]+)", cookie).group(1)).timestamp()
    assert expires - time.time() <= SESSION_LIFETIME.total_seconds() <= 7 * 86400
    assert web.get("/").status_code == 200
    assert web.post("/logout", version=False).status_code == 303
    assert web.get("/").status_code == 302


def test_session_rotated_at_login(web: Web) -> None:
    Credentials(web.household.data_dir).set_password(PASSWORD)
    web.get("/login")
    before = web.csrf()
    web.post("/login", {"password": PASSWORD}, version=False)
    assert web.csrf() != before


def test_session_ends_after_seven_days(admin: Web) -> None:
    with admin.client.session_transaction() as session:
        session["login_at"] = time.time() - SESSION_LIFETIME.total_seconds() - 1
    assert admin.get("/").status_code == 302


def test_password_change_elsewhere_ends_sessions(admin: Web) -> None:
    assert admin.get("/").status_code == 200
    Credentials(admin.household.data_dir).set_password("another long password")
    assert admin.get("/").status_code == 302


def test_five_failures_lock_the_address_for_15_minutes(app, web: Web) -> None:
    Credentials(web.household.data_dir).set_password(PASSWORD)
    now = [1000.0]
    app.extensions["guardian"].throttle.clock = lambda: now[0]
    for _ in range(5):
        assert web.post("/login", {"password": "wrong guess"}, version=False).status_code == 401
    assert web.post("/login", {"password": PASSWORD}, version=False).status_code == 429
    now[0] += 14 * 60
    assert web.post("/login", {"password": PASSWORD}, version=False).status_code == 429
    now[0] += 61
    assert web.post("/login", {"password": PASSWORD}, version=False).status_code == 303


def test_other_addresses_are_not_locked(app, web: Web) -> None:
    Credentials(web.household.data_dir).set_password(PASSWORD)
    for _ in range(5):
        web.post("/login", {"password": "wrong guess"}, version=False, environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert web.post("/login", {"password": PASSWORD}, version=False,
                    environ_base={"REMOTE_ADDR": "10.0.0.8"}).status_code == 303


def test_state_changes_need_the_csrf_token(admin: Web) -> None:
    version = admin.household.config_version()
    data = {"profile": "kids", "minutes": "30", "version": version}
    assert admin.client.post("/profiles/pause", data=data).status_code == 403
    assert admin.client.post("/profiles/pause", data={**data, "csrf_token": "wrong"}).status_code == 403
    assert admin.household.pauses.active() == []
    assert admin.client.post("/profiles/pause", data={**data, "csrf_token": admin.csrf()}).status_code == 303
    assert len(admin.household.pauses.active()) == 1
    # the API from a browser session: header token needed too
    assert admin.client.post("/api/pauses", json={"scope": "profile", "name": "kids", "minutes": 5}).status_code == 403


def test_login_form_needs_the_csrf_token(web: Web) -> None:
    Credentials(web.household.data_dir).set_password(PASSWORD)
    assert web.client.post("/login", data={"password": PASSWORD}).status_code == 403


def test_foreign_origin_is_refused(admin: Web) -> None:
    data = {"profile": "kids", "minutes": "30"}
    for header in ({"Origin": "http://evil.example"}, {"Origin": "null"},
                   {"Referer": "http://evil.example/page"}):
        assert admin.post("/profiles/pause", data, headers=header).status_code == 403
    assert admin.household.pauses.active() == []
    assert admin.post("/profiles/pause", data, headers={"Origin": "http://localhost"}).status_code == 303


def test_no_state_change_through_get(admin: Web) -> None:
    for path in ("/logout", "/profiles/pause", "/devices/pause", "/lists/update", "/settings/token",
                 "/settings/restore", "/profiles/rules/add"):
        assert admin.get(path).status_code == 405, path


def test_foreign_host_is_refused(admin: Web) -> None:
    assert admin.get("/", headers={"Host": "evil.example"}).status_code == 400
    assert admin.get("/proxy.pac", headers={"Host": "rebind.attacker.example"}).status_code == 400
    for host in ("localhost", "127.0.0.1:8080", "[::1]:8080", "guardian.lan", "GUARDIAN.LAN.", "127.0.0.1"):
        assert admin.get("/proxy.pac", headers={"Host": host}).status_code == 200, host
    assert admin.get("/", headers={"Host": "192.0.2.77"}).status_code == 400  # not this machine's address


def test_security_headers(admin: Web) -> None:
    response = admin.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"
    assert "http://" not in response.text.replace("http://localhost", "")  # nothing from elsewhere
    assert "<script src=\"/static/app.js\"" in response.text


def test_api_token(admin: Web, household) -> None:
    token = Credentials(household.data_dir).api_token()
    assert (household.data_dir / "api-token").stat().st_mode & 0o777 == 0o600
    anonymous = admin.client.application.test_client()
    assert anonymous.get("/api/status").status_code == 401
    assert anonymous.get("/api/status", headers={"Authorization": "Bearer nope"}).status_code == 401
    bearer = {"Authorization": f"Bearer {token}"}
    assert anonymous.get("/api/status", headers=bearer).status_code == 200
    # scripts need no CSRF token: a browser never sends the bearer header by itself
    created = anonymous.post("/api/pauses", json={"scope": "profile", "name": "kids", "minutes": 5}, headers=bearer)
    assert created.status_code == 201
    assert token in admin.get("/settings").text
    assert admin.post("/settings/token", version=False).status_code == 303
    assert anonymous.get("/api/status", headers=bearer).status_code == 401


def test_pac_needs_no_login(web: Web) -> None:
    Credentials(web.household.data_dir).set_password(PASSWORD)
    for path in ("/proxy.pac", "/wpad.dat"):
        response = web.get(path)
        assert response.status_code == 200
        assert response.mimetype == "application/x-ns-proxy-autoconfig"
        assert 'return "PROXY 192.0.2.10:3128";' in response.text
        assert "DIRECT\";\n  }\n  var" in response.text  # DIRECT only for the local exceptions
        assert response.text.count("DIRECT") == 2
        assert '"192.0.2.10"' in response.text and '"guardian.lan"' in response.text


def test_set_password_command(tmp_path, capsys) -> None:
    import io

    assert set_password_command(tmp_path, True, stdin=io.StringIO("short\n")) == 2
    assert not (tmp_path / "admin.json").exists()
    assert set_password_command(tmp_path, True, stdin=io.StringIO(PASSWORD + "\n")) == 0
    assert Credentials(tmp_path).verify(PASSWORD)
    assert not Credentials(tmp_path).verify("wrong")
    assert os.stat(tmp_path / "admin.json").st_mode & 0o777 == 0o600
