"""Settings: the admin password, time zone, list refresh, log, cache, which networks may
use the proxy, the API token, and backup / restore."""

from __future__ import annotations

import ipaddress
import tomllib
import zoneinfo
from datetime import datetime

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from tomlkit import TOMLDocument
from werkzeug.wrappers import Response as BaseResponse  # what redirect() gives

from guardian.config import LOG_DETAILS, ConfigError, check_refresh, load_config, parse_address, system_timezone
from guardian.config_problems import find_problems

from .. import forms, mutations
from ..backup import BackupError, make_backup, read_backup, restore
from ..credentials import PasswordError, check_new_password
from ..editing import CONFLICT_MESSAGE, KEPT_CONFLICT_MESSAGE, plain_error, save, save_form
from ..field_errors import FormFields, refused
from ..forms import FieldError
from ..security import start_session
from ..services import ConfigConflict
from ..state import services, web_state

bp = Blueprint("settings", __name__)
MB = 2**20
# Each form's fields as the page labels them; `aliases` are the labels its own checks use,
# `keys` the configuration keys that a field writes under another name.
GENERAL_FIELDS = FormFields(
    labels={"timezone": "Time zone", "refresh": "Update lists", "window_from": "Between", "window_to": "And",
            "detail": "Log detail", "keep_days": "Keep the log (days)", "cache_mb": "Cache size (MB)",
            "clients": "Networks allowed to use Guardian"},
    keys={"schedule": "refresh", "window": "window_from", "max_bytes": "cache_mb", "max_object_bytes": "cache_mb",
          "allowed_clients": "clients"},
    aliases={"List refresh": "refresh", "Refresh from": "window_from", "Refresh until": "window_to",
             "Allowed networks": "clients"})
NETWORK_FIELDS = FormFields(labels={"proxy_listen": "Proxy address", "web_listen": "Settings page address"})
PASSWORD_FIELDS = FormFields(labels={"current": "Current password", "password": "New password"})
BYPASS_FIELDS = FormFields(labels={"site": "Site"}, keys={"bypass": "site"}, default="site")


def _back() -> BaseResponse:
    return redirect(url_for("settings.index"), 303)


@bp.get("/settings")
def index() -> str:
    """The settings page; a refused form on it is rendered again through this too."""
    config = services().config
    try:  # the addresses as written in the file (the running ones may differ until a restart)
        written = load_config(services().config_path) if services().config_path else config
    except ConfigError:
        written = config
    return render_template("settings/index.html", title="Settings", config=config,
                           bypass=sorted(config.https.bypass), bypass_own=_own_bypass(),
                           bypass_offered=request.args.get("bypass", "").strip()[:253],
                           proxy_listen=written.proxy.listen, web_listen=written.web.listen,
                           system_zone=system_timezone(),
                           zones=sorted(zoneinfo.available_timezones()), details=LOG_DETAILS,
                           cache_mb=config.cache.max_bytes // MB, token=web_state().credentials.api_token(),
                           clients="\n".join(str(n) for n in config.proxy.allowed_clients))


