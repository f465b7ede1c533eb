"""`guardian ca show|export|renew`: Guardian's certificate, as a parent handles it."""

from __future__ import annotations

import sys
from pathlib import Path

from guardian import control
from guardian.config import Config
from guardian.tls.ca import CAError, CertificateAuthority, household_name, tls_dir


def _load(config: Config) -> CertificateAuthority | None:
    if not tls_dir(config.data_dir).exists():
        print("guardian ca: Guardian has no certificate yet; it makes one the first time `guardian serve` starts.",
              file=sys.stderr)
        return None
    try:
        return CertificateAuthority.load(config.data_dir)
    except CAError as exc:
        print(f"guardian ca: {exc}", file=sys.stderr)
        return None


def show_command(config: Config) -> int:
    ca = _load(config)
    if ca is None:
        return 1
    cert = ca.certificate
    print(f"name:        {ca.common_name}")
    print(f"fingerprint: SHA-256 {ca.fingerprint()}")
    print(f"valid:       {cert.not_valid_before_utc:%Y-%m-%d} to {cert.not_valid_after_utc:%Y-%m-%d}")
    print(f"file:        {tls_dir(config.data_dir) / 'ca.crt'}")
    print("Devices must trust this certificate to see Guardian's block page on HTTPS sites:")
    print("open the settings page's \"Trust Guardian on your devices\" page on each device.")
    return 0


def export_command(config: Config, der: bool, output: str | None) -> int:
    ca = _load(config)
    if ca is None:
        return 1
    data = ca.der() if der else ca.pem()
    if output:
        Path(output).write_bytes(data)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    return 0


def renew_command(config: Config) -> int:
    ca = CertificateAuthority.renew(config.data_dir, household_name(config.https.name))
    print(f"Made a new certificate: {ca.common_name}")
    print(f"fingerprint: SHA-256 {ca.fingerprint()}")
    print("Every device must now trust the new certificate (the settings page's \"Trust Guardian on your devices\"")
    print("page); until then blocked HTTPS sites show a certificate warning there instead of the block page.")
    try:
        reply = control.call(config.data_dir, "ca-reload", timeout=10)
    except control.NotRunning:
        return 0
    if not reply.get("ok"):
        print(f"guardian ca: the running service could not load it: {reply.get('error')}; restart Guardian.",
              file=sys.stderr)
        return 1
    print("The running service uses it from now on.")
    return 0
