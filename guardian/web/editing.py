"""Saving a configuration change from a page or an API call, with the version check.

Every form that changes the configuration carries the version (a hash of the file)
it was rendered from. The lead's `apply_config_edit` refuses the edit with
ConfigConflict when the file changed since, so two browsers (or a browser and the
command line) never overwrite each other silently: the second one is told, shown the
current settings, and makes the change again. Invalid edits come back as ConfigError
naming the key; nothing is written then.
"""

from __future__ import annotations

from collections.abc import Callable

import flask
from flask import flash, jsonify, request
from tomlkit import TOMLDocument
from werkzeug.wrappers import Response  # what redirect() gives; flask's Response is one too

from guardian.config import ConfigError

from .field_errors import FormFields, in_words, refused
from .forms import FieldError
from .services import ConfigConflict
from .state import services

Mutation = Callable[[TOMLDocument], None]

CONFLICT_MESSAGE = ("Not saved: the settings were changed somewhere else (another browser or the command line) "
                    "after you opened this page. The page now shows the current settings; please make your "
                    "change again.")


def plain_error(exc: Exception) -> str:
    """A ConfigError without the file name it starts with, which means nothing on a phone."""
    message = str(exc)
    path = str(services().writable_config_path())
    return message.removeprefix(f"{path}: ").removeprefix("<embedded defaults>: ")


def save(mutate: Mutation, done: str) -> bool:
    """Apply a page's edit; flash what happened. The version comes from the form."""
    try:
        services().apply_config_edit(mutate, request.form.get("version") or None)
    except ConfigConflict:
        flash(CONFLICT_MESSAGE, "error")
        return False
    except (ConfigError, FieldError) as exc:
        flash(f"Not saved: {in_words(plain_error(exc))}", "error")
        return False
    flash(done, "ok")
    return True


KEPT_CONFLICT_MESSAGE = ("Not saved: the settings were changed somewhere else (another browser or the command line) "
                         "after you opened this page. The page now shows the current settings, with what you typed "
                         "kept below; check it and press the button again.")


def save_form(mutate: Mutation, done: str, fields: FormFields, page: Callable[[], str],
              then: Callable[[], Response], key_field: str = "form") -> Response | tuple[str, int]:
    """Apply a form's edit. Refused (invalid, or the file changed since the page was made):
    `page` is rendered again with the problem beside its field and everything typed kept.
    Saved: `done` is flashed and `then()` answers (a redirect)."""
    try:
        services().apply_config_edit(mutate, request.form.get("version") or None)
    except ConfigConflict:
        return refused(KEPT_CONFLICT_MESSAGE, fields, page, 409, key_field)
    except ConfigError as exc:
        return refused(ConfigError(plain_error(exc)), fields, page, key_field=key_field)
    except FieldError as exc:
        return refused(exc, fields, page, key_field=key_field)
    flash(done, "ok")
    return then()


def save_json(mutate: Mutation, version: object) -> flask.Response:
    """Apply an API call's edit: 200 with the new version, 409 on conflict, 422 when invalid."""
    if version is not None and not isinstance(version, str):
        return _error(400, "version: expected the string from GET /api/config/version")
    try:
        services().apply_config_edit(mutate, version)
    except ConfigConflict:
        return _error(409, "the configuration changed since that version; read it again and retry")
    except (ConfigError, FieldError) as exc:
        return _error(422, plain_error(exc))
    return jsonify({"ok": True, "version": services().config_version()})


def _error(status: int, message: str) -> flask.Response:
    response = jsonify({"error": message})
    response.status_code = status
    return response
