"""Backup download and restore: one archive, checked completely before anything changes."""

from __future__ import annotations

import io
import json
import zipfile

from tests.web.conftest import Web


def _archive(members: dict[str, bytes | str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _restore(admin: Web, data: bytes):
    return admin.post("/settings/restore", {"backup": (io.BytesIO(data), "backup.zip")},
                      content_type="multipart/form-data", follow_redirects=True)


def _download(admin: Web) -> dict[str, str]:
    response = admin.get("/settings/backup")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert "attachment" in response.headers["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        return {name: archive.read(name).decode() for name in archive.namelist()}


def test_backup_and_restore_round_trip(admin: Web) -> None:
    household = admin.household
    household.pauses.add_pause("device", "Sam's tablet", 60)
    members = _download(admin)
    assert set(members) == {"guardian-backup.json", "guardian.toml", "pauses.json"}
    assert "# Sam's tablet gets the kids' rules." in members["guardian.toml"]
    # things change after the backup ...
    admin.post("/profiles/rules/add", {"profile": "kids", "kind": "block", "rule": "later.example"})
    for entry in household.pauses.active():
        household.pauses.cancel(entry.id)
    # ... and the restore brings the backup's state back, comments included
    response = _restore(admin, _archive(members))
    assert "Backup restored" in response.text
    assert household.config.profile("kids").block == ("tiktok.com",)
    assert "# Sam's tablet gets the kids' rules." in household.config_path.read_text()
    assert [p.name for p in household.pauses.active()] == ["Sam's tablet"]


def test_restore_keeps_this_machines_data_dir(admin: Web) -> None:
    members = _download(admin)
    members["guardian.toml"] = members["guardian.toml"].replace(str(admin.household.data_dir), "/elsewhere")
    assert "Backup restored" in _restore(admin, _archive(members)).text
    assert admin.household.config.data_dir == admin.household.data_dir


def test_malformed_backups_change_nothing(admin: Web) -> None:
    household = admin.household
    good = _download(admin)
    before = household.config_path.read_text()
    household.pauses.add_pause("profile", "kids", 30)
    pauses_before = household.pauses.path.read_text()
    bad_archives = {
        "not a zip": b"hello, this is not an archive",
        "truncated": _archive(good)[:100],
        "extra member": _archive({**good, "../../etc/cron.d/evil": "x"}),
        "missing member": _archive({k: v for k, v in good.items() if k != "pauses.json"}),
        "no manifest": _archive({**good, "guardian-backup.json": "{}"}),
        "future version": _archive({**good, "guardian-backup.json": json.dumps({"format": "guardian-backup",
                                                                               "version": 99})}),
        "bad toml": _archive({**good, "guardian.toml": "[[profiles]\nname ="}),
        "invalid config": _archive({**good, "guardian.toml": good["guardian.toml"].replace(
            'profile = "kids"', 'profile = "nobody"')}),
        "bad pauses": _archive({**good, "pauses.json": '{"entries": [{"kind": "explode"}]}'}),
        "binary config": _archive({**good, "guardian.toml": b"\xff\xfe\x00"}),
    }
    for what, data in bad_archives.items():
        response = _restore(admin, data)
        assert "Nothing was restored" in response.text, what
        assert household.config_path.read_text() == before, what
        assert household.pauses.path.read_text() == pauses_before, what
    assert "Choose a backup file" in admin.post("/settings/restore", {}, follow_redirects=True).text


def test_restore_is_version_checked(admin: Web) -> None:
    members = _download(admin)
    stale = admin.household.config_version()
    admin.post("/profiles/rules/add", {"profile": "kids", "kind": "block", "rule": "meanwhile.example"})
    response = admin.post("/settings/restore", {"backup": (io.BytesIO(_archive(members)), "b.zip"), "version": stale},
                          content_type="multipart/form-data", follow_redirects=True)
    assert "changed somewhere else" in response.text
    assert "meanwhile.example" in admin.household.config.profile("kids").block
