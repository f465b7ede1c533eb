"""Guardian's certificate authority as the running service holds it: the files checked at
start with Python's own ssl module, the `cryptography` objects loaded only when a
certificate must be signed.

`cryptography` costs a long-running service about 9 MiB (its compiled library and the
Python around it), and a household whose profiles never ask for an HTTPS block page or
inspection never signs anything. So at start the CA's two files are read and checked
here (OpenSSL refuses a key that does not belong to the certificate), the fingerprint is
the SHA-256 of the certificate's DER bytes (what `cryptography` would compute), and
`certificate` and `key` load `guardian.tls.ca` on first use. The very first start, which
must make the CA, loads it at once (guardian/tls/ca.py).
"""

from __future__ import annotations

import hashlib
import socket
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from guardian.helper_process import HelperFailed, run_helper

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

MAKE_TIMEOUT_SECONDS = 60
RENEW_HINT = "Run `guardian ca renew` to make a new one; every device must then trust it again."


class CAError(Exception):
    """The CA cannot be used; the message says what a parent can do."""


def damaged(directory: Path, reason: object) -> CAError:
    return CAError(f"Guardian's certificate in {directory} is damaged ({reason}). {RENEW_HINT}")


def mismatched(directory: Path) -> CAError:
    return CAError(f"Guardian's certificate and key in {directory} do not belong together. {RENEW_HINT}")


class Authority(Protocol):
    """What the interceptor needs of a CA, loaded or on disk."""

    @property
    def certificate(self) -> x509.Certificate: ...

    @property
    def key(self) -> ec.EllipticCurvePrivateKey: ...

    @property
    def common_name(self) -> str: ...

    def fingerprint(self) -> str: ...


def tls_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "tls"


def household_name(configured: str) -> str:
    """The name on the certificate: the configured one, else this machine's name."""
    return configured or socket.gethostname().split(".")[0] or "this home"


@dataclass(frozen=True)
class StoredCertificate:
    """The CA's certificate as pages show and serve it, read with the ssl module only."""

    pem: bytes
    der: bytes
    common_name: str

    @classmethod
    def parse(cls, pem: bytes) -> StoredCertificate:
        """ValueError (or ssl.SSLError) for text that is not one PEM certificate."""
        der = ssl.PEM_cert_to_DER_cert(pem.decode("ascii"))
        return cls(pem, der, _subject(pem).get("commonName", ""))

    def sha256(self) -> bytes:
        return hashlib.sha256(self.der).digest()

    def fingerprint(self) -> str:
        """SHA-256 of the certificate, as devices show it: AB:CD:..."""
        return self.sha256().hex(":").upper()


def read_stored_certificate(data_dir: Path) -> StoredCertificate | None:
    """Only the certificate (never the key); None when there is none or it is damaged."""
    try:
        return StoredCertificate.parse((tls_dir(data_dir) / "ca.crt").read_bytes())
    except (OSError, ValueError, ssl.SSLError):
        return None


def read_stored_pair(data_dir: Path) -> tuple[bytes, bytes]:
    """The CA's key and certificate (PEM) from `<data_dir>/tls/`; CAError in words when unreadable."""
    directory = tls_dir(data_dir)
    try:
        return (directory / "ca.key").read_bytes(), (directory / "ca.crt").read_bytes()
    except OSError as exc:
        raise CAError(f"Guardian's certificate cannot be read ({exc.strerror}: {exc.filename}). "
                      f"{RENEW_HINT}") from None


class StoredAuthority:
    """The CA in `<data_dir>/tls/`, checked without `cryptography`; CAError when it cannot be used."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        directory = tls_dir(data_dir)
        key_pem, cert_pem = read_stored_pair(data_dir)
        try:
            self._certificate = StoredCertificate.parse(cert_pem)
            _check_pair(cert_pem, key_pem)
        except (ValueError, ssl.SSLError) as exc:
            raise (mismatched(directory) if "mismatch" in str(exc) else damaged(directory, exc)) from None
        self._loaded: Any = None
        self._lock = threading.Lock()

    @property
    def common_name(self) -> str:
        return self._certificate.common_name

    def fingerprint(self) -> str:
        return self._certificate.fingerprint()

    def pem(self) -> bytes:
        return self._certificate.pem

    def der(self) -> bytes:
        return self._certificate.der

    def loaded(self) -> Any:
        """The CA with its `cryptography` objects (guardian.tls.ca.CertificateAuthority), read once."""
        with self._lock:
            if self._loaded is None:
                from guardian.tls.ca import CertificateAuthority

                self._loaded = CertificateAuthority.load(self.data_dir)
            return self._loaded

    @property
    def certificate(self) -> x509.Certificate:
        return self.loaded().certificate

    @property
    def key(self) -> ec.EllipticCurvePrivateKey:
        return self.loaded().key


def authority_for_service(data_dir: Path, household: str, *, aside: bool = False) -> Authority:
    """The CA `guardian serve` uses: made on the very first start (no tls folder yet),
    checked on disk afterwards; CAError when an existing one is missing or damaged.
    `aside`: the first one is made by a helper process (`python -m guardian.tls.ca`), so
    this one loads no certificate code for it."""
    if not tls_dir(data_dir).exists():
        if not aside:
            from guardian.tls.ca import CertificateAuthority

            return CertificateAuthority.for_service(data_dir, household)
        _make_aside(data_dir, household)
    return StoredAuthority(data_dir)


def _make_aside(data_dir: Path, household: str) -> None:
    try:
        run_helper("guardian.tls.ca", str(data_dir), household, timeout=MAKE_TIMEOUT_SECONDS)
    except HelperFailed as exc:
        raise CAError(f"Guardian's certificate could not be made ({exc}).") from None


def _check_pair(cert_pem: bytes, key_pem: bytes) -> None:
    """OpenSSL's own check that the key is the certificate's (ssl.SSLError "key values mismatch")."""
    from guardian.tls.leaves import SecretFile  # load_cert_chain reads files only: in-memory ones

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert, key = SecretFile(cert_pem), SecretFile(key_pem)
    try:
        context.load_cert_chain(cert.path, key.path)
    finally:
        cert.close()
        key.close()


def _subject(cert_pem: bytes) -> dict[str, str]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cadata=cert_pem.decode("ascii"))
    (decoded,) = context.get_ca_certs()
    subject: Any = decoded.get("subject", ())  # ((("commonName", "..."),), ...)
    return {name: value for part in subject for name, value in part}
