"""The settings page's Flask app: its blueprints, filters and error pages (see guardian/web/__init__.py)."""

from __future__ import annotations

from flask import Flask, Response, render_template

from guardian.version import describe_version

from . import security
from .blueprints import api, auth, dashboard, devices, guide, lists, log, profiles, screen_time, settings, tester, trust
from .credentials import Credentials
from .field_errors import register as register_refusals
from .forms import FieldError
from .hosts import HostPolicy
from .refresher import ListRefresher
from .services import ConfigConflict, Services
from .state import WebState
from .templating import register_filters

__all__ = ["ConfigConflict", "Services", "create_app"]


def create_app(services: Services, setup_code: str | None = None) -> Flask:
    """`setup_code`: the code already made and logged at start (guardian/web/lazy.py), so the
    page asks for that one; without it one is made now when no password is set."""
    app = Flask(__name__)
    credentials = Credentials(services.data_dir)
    app.secret_key = credentials.session_secret()
    state = WebState(
        services=services,
        credentials=credentials,
        hosts=HostPolicy(lambda: services.config.web),
        refresher=ListRefresher(lambda ids, force: services.refresh_lists(ids, force)),
        _setup_code=setup_code,
    )
    app.extensions["guardian"] = state
    app.jinja_env.globals["guardian_version"] = describe_version()
    if not credentials.has_password():
        state.setup_code()  # printed to the log now, so it is there when someone opens the page
    security.configure(app)
    register_filters(app)
    register_refusals(app)
    for blueprint in (auth.bp, dashboard.bp, devices.bp, profiles.bp, lists.bp, log.bp, tester.bp,
                      settings.bp, guide.bp, trust.bp, api.bp, screen_time.bp):
        app.register_blueprint(blueprint)
    app.register_error_handler(FieldError, _field_error)
    # Browsers ask for /favicon.ico on their own (pages name favicon.svg): answer, not 404.
    app.add_url_rule("/favicon.ico", "favicon", lambda: app.send_static_file("favicon.ico"))
    return app


def _field_error(exc: FieldError) -> Response:
    return Response(render_template("error.html", title="Not possible", message=str(exc)), 400)
