"""Certificates for the sites a device asks for, made on demand and kept in memory.

Each leaf is signed by the installation's CA for exactly one name (a DNS name, or an IP
address in an IP SAN), is good for `LEAF_VALIDITY` (well inside every browser's limit:
the CA/Browser Forum's maximum for public certificates is 200 days since March 2026 and
Apple accepts at most 825 days for any TLS server certificate, with serverAuth in the
extended key usage and the name in the SAN), and is made again once half of that has
passed. All leaves share one P-256 key made in memory when the first leaf is needed (with
`cryptography`, guardian/tls/signing.py) and never written down:
signing a certificate is cheap, generating a key is not.

Python's ssl module loads certificates only from files, so each leaf is handed to
OpenSSL through an anonymous in-memory file (memfd): no key touches a disk. The cache
holds ready `SSLContext`s, bounded by count, least recently used out first.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import ssl
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING

from guardian.tls.authority import Authority

if TYPE_CHECKING:
    from cryptography import x509

    from guardian.tls.signing import LeafSigner

LEAF_VALIDITY = datetime.timedelta(days=30)
_RENEW_AFTER = LEAF_VALIDITY.total_seconds() / 2
ALPN = ["http/1.1"]  # HTTP/2-capable browsers then speak HTTP/1.1 to Guardian


class SecretFile:
    """A path OpenSSL can read that lives only in memory (memfd), or a 0600 temporary
    file where memfd does not exist; closed (and gone) when no longer needed."""

    def __init__(self, data: bytes) -> None:
        self._temp: str | None = None
        if hasattr(os, "memfd_create"):
            self.fd = os.memfd_create("guardian-tls", os.MFD_CLOEXEC)
            self.path = f"/proc/self/fd/{self.fd}"
        else:  # pragma: no cover - not Linux
            self.fd, self._temp = tempfile.mkstemp(prefix="guardian-tls-")
            self.path = self._temp
        os.write(self.fd, data)

    def close(self) -> None:
        os.close(self.fd)
        if self._temp is not None:  # pragma: no cover - not Linux
            with contextlib.suppress(OSError):
                os.unlink(self._temp)


def server_context() -> ssl.SSLContext:
    """The settings every context Guardian serves TLS with shares."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(ALPN)
    return context


class LeafCache:
    """Ready server contexts per name, made by the CA on first use."""

    def __init__(self, ca: Authority, max_entries: int = 1000,
                 sni_callback: Callable[[ssl.SSLObject, str | None, ssl.SSLContext], None] | None = None) -> None:
        self.ca = ca
        self.sni_callback = sni_callback
        self.max_entries = max_entries
        self._signing: LeafSigner | None = None
        self._key_file: SecretFile | None = None
        self._signer_lock = threading.Lock()
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[ssl.SSLContext, float]] = OrderedDict()
        self.made = 0  # leaves signed since start (for tests and statistics)

    def context_for(self, name: str) -> ssl.SSLContext:
        name = name.rstrip(".").lower()
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(name)
            if entry is not None and now - entry[1] < _RENEW_AFTER:
                self._entries.move_to_end(name)
                return entry[0]
        context = self._make(name)  # outside the lock: signing must not hold up other handshakes
        with self._lock:
            self._entries[name] = (context, now)
            self._entries.move_to_end(name)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
            self.made += 1
        return context

    def __len__(self) -> int:
        return len(self._entries)

    def certificate_for(self, name: str) -> x509.Certificate:
        return self._signer().certificate_for(name)

    def _signer(self) -> LeafSigner:
        """The signer, made (and `cryptography` loaded) when the first leaf is needed."""
        with self._signer_lock:
            if self._signing is None:
                from guardian.tls.signing import LeafSigner

                signer = LeafSigner(self.ca)
                self._key_file = SecretFile(signer.key_pem)
                self._signing = signer
            return self._signing

    def _make(self, name: str) -> ssl.SSLContext:
        signer = self._signer()
        assert self._key_file is not None  # written with the signer
        cert_file = SecretFile(signer.pem_for(name))
        try:
            context = server_context()
            context.sni_callback = self.sni_callback
            context.load_cert_chain(cert_file.path, self._key_file.path)
        finally:
            cert_file.close()
        return context
