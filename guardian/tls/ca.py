"""The installation's certificate authority: one ECDSA P-256 key and certificate in
`<data_dir>/tls/`, made on the first `guardian serve`.

The private key never leaves this machine: it is written 0600, read only by the
service, and no page or command shows it. The certificate carries the household's name
and a short random tag, so two Guardians (two homes, or a renewed CA) are told apart on
a device's list of trusted authorities.

Once made, a CA that has gone missing or cannot be read is not silently replaced:
every device trusts the old one, and a new one would turn every HTTPS block page into a
certificate warning. Only `guardian ca renew` makes a new one, and says so.
"""

from __future__ import annotations

import datetime
import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from guardian.fsutil import atomic_write_bytes
from guardian.tls.authority import CAError, damaged, household_name, mismatched, read_stored_pair, tls_dir

__all__ = ["BACKDATE", "CAError", "CertificateAuthority", "household_name", "tls_dir"]

CA_VALIDITY = datetime.timedelta(days=3650)  # a root a parent installs once; devices accept long-lived roots
BACKDATE = datetime.timedelta(days=1)  # devices whose clocks run a little behind still accept new certificates


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0)


@dataclass(frozen=True)
class CertificateAuthority:
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    # ------------------------------------------------------------------ what devices see

    @property
    def subject_name(self) -> str:
        return self.certificate.subject.rfc4514_string()

    @property
    def common_name(self) -> str:
        return str(self.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)

    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    def fingerprint(self) -> str:
        """SHA-256 of the certificate, as devices show it: AB:CD:..."""
        return self.certificate.fingerprint(hashes.SHA256()).hex(":").upper()

    # ------------------------------------------------------------------ making and loading

    @classmethod
    def create(cls, household: str) -> CertificateAuthority:
        key = ec.generate_private_key(ec.SECP256R1())
        tag = secrets.token_hex(3).upper()
        name = x509.Name([
            x509.NameAttribute(NameOID.COMMON_NAME, f"Guardian for {household} ({tag})"[:64]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Guardian household filter"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, household[:64]),
        ])
        now = _now()
        public = key.public_key()
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + CA_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False),
                           critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(certificate, key)

    def save(self, data_dir: Path) -> None:
        directory = tls_dir(data_dir)
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
        key_pem = self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption())
        atomic_write_bytes(directory / "ca.key", key_pem, mode=0o600)
        atomic_write_bytes(directory / "ca.crt", self.pem(), mode=0o644)

    @classmethod
    def load(cls, data_dir: Path) -> CertificateAuthority:
        directory = tls_dir(data_dir)
        key_pem, cert_pem = read_stored_pair(data_dir)
        try:
            key = serialization.load_pem_private_key(key_pem, password=None)
            certificate = x509.load_pem_x509_certificate(cert_pem)
        except ValueError as exc:
            raise damaged(directory, exc) from None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != certificate.public_key():
            raise mismatched(directory)
        return cls(certificate, key)

    @classmethod
    def for_service(cls, data_dir: Path, household: str) -> CertificateAuthority:
        """The CA `guardian serve` uses: made on the very first start (no tls folder yet),
        loaded afterwards; CAError when an existing one is missing or damaged."""
        if not tls_dir(data_dir).exists():
            ca = cls.create(household)
            ca.save(data_dir)
            return ca
        return cls.load(data_dir)

    @classmethod
    def renew(cls, data_dir: Path, household: str) -> CertificateAuthority:
        ca = cls.create(household)
        ca.save(data_dir)
        return ca


def main(argv: list[str]) -> int:
    """`python -m guardian.tls.ca DATA_DIR HOUSEHOLD`: make the first CA (authority.py runs it)."""
    data_dir, household = argv
    CertificateAuthority.for_service(Path(data_dir), household)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
