"""How to point each kind of device at Guardian, with this installation's addresses,
and the PAC file those instructions use (served without login: devices fetch it)."""

from __future__ import annotations

from flask import Blueprint, Response, render_template, request

from ..lan import is_loopback_only, lan_addresses
from ..pac import host_of, pac_script
from ..security import proxied_client
from ..state import services

bp = Blueprint("guide", __name__)
PAC_TYPE = "application/x-ns-proxy-autoconfig"


def _pac() -> Response:
    """The PAC file for the asking device's own profile (its fallback when Guardian is down)."""
    s = services()
    config = s.config
    device = proxied_client() or request.remote_addr or ""
    try:
        fallback = config.profile(s.policy.policy.profile_for(device)).pac_fallback
    except KeyError:
        fallback = "none"
    return Response(pac_script(s.proxy_address(), s.web_address(), config.web.names, fallback), mimetype=PAC_TYPE,
                    headers={"Cache-Control": "max-age=300"})


@bp.get("/proxy.pac")
def pac() -> Response:
    return _pac()


@bp.get("/wpad.dat")
def wpad() -> Response:
    return _pac()


@bp.get("/guide")
def index() -> str:
    s = services()
    proxy = s.proxy_address()
    listen = s.config.proxy.listen
    everywhere = listen.host in ("0.0.0.0", "::")
    return render_template("guide/index.html", title="Set up devices", proxy=proxy,
                           proxy_host=host_of(proxy), proxy_port=proxy.rpartition(":")[2],
                           pac_url=f"http://{s.web_address()}/proxy.pac",
                           loopback_only=is_loopback_only(listen.host),
                           web_loopback_only=is_loopback_only(s.config.web.listen.host),
                           listen=listen, lan=lan_addresses() if everywhere else [],
                           profiles=s.config.profiles)
