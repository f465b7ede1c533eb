"""The last-known-good configuration: a typo must never take the house offline.

After every successful load the file's text is copied (atomically) to
`guardian.toml.last-good` beside it. When Guardian starts and the file is invalid, it
runs on that copy and says so everywhere a parent looks (a red banner on every settings
page, `guardian config check`, the service log) until the file is fixed or the copy is
put back. Only a file that never loaded (a first install) stops the start, and then the
error names every key and line.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from guardian.config import Config, ConfigError, parse_config
from guardian.config_problems import Problem, find_problems
from guardian.fsutil import atomic_write_text

log = logging.getLogger("guardian")
SUFFIX = ".last-good"


@dataclass
class Loaded:
    config: Config
    problems: list[Problem] = field(default_factory=list)  # empty: the file itself is in force


def last_good_path(config_path: Path) -> Path:
    return config_path.with_name(config_path.name + SUFFIX)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None


def problems_message(path: Path, problems: list[Problem]) -> str:
    return f"{path}: " + "; ".join(str(p) for p in problems)


def load_file(path: Path) -> Config:
    """Load `path`; on success remember its text as the last-known-good copy. An invalid
    file raises ConfigError naming every problem with its line."""
    text = _read(path)
    try:
        config = parse_config(text, source=str(path), relative_to=path.parent)
    except ConfigError:
        problems = find_problems(text) or [Problem("", None, "not a valid configuration")]
        raise ConfigError(problems_message(path, problems)) from None
    save_last_good(path, text)
    return config


def load_at_start(path: Path) -> Loaded:
    """The file, or when it is invalid the last-known-good copy with the file's problems."""
    try:
        return Loaded(load_file(path))
    except ConfigError as exc:
        try:
            text = _read(path)
        except ConfigError:
            raise exc from None
        copy = last_good_path(path)
        if not copy.is_file():
            raise  # a file that never loaded: nothing safe to run on
        try:
            config = parse_config(copy.read_text(encoding="utf-8"), source=str(path), relative_to=path.parent)
        except (OSError, UnicodeDecodeError, ConfigError):
            raise exc from None
        problems = find_problems(text)
        log.error("THE CONFIGURATION FILE %s HAS PROBLEMS; running on the last-known-good copy %s until it is "
                  "fixed: %s", path, copy, "; ".join(str(p) for p in problems))
        return Loaded(config, problems)


def save_last_good(path: Path, text: str) -> None:
    copy = last_good_path(path)
    try:
        if copy.is_file() and copy.read_text(encoding="utf-8") == text:
            return
        mode = os.stat(path).st_mode & 0o777
        atomic_write_text(copy, text, mode=mode)
    except (OSError, UnicodeDecodeError) as exc:
        # Guardian still runs; it only loses the safety net for the next start.
        log.warning("cannot save the last-known-good configuration %s: %s", copy, exc)


def last_good_text(path: Path) -> str | None:
    try:
        return last_good_path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def write_text(path: Path, text: str) -> None:
    """Replace the file with `text` after checking it; ConfigError (nothing written) lists every problem."""
    problems = find_problems(text)
    if problems:
        raise ConfigError(problems_message(path, problems))
    mode = os.stat(path).st_mode & 0o777 if path.exists() else 0o640
    atomic_write_text(path, text, mode=mode)


def restore_last_good(path: Path) -> None:
    text = last_good_text(path)
    if text is None:
        raise ConfigError(f"{path}: there is no last-known-good copy to go back to")
    write_text(path, text)


def find_problems_in(path: Path) -> list[Problem]:
    try:
        return find_problems(_read(path))
    except ConfigError as exc:
        return [Problem("", None, str(exc))]
