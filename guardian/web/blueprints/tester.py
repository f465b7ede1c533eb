"""The tester: a URL, a device and a time give the decision and its reason, from the
very policy object the proxy uses (`Policy.explain`), so it cannot disagree with it."""

from __future__ import annotations

import ipaddress

from flask import Blueprint, render_template, request

from guardian.config import DeviceConfig, normalise_mac
from guardian.proxy.handler import parse_authority
from guardian.proxy.http1 import ProtocolError

from .. import forms
from ..forms import FieldError
from ..state import services

bp = Blueprint("tester", __name__)
OTHER = ""  # the device choice "another address"
NOT_AN_ADDRESS = "That is not a web address"
EXAMPLES = "Type a site such as youtube.com, or an address such as https://www.youtube.com/watch."


def web_address(text: object) -> str:
    """The typed address as the proxy would see it: `http(s)://site/...` or a bare site
    (decided as the HTTPS connection to it). A site with a path and no scheme is its
    https:// address, as a browser would open it. FieldError in words otherwise."""
    typed = forms.text(text, "Address", 2000)
    shown = typed if len(typed) <= 60 else typed[:60] + "…"
    if any(c.isspace() for c in typed):
        raise FieldError(f"{NOT_AN_ADDRESS}: “{shown}” has spaces in it. {EXAMPLES}")
    scheme, sep, rest = typed.partition("://")
    if not sep:
        scheme, rest = "", typed
    elif scheme.lower() not in ("http", "https"):
        raise FieldError(f"{NOT_AN_ADDRESS} Guardian filters: it starts with {scheme}://, "
                         "not http:// or https://. " + EXAMPLES)
    authority = rest
    for mark in "/?#":
        authority = authority.partition(mark)[0]
    if not authority:
        raise FieldError(f"{NOT_AN_ADDRESS}: “{shown}” names no site. {EXAMPLES}")
    if not authority.isascii():  # what a browser sends for an international name
        try:
            authority = authority.encode("idna").decode("ascii")
        except UnicodeError:
            raise FieldError(f"{NOT_AN_ADDRESS}: “{shown}” is not a site name. {EXAMPLES}") from None
    try:
        parse_authority(authority, 443 if scheme.lower() != "http" else 80)
    except ProtocolError:
        raise FieldError(f"{NOT_AN_ADDRESS}: “{authority[:60]}” is not a site name (letters, digits, dots "
                         f"and hyphens, or an IP address). {EXAMPLES}") from None
    path = rest[len(rest.partition("/")[0].partition("?")[0].partition("#")[0]):]
    if not scheme:
        return f"https://{authority}{path}" if path else authority
    return f"{scheme.lower()}://{authority}{path}"


def probe_address(device: DeviceConfig) -> str | None:
    """An address the policy recognises as `device`: an exact IP, an address inside its
    network, or the address last seen with its MAC address."""
    for match in device.match:
        if "/" in match:
            network = ipaddress.ip_network(match)
            return str(next(network.hosts(), network.network_address))
        if normalise_mac(match) is None:
            return match
    macs = {m for m in device.match if normalise_mac(m)}
    for seen in services().devices_seen.devices():
        if seen.get("mac") in macs and seen.get("ip"):
            return seen["ip"]
    return None


def decide(url: str, device_name: str, address: str, at: str) -> dict:
    """The explanation dict from the policy; FieldError for anything unusable."""
    url = web_address(url)
    if device_name != OTHER:
        device = next((d for d in services().config.devices if d.name == device_name), None)
        if device is None:
            raise FieldError("Device: no device has that name.")
        client = probe_address(device)
        if client is None:
            raise FieldError(f"Device: {device.name} is known only by its MAC address and has not been seen yet; "
                             "choose “another address” and give its IP address.")
    else:
        client = forms.ip_address(address or "192.0.2.1", "Device address")
    when = forms.local_datetime(at, "Time")
    try:
        return services().policy.policy.explain(url, client, when)
    except ValueError as exc:
        raise FieldError(f"Address: {exc}.") from None


@bp.get("/tester")
def index() -> str:
    args = request.args
    result, error = None, None
    if args.get("url"):
        try:
            result = decide(args["url"], args.get("device", OTHER), args.get("address", ""), args.get("at", ""))
        except FieldError as exc:
            error = str(exc)
    return render_template("tester/index.html", title="Tester", args=args, result=result, error=error,
                           devices=services().config.devices)
