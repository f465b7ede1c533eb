"""The CA as the running service holds it (guardian/tls/authority.py): checked at start without
`cryptography`, which loads only when the first leaf is signed."""

from __future__ import annotations

import contextlib
import json
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from guardian.tls.authority import CAError, StoredAuthority, authority_for_service, read_stored_certificate
from guardian.tls.ca import CertificateAuthority, tls_dir
from guardian.tls.leaves import LeafCache

NOT_A_CERTIFICATE = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n"


@pytest.mark.parametrize("damage", ["missing key", "missing certificate", "garbage key", "garbage certificate",
                                    "other key"])
def test_a_missing_or_damaged_ca_is_refused_at_start_with_what_to_do(tmp_path: Path, damage: str):
    CertificateAuthority.for_service(tmp_path, "home")
    folder = tls_dir(tmp_path)
    if damage == "missing key":
        (folder / "ca.key").unlink()
    elif damage == "missing certificate":
        (folder / "ca.crt").unlink()
    elif damage == "garbage key":
        (folder / "ca.key").write_text("not a key")
    elif damage == "garbage certificate":
        (folder / "ca.crt").write_text(NOT_A_CERTIFICATE)
    else:
        CertificateAuthority.create("home").save(tmp_path / "other")
        (folder / "ca.key").write_bytes((tmp_path / "other" / "tls" / "ca.key").read_bytes())
    with pytest.raises(CAError, match="guardian ca renew") as refused:
        authority_for_service(tmp_path, "home")
    if damage == "other key":
        assert "do not belong together" in str(refused.value)


def test_the_stored_ca_is_the_made_one_and_signs_leaves_devices_accept(tmp_path: Path):
    made = CertificateAuthority.for_service(tmp_path, "the Smiths")
    stored = authority_for_service(tmp_path, "the Smiths")
    assert isinstance(stored, StoredAuthority)
    assert stored.fingerprint() == made.fingerprint()
    assert stored.common_name == made.common_name
    assert stored.pem() == made.pem() and stored.der() == made.der()
    assert stored.certificate == made.certificate
    # a device that trusts the CA accepts the leaf the stored CA signs
    leaves = LeafCache(stored, 4)
    server = leaves.context_for("www.example.org")
    client = ssl.create_default_context(cadata=made.pem().decode())
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    client_side = client.wrap_bio(incoming, outgoing, server_hostname="www.example.org")
    server_in, server_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    server_side = server.wrap_bio(server_in, server_out, server_side=True)
    for _ in range(10):
        for side in (client_side, server_side):
            with contextlib.suppress(ssl.SSLWantReadError):
                side.do_handshake()
        server_in.write(outgoing.read())
        incoming.write(server_out.read())
    client_side.do_handshake()  # raises if the device would refuse the certificate
    assert client_side.getpeercert()["subjectAltName"] == (("DNS", "www.example.org"),)


PROBE = """
import json, sys
from guardian.tls.authority import authority_for_service
from guardian.tls.intercept import Interceptor
interceptor = Interceptor(authority_for_service(sys.argv[1], "home"), 8)
started = "cryptography" in sys.modules
interceptor.ca.fingerprint()
checked = "cryptography" in sys.modules
interceptor.leaves.context_for("example.org")
print(json.dumps([started, checked, "cryptography" in sys.modules]))
"""


def test_a_start_with_a_ca_loads_the_certificate_code_only_for_the_first_leaf(tmp_path: Path):
    CertificateAuthority.for_service(tmp_path, "home")
    done = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path)], capture_output=True, text=True,
                          timeout=60, check=True)
    assert json.loads(done.stdout) == [False, False, True]


PROBE_FIRST_START = """
import json, sys
from guardian.tls.authority import authority_for_service
ca = authority_for_service(sys.argv[1], "the Smiths", aside=True)
print(json.dumps([type(ca).__name__, ca.common_name, "cryptography" in sys.modules]))
"""


def test_the_first_ca_made_aside_is_made_by_a_helper_and_held_without_the_certificate_code(tmp_path: Path):
    done = subprocess.run([sys.executable, "-c", PROBE_FIRST_START, str(tmp_path)], capture_output=True,
                          text=True, timeout=60, check=True)
    kind, name, loaded = json.loads(done.stdout)
    assert kind == "StoredAuthority" and name.startswith("Guardian for the Smiths (") and not loaded
    assert (tls_dir(tmp_path) / "ca.key").stat().st_mode & 0o777 == 0o600
    assert CertificateAuthority.load(tmp_path).common_name == name


def test_a_first_ca_that_cannot_be_made_aside_says_so(tmp_path: Path):
    data_dir = tmp_path / "data"
    data_dir.write_text("a file where the data folder should be")
    with pytest.raises(CAError, match="could not be made"):
        authority_for_service(data_dir, "home", aside=True)


def test_the_certificate_alone_is_read_for_pages_and_a_damaged_one_is_none(tmp_path: Path):
    made = CertificateAuthority.for_service(tmp_path, "the Smiths")
    (tls_dir(tmp_path) / "ca.key").unlink()  # pages never need the key
    cert = read_stored_certificate(tmp_path)
    assert cert is not None and cert.der == made.der() and cert.fingerprint() == made.fingerprint()
    assert cert.common_name == made.common_name
    (tls_dir(tmp_path) / "ca.crt").write_text(NOT_A_CERTIFICATE)
    assert read_stored_certificate(tmp_path) is None
    assert read_stored_certificate(tmp_path / "nowhere") is None
