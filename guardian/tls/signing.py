"""Signing the leaves guardian/tls/leaves.py hands out: the one place (with ca.py) that
imports `cryptography`, loaded when the first leaf is needed (docs/architecture.md,
"What is loaded when")."""

from __future__ import annotations

import datetime
import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from guardian.tls.authority import Authority
from guardian.tls.ca import BACKDATE
from guardian.tls.leaves import LEAF_VALIDITY


def san_for(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


class LeafSigner:
    """Leaves for one CA, all with one P-256 key made here in memory and never written down."""

    def __init__(self, ca: Authority) -> None:
        self.ca = ca
        self._key = ec.generate_private_key(ec.SECP256R1())
        self.key_pem = self._key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption())

    def certificate_for(self, name: str) -> x509.Certificate:
        now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
        issuer = self.ca.certificate
        subject = [x509.NameAttribute(NameOID.COMMON_NAME, name[:64])] if len(name) <= 64 else []
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name(subject))
            .issuer_name(issuer.subject)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + LEAF_VALIDITY)
            .add_extension(x509.SubjectAlternativeName([san_for(name)]), critical=not subject)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False),
                           critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.ca.key.public_key()),
                           critical=False)
            .sign(self.ca.key, hashes.SHA256())
        )

    def pem_for(self, name: str) -> bytes:
        return self.certificate_for(name).public_bytes(serialization.Encoding.PEM)
