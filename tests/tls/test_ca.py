"""Guardian's certificate authority, its leaves and `guardian ca`."""

from __future__ import annotations

import datetime
import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from guardian.cli import main
from guardian.config import ConfigError, parse_config
from guardian.tls.ca import CAError, CertificateAuthority, tls_dir
from guardian.tls.leaves import LEAF_VALIDITY, LeafCache


def test_first_start_makes_a_ca_named_after_the_household(tmp_path: Path):
    ca = CertificateAuthority.for_service(tmp_path, "the Smiths")
    assert ca.common_name.startswith("Guardian for the Smiths (")
    assert isinstance(ca.key, ec.EllipticCurvePrivateKey) and ca.key.curve.name == "secp256r1"
    assert stat.S_IMODE((tls_dir(tmp_path) / "ca.key").stat().st_mode) == 0o600
    assert stat.S_IMODE(tls_dir(tmp_path).stat().st_mode) == 0o700
    constraints = ca.certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca
    # the next start loads the same one
    again = CertificateAuthority.for_service(tmp_path, "the Smiths")
    assert again.fingerprint() == ca.fingerprint()
    # two households are told apart even with the same name
    assert CertificateAuthority.create("the Smiths").common_name != ca.common_name


@pytest.mark.parametrize("damage", ["missing key", "missing certificate", "garbage", "other key"])
def test_a_missing_or_damaged_ca_is_not_silently_replaced(tmp_path: Path, damage: str):
    ca = CertificateAuthority.for_service(tmp_path, "home")
    folder = tls_dir(tmp_path)
    if damage == "missing key":
        (folder / "ca.key").unlink()
    elif damage == "missing certificate":
        (folder / "ca.crt").unlink()
    elif damage == "garbage":
        (folder / "ca.key").write_text("not a key")
    else:
        CertificateAuthority.create("home").save(tmp_path / "other")
        (folder / "ca.key").write_bytes((tmp_path / "other" / "tls" / "ca.key").read_bytes())
    with pytest.raises(CAError, match="guardian ca renew"):
        CertificateAuthority.for_service(tmp_path, "home")
    renewed = CertificateAuthority.renew(tmp_path, "home")
    assert renewed.fingerprint() != ca.fingerprint()
    assert CertificateAuthority.for_service(tmp_path, "home").fingerprint() == renewed.fingerprint()


def test_leaves_name_the_host_and_stay_inside_browser_limits(guardian_ca):
    leaves = LeafCache(guardian_ca, 16)
    for name, general in (("www.example.org", x509.DNSName("www.example.org")),
                          ("192.0.2.1", x509.IPAddress(ipaddress.ip_address("192.0.2.1"))),
                          ("2001:db8::1", x509.IPAddress(ipaddress.ip_address("2001:db8::1")))):
        cert = leaves.certificate_for(name)
        assert cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value == \
            x509.SubjectAlternativeName([general])
        assert cert.issuer == guardian_ca.certificate.subject
        life = cert.not_valid_after_utc - cert.not_valid_before_utc
        assert life <= datetime.timedelta(days=200)  # CA/B Forum maximum since March 2026; Apple: 825
        assert cert.not_valid_after_utc - datetime.datetime.now(datetime.UTC) <= LEAF_VALIDITY
        assert ExtendedKeyUsageOID.SERVER_AUTH in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        guardian_ca.certificate.public_key().verify(cert.signature, cert.tbs_certificate_bytes,
                                                    ec.ECDSA(cert.signature_hash_algorithm))
    long_name = "a" * 60 + ".example.org"
    cert = leaves.certificate_for(long_name)
    assert not cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)  # longer than a CN may be: SAN only


def test_the_leaf_cache_is_bounded_and_reuses_leaves(guardian_ca):
    leaves = LeafCache(guardian_ca, 16)
    first = leaves.context_for("a.example")
    assert leaves.context_for("A.example.") is first and leaves.made == 1
    for i in range(40):
        leaves.context_for(f"h{i}.example")
    assert len(leaves) == 16 and leaves.made == 41
    assert leaves.context_for("a.example") is not first  # evicted, made again


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "guardian.toml"
    path.write_text(f'data_dir = "{tmp_path / "data"}"\n[https]\nname = "the Smiths"\n')
    return path


def test_ca_commands(tmp_path: Path, capfdbinary):
    config = _config(tmp_path)
    assert main(["ca", "show", "--config", str(config)]) == 1
    assert b"first time `guardian serve` starts" in capfdbinary.readouterr().err
    ca = CertificateAuthority.for_service(tmp_path / "data", "the Smiths")

    assert main(["ca", "show", "--config", str(config)]) == 0
    out = capfdbinary.readouterr().out.decode()
    assert ca.fingerprint() in out and ca.common_name in out and "PRIVATE" not in out

    assert main(["ca", "export", "--config", str(config)]) == 0
    pem = capfdbinary.readouterr().out
    assert x509.load_pem_x509_certificate(pem) == ca.certificate and b"PRIVATE" not in pem
    assert main(["ca", "export", "--der", "-o", str(tmp_path / "g.crt"), "--config", str(config)]) == 0
    assert x509.load_der_x509_certificate((tmp_path / "g.crt").read_bytes()) == ca.certificate

    assert main(["ca", "renew", "--config", str(config)]) == 0
    out = capfdbinary.readouterr().out.decode()
    assert "Every device must now trust the new certificate" in out
    renewed = CertificateAuthority.load(tmp_path / "data")
    assert renewed.fingerprint() != ca.fingerprint() and renewed.fingerprint() in out


def test_https_configuration():
    config = parse_config('[https]\nbypass = ["*.Bank.example", ".nhs.uk"]\nleaf_cache_size = 64\n'
                          '[[profiles]]\nname = "default"\ninspect_https = "hosts"\ninspect_hosts = ["youtube.com"]\n')
    assert config.https.bypass == ("bank.example", "nhs.uk") and config.https.leaf_cache_size == 64
    profile = config.profile("default")
    assert (profile.https_block_page, profile.inspect_https, profile.inspect_hosts) == (True, "hosts", ("youtube.com",))
    assert "paypal.com" in parse_config("").https.bypass  # the shipped default
    for bad, key in (('[https]\nbypass = ["not a host!"]', "https.bypass[0]"),
                     ("[https]\nleaf_cache_size = 1", "https.leaf_cache_size"),
                     ('[[profiles]]\nname = "default"\ninspect_https = "some"', "profiles[0].inspect_https"),
                     ('[[profiles]]\nname = "default"\nhttps_block_page = "yes"', "profiles[0].https_block_page")):
        with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
            parse_config(bad)
