"""Guardian's settings page: a Flask app parents use from a phone on the home network.

    app = create_app(guardian)      # guardian.service.Guardian, or anything with its Services
    waitress.serve(app, host=..., port=...)

Strategy: server-rendered pages (Jinja templates, one small script for typing rules),
one blueprint per area, charts drawn as SVG on the server, nothing loaded from another
site. Everything lives on the app (state.py), nothing in module globals, so the live
service and the tests each build their own. Security is one module (security.py) that
every request passes; docs/web.md describes the whole, docs/api.md the JSON API.
"""

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


def create_app(services: Services) -> Flask:
    app = Flask(__name__)
    credentials = Credentials(services.data_dir)
    app.secret_key = credentials.session_secret()
    state = WebState(
        services=services,
        credentials=credentials,
        hosts=HostPolicy(lambda: services.config.web),
        refresher=ListRefresher(lambda ids, force: services.refresh_lists(ids, force)),
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
