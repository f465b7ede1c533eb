"""How to point each kind of device at Guardian, with this installation's addresses,
and the PAC file those instructions use (served without login: devices fetch it)."""

from __future__ import annotations

from flask import Blueprint, Response, render_template

from ..pac import host_of, pac_script
from ..state import services

bp = Blueprint("guide", __name__)
PAC_TYPE = "application/x-ns-proxy-autoconfig"


def _pac() -> Response:
    s = services()
    return Response(pac_script(s.proxy_address(), s.web_address(), s.config.web.names), mimetype=PAC_TYPE,
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
    return render_template("guide/index.html", title="Set up devices", proxy=proxy,
                           proxy_host=host_of(proxy), proxy_port=proxy.rpartition(":")[2],
                           pac_url=f"http://{s.web_address()}/proxy.pac")
