"""Guardian's settings page: a Flask app parents use from a phone on the home network.

    app = create_app(guardian)      # guardian.service.Guardian, or anything with its Services
    waitress.serve(app, host=..., port=...)

Strategy: server-rendered pages (Jinja templates, one small script for typing rules),
one blueprint per area, charts drawn as SVG on the server, nothing loaded from another
site. Everything lives on the app (state.py), nothing in module globals, so the live
service and the tests each build their own. Security is one module (security.py) that
every request passes; docs/web.md describes the whole, docs/api.md the JSON API.

This package's own import is light: Flask and the blueprints (guardian/web/app.py) load
when `create_app` is first used, which `guardian serve` does on the page's first request
(guardian/web/lazy.py), so a household that never opens the page never carries them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import ConfigConflict, Services, create_app

__all__ = ["ConfigConflict", "Services", "create_app"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
