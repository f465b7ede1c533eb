"""One archive with everything a parent set up: the configuration file (profiles,
their rules and schedules, device names, lists, settings) and the pauses and allowances.

The archive is a zip with three members: `guardian-backup.json` (what it is, format
version, when), `guardian.toml` (the file exactly as it was, comments included) and
`pauses.json`. A restore checks everything before it replaces anything: it must be a
zip of exactly those members, small, with a manifest of a known version, a
configuration `parse_config` accepts, and pauses that parse. Then the configuration is
applied through the same version-checked edit as any other change (keeping this
machine's `data_dir`), and the pauses file is replaced atomically. Member names are
never used as paths, so an archive cannot write anywhere else.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime

import tomlkit
from tomlkit.exceptions import TOMLKitError

from guardian.config import ConfigError, default_config_text, parse_config
from guardian.fsutil import atomic_write_text
from guardian.policy.pauses import Pause

from .mutations import replace_document
from .services import Services

MANIFEST = "guardian-backup.json"
CONFIG = "guardian.toml"
PAUSES = "pauses.json"
FORMAT = "guardian-backup"
VERSION = 1
MAX_MEMBER = 2 * 2**20


class BackupError(ValueError):
    """An archive that cannot be restored; the message says why, for people."""


@dataclass(frozen=True)
class Backup:
    config: tomlkit.TOMLDocument
    pauses_text: str


def make_backup(services: Services) -> bytes:
    path = services.writable_config_path()
    config_text = path.read_text(encoding="utf-8") if path.exists() else default_config_text()
    try:
        pauses_text = services.pauses.path.read_text(encoding="utf-8")
    except FileNotFoundError:
        pauses_text = json.dumps({"version": 1, "entries": []}) + "\n"
    manifest = {"format": FORMAT, "version": VERSION, "created": datetime.now(UTC).isoformat(timespec="seconds")}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(MANIFEST, json.dumps(manifest, indent=2) + "\n")
        archive.writestr(CONFIG, config_text)
        archive.writestr(PAUSES, pauses_text)
    return buffer.getvalue()


def _member(archive: zipfile.ZipFile, name: str) -> str:
    info = archive.getinfo(name)
    if info.file_size > MAX_MEMBER:
        raise BackupError(f"{name} in the archive is too large")
    # read() checks the CRC; a corrupt member fails here
    data = archive.read(info)
    if len(data) > MAX_MEMBER:
        raise BackupError(f"{name} in the archive is too large")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise BackupError(f"{name} in the archive is not text") from None


def read_backup(data: bytes, data_dir: str) -> Backup:
    """Check an uploaded archive completely; BackupError says what is wrong."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError):
        raise BackupError("this is not a Guardian backup (not a zip archive)") from None
    with archive:
        names = set(archive.namelist())
        if names != {MANIFEST, CONFIG, PAUSES}:
            raise BackupError(f"a Guardian backup holds exactly {MANIFEST}, {CONFIG} and {PAUSES}")
        try:
            manifest = json.loads(_member(archive, MANIFEST))
            config_text = _member(archive, CONFIG)
            pauses_text = _member(archive, PAUSES)
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
            if isinstance(exc, BackupError):
                raise
            raise BackupError(f"the archive is damaged: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError("this is not a Guardian backup (no Guardian manifest)")
    if manifest.get("version") != VERSION:
        raise BackupError(f"this backup has format version {manifest.get('version')!r}; this Guardian reads {VERSION}")
    try:
        doc = tomlkit.parse(config_text)
    except TOMLKitError as exc:
        raise BackupError(f"the configuration in the backup is not valid TOML: {exc}") from None
    doc["data_dir"] = data_dir  # what will be written: this machine's data dir
    try:
        parse_config(tomlkit.dumps(doc), source="backup")
    except ConfigError as exc:
        raise BackupError(f"the configuration in the backup cannot be used: {exc}") from None
    try:
        plain = json.loads(pauses_text)
        for entry in plain["entries"]:
            Pause.from_plain(entry)
    except (ValueError, KeyError, TypeError) as exc:
        raise BackupError(f"the pauses in the backup cannot be read: {exc}") from None
    return Backup(doc, pauses_text)


def restore(services: Services, backup: Backup, version: str | None) -> None:
    """Replace the configuration (version-checked, may raise ConfigConflict/ConfigError),
    then the pauses."""
    services.apply_config_edit(lambda doc: replace_document(doc, backup.config, ("data_dir",)), version)
    atomic_write_text(services.pauses.path, backup.pauses_text)
