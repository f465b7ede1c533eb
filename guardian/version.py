"""Which Guardian this is: the version (written in one place, pyproject.toml, and read back
from the installed package's metadata) and the commit it was installed from.

The metadata file is read directly rather than through `importlib.metadata`, which
imports the email parser, zipfile and more: about 4 MiB a long-running service never uses
again (docs/architecture.md, "What is loaded when")."""

from __future__ import annotations

import subprocess
import sys
from functools import cache
from pathlib import Path

# install.sh writes the commit it installed here: the installed copy has no .git to ask.
COMMIT_FILE = Path(__file__).with_name("COMMIT")


@cache
def version() -> str:
    """The `Version:` of the first installed `guardian` found on sys.path, as importlib.metadata
    finds it; "unknown" for a source tree that was never installed."""
    for entry in sys.path:
        for found in sorted(Path(entry or ".").glob("guardian-*.dist-info/METADATA")):
            try:
                with found.open(encoding="utf-8") as lines:
                    for line in lines:
                        if line.startswith("Version:"):
                            return line.split(":", 1)[1].strip()
                        if not line.strip():  # the end of the header block
                            break
            except OSError:
                continue
    return "unknown"


@cache
def commit() -> str | None:
    try:
        recorded = COMMIT_FILE.read_text(encoding="ascii").strip()
    except (FileNotFoundError, UnicodeDecodeError):
        recorded = ""
    if recorded:
        return recorded
    try:  # a development checkout
        done = subprocess.run(["git", "-C", str(COMMIT_FILE.parents[1]), "rev-parse", "--short=12", "HEAD"],
                              capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def describe_version() -> str:
    """`1.2.3 (commit 1c64220abcd1)`, or only the version when the commit is unknown."""
    known = commit()
    return f"{version()} (commit {known})" if known else version()
