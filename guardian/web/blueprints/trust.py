""""Trust Guardian on your devices": Guardian's certificate to download (DER, PEM, an
Apple configuration profile) with step-by-step instructions. Served without login, like
the PAC file: a child's tablet must be able to fetch it on the home network. Only the
certificate is read here, never the key."""

from __future__ import annotations

import plistlib
import uuid

from flask import Blueprint, Response, abort, render_template

from guardian.tls.authority import StoredCertificate, read_stored_certificate
from guardian.tls.trust import read_trust_file

from ..state import services

bp = Blueprint("trust", __name__)


def _certificate() -> StoredCertificate:
    cert = read_stored_certificate(services().data_dir)
    if cert is None:
        abort(404, "Guardian has no certificate yet: it makes one when it starts.")
    return cert


def _download(data: bytes, mimetype: str, filename: str) -> Response:
    return Response(data, mimetype=mimetype, headers={
        "Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-cache"})


@bp.get("/trust")
def index() -> str:
    cert = read_stored_certificate(services().data_dir)
    return render_template("trust/index.html", title="Trust Guardian on your devices", cert=cert,
                           name=cert.common_name if cert else None, fingerprint=cert.fingerprint() if cert else None)


@bp.get("/guardian-ca.crt")
def der() -> Response:
    """DER: what Windows, Android and ChromeOS import most easily."""
    return _download(_certificate().der, "application/x-x509-ca-cert",
                     "guardian-ca.crt")


@bp.get("/guardian-ca.pem")
def pem() -> Response:
    return _download(_certificate().pem, "application/x-pem-file",
                     "guardian-ca.pem")


@bp.get("/guardian.mobileconfig")
def mobileconfig() -> Response:
    """An Apple configuration profile holding the certificate as a trusted root."""
    cert = _certificate()
    digest = cert.sha256()
    name = cert.common_name
    payload = {
        "PayloadCertificateFileName": "guardian-ca.cer",
        "PayloadContent": cert.der,
        "PayloadDescription": "Lets this device show Guardian's page when a site is blocked.",
        "PayloadDisplayName": name,
        "PayloadIdentifier": f"guardian.ca.{digest[:8].hex()}",
        "PayloadType": "com.apple.security.root",
        "PayloadUUID": str(uuid.UUID(bytes=digest[:16])).upper(),
        "PayloadVersion": 1,
    }
    profile = {
        "PayloadContent": [payload],
        "PayloadDescription": "Guardian, the household filter: its certificate for block pages on HTTPS sites.",
        "PayloadDisplayName": name,
        "PayloadIdentifier": f"guardian.profile.{digest[:8].hex()}",
        "PayloadRemovalDisallowed": False,
        "PayloadType": "Configuration",
        "PayloadUUID": str(uuid.UUID(bytes=digest[16:32])).upper(),
        "PayloadVersion": 1,
    }
    return _download(plistlib.dumps(profile), "application/x-apple-aspen-config", "guardian.mobileconfig")


def trust_by_device() -> dict[str, bool]:
    """Named device -> whether its latest handshake with a Guardian certificate worked."""
    s = services()
    policy = s.policy.policy
    latest: dict[str, tuple[bool, float]] = {}
    for ip, (trusted, when) in read_trust_file(s.data_dir / "tls" / "trust.json").items():
        device = policy.device_for(ip)
        if device is not None and (device not in latest or latest[device][1] < when):
            latest[device] = (trusted, when)
    return {device: trusted for device, (trusted, _) in latest.items()}
