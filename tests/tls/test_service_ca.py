"""The CA in a running Guardian: made on the first start, never silently replaced, and
`guardian ca renew` handed to the running service."""

from __future__ import annotations

from guardian.cli import main
from guardian.tls.ca import CertificateAuthority, tls_dir
from tests.support.household import start_guardian


def test_first_start_makes_the_ca_and_renew_reaches_the_running_service(tmp_path, capsys):
    guardian = start_guardian(tmp_path, '[https]\nname = "the Smiths"\n')
    try:
        first = guardian.ctx.tls.ca
        assert first.common_name.startswith("Guardian for the Smiths")
        assert CertificateAuthority.load(guardian.data_dir).fingerprint() == first.fingerprint()
        assert main(["ca", "renew", "--config", str(tmp_path / "guardian.toml")]) == 0
        assert "The running service uses it from now on." in capsys.readouterr().out
        assert guardian.ctx.tls.ca.fingerprint() != first.fingerprint()
        assert guardian.ctx.tls.ca.fingerprint() == CertificateAuthority.load(guardian.data_dir).fingerprint()
    finally:
        guardian.stop()


def test_a_missing_ca_is_not_replaced_on_start(tmp_path, caplog):
    tls_dir(tmp_path / "data").mkdir(parents=True)  # a CA was made once, and its files are gone
    guardian = start_guardian(tmp_path, "")
    try:
        assert guardian.ctx.tls is None
        assert not (tls_dir(tmp_path / "data") / "ca.key").exists()
        assert "guardian ca renew" in caplog.text
    finally:
        guardian.stop()