def _own_bypass() -> bool:
    """Whether the settings file has the household's own list of sites never decrypted
    (else the list Guardian ships is in force, and follows Guardian's updates)."""
    try:
        raw = tomllib.loads(services().writable_config_path().read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return False
    https = raw.get("https")
    return isinstance(https, dict) and "bypass" in https


@bp.post("/settings/bypass/add")
def bypass_add() -> BaseResponse | tuple[str, int]:
    try:
        site = forms.bypass_site(request.form.get("site"))
    except FieldError as exc:
        return refused(exc, BYPASS_FIELDS, index)

    def add(doc: TOMLDocument) -> None:
        try:
            mutations.add_bypass(doc, site, services().config)
        except ConfigError as exc:  # "x is already on the list": about the site typed
            raise FieldError(f"Site: {exc}.") from None

    return save_form(add,
                     f"{site} is now on the list: Guardian passes its connections through without decrypting them.",
                     BYPASS_FIELDS, index, lambda: redirect(url_for("settings.index", _anchor="bypass"), 303))


@bp.post("/settings/bypass/remove")
def bypass_remove() -> BaseResponse:
    site = request.form.get("site", "").strip().lower()
    save(lambda doc: mutations.remove_bypass(doc, site, services().config),
         f"{site} is off the list: profiles set to look inside HTTPS connections now look inside this site's as well.")
    return redirect(url_for("settings.index", _anchor="bypass"), 303)


@bp.post("/settings/password")
def password() -> BaseResponse | tuple[str, int]:
    credentials = web_state().credentials
    # said beside the field it is about; passwords are never written back into the page
    if not credentials.verify(request.form.get("current", "")):
        return refused(FieldError("Current password: not right."), PASSWORD_FIELDS, index)
    try:
        new = check_new_password(request.form.get("password", ""), request.form.get("confirm", ""))
    except PasswordError as exc:
        said = str(exc)
        return refused(FieldError(f"New password: {said[:1].lower()}{said[1:]}"), PASSWORD_FIELDS, index)
    credentials.set_password(new)
    start_session()  # this browser stays in; every other session ends with the old password
    flash("Password changed. Other browsers have to log in again.", "ok")
    return _back()


def _networks(text: str) -> list[str]:
    networks = []
    for line in text.split():
        try:
            networks.append(str(ipaddress.ip_network(line, strict=False)))
        except ValueError:
            raise FieldError(f"Allowed networks: {line!r} is not a network like 192.168.1.0/24.") from None
    if not networks:
        raise FieldError("Allowed networks: give at least one, or no device can use Guardian.")
    return networks


@bp.post("/settings/general")
def general() -> BaseResponse | tuple[str, int]:
    form = request.form
    config = services().config
    try:
        zone = form.get("timezone", "")
        if zone and zone not in zoneinfo.available_timezones():
            raise FieldError("Time zone: choose one from the list.")
        try:
            schedule = check_refresh(form.get("refresh", ""), "refresh")
        except ConfigError:
            raise FieldError("List refresh: daily, off, or every N hours like 'every 6h'.") from None
        since = forms.clock(form.get("window_from"), "Refresh from")
        window = f"{since}-{forms.clock(form.get('window_to'), 'Refresh until')}"
        cache_bytes = forms.whole_number(form.get("cache_mb"), "Cache size (MB)", 0, 1024 * 1024) * MB
        values = {
            "timezone": zone,
            "refresh.schedule": schedule,
            "refresh.window": window,
            "log.detail": forms.choice(form.get("detail"), "Log detail", LOG_DETAILS),
            "log.keep_days": forms.whole_number(form.get("keep_days"), "Keep the log (days)", 1, 3650),
            "cache.max_bytes": cache_bytes,
            # a smaller cache than its largest object would be refused: shrink that too
            "cache.max_object_bytes": min(config.cache.max_object_bytes, cache_bytes),
            "proxy.allowed_clients": _networks(form.get("clients", "")),
        }
    except FieldError as exc:
        return refused(exc, GENERAL_FIELDS, index)
    return save_form(lambda doc: mutations.set_values(doc, values), "Settings saved and in force.", GENERAL_FIELDS,
                     index, _back)


@bp.route("/settings/file", methods=["GET", "POST"])
def config_file() -> BaseResponse | str:
    """The settings file's text, to fix a problem by hand from a phone."""
    s = services()
    path = s.writable_config_path()
    if request.method == "GET":
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        return render_template("settings/file.html", title="The settings file", text=text, errors=[],
                               path=path, version=s.config_version())
    text = request.form.get("text", "").replace("\r\n", "\n")
    errors = find_problems(text)
    if not errors:
        try:
            s.replace_config_text(text, request.form.get("version") or None)
        except ConfigConflict:
            # the text stays as typed; the version becomes the current file's, so the
            # next press saves it over the other change, knowingly
            flash(KEPT_CONFLICT_MESSAGE.replace("kept below", "kept in the box"), "error")
            return Response(render_template("settings/file.html", title="The settings file", text=text, errors=[],
                                            path=path, version=s.config_version()), 409)
        flash("The settings file is fixed and in force.", "ok")
        return redirect(url_for("dashboard.index"), 303)
    # the typed text stays, with every problem named
    return Response(render_template("settings/file.html", title="The settings file", text=text, errors=errors,
                                    path=path, version=request.form.get("version", "")), 400)


@bp.post("/settings/file/last-good")
def last_good() -> BaseResponse:
    try:
        ok = services().restore_last_good()
    except ConfigError as exc:
        flash(f"Nothing changed: {plain_error(exc)}", "error")
        return redirect(url_for("dashboard.index"), 303)
    flash("The last settings that worked are back in the file and in force." if ok
          else "The file was put back but could not be loaded; see the problems above.", "ok" if ok else "error")
    return redirect(url_for("dashboard.index"), 303)


@bp.post("/settings/network")
def network() -> BaseResponse | tuple[str, int]:
    """Where the proxy and this page listen: saved now, in force after a restart."""
    values = {}
    try:
        for key, label in (("proxy.listen", "Proxy address"), ("web.listen", "Settings page address")):
            text = request.form.get(key.replace(".", "_"), "").strip()
            try:
                values[key] = str(parse_address(text, label))
            except ConfigError as exc:
                raise FieldError(f"{exc}.") from None
    except FieldError as exc:
        return refused(exc, NETWORK_FIELDS, index)

    def saved() -> BaseResponse:
        if services().restart_changes:
            flash("These addresses take effect after a restart.", "note")
        return _back()

    return save_form(lambda doc: mutations.set_values(doc, values), "Saved.", NETWORK_FIELDS, index, saved)


@bp.post("/settings/restart")
def restart() -> BaseResponse | str:
    s = services()
    if not s.can_restart():
        flash("Guardian cannot start itself again here: stop it and start it the same way again.", "error")
        return _back()
    s.restart()
    return render_template("error.html", title="Restarting",
                           message="Guardian is restarting with the new settings. Reload this page in a few seconds; "
                           "if the settings page's address changed, open it at the new address.")


@bp.post("/settings/token")
def token() -> BaseResponse:
    web_state().credentials.new_api_token()
    flash("A new API token was made; the old one no longer works.", "ok")
    return _back()


@bp.get("/settings/backup")
def backup() -> BaseResponse:
    stamp = datetime.now(services().config.zone()).strftime("%Y-%m-%d-%H%M")
    return Response(make_backup(services()), mimetype="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="guardian-backup-{stamp}.zip"'})


@bp.post("/settings/restore")
def restore_backup() -> BaseResponse:
    upload = request.files.get("backup")
    if upload is None or not upload.filename:
        flash("Choose a backup file first.", "error")
        return _back()
    try:
        backup = read_backup(upload.read(), str(services().data_dir))
        restore(services(), backup, request.form.get("version") or None)
    except BackupError as exc:
        flash(f"Nothing was restored: {exc}.", "error")
    except ConfigConflict:
        flash(CONFLICT_MESSAGE, "error")
    except ConfigError as exc:
        flash(f"Nothing was restored: {plain_error(exc)}", "error")
    else:
        flash("Backup restored and in force.", "ok")
    return _back()
