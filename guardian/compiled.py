"""Whether the compiled request path (setup.py) was built from the source beside it.

Python loads a module's compiled copy before its source. In a checkout, an edited source
would otherwise be ignored in silence until the next build; guardian/__init__.py refuses to
start instead and says how to rebuild.
"""

from __future__ import annotations

import hashlib
import json
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
RECORD_NAME = "compiled_sources.json"  # written by setup.py beside the package's modules: what it compiled


def compiled_modules(package: Path = PACKAGE) -> list[Path]:
    """The package's compiled modules (the `.so` beside each compiled source)."""
    return sorted({path for suffix in EXTENSION_SUFFIXES for path in package.rglob(f"*{suffix}")})


def stale_sources(package: Path = PACKAGE) -> list[str]:
    """Sources whose compiled copy was built from other text (or from an unrecorded build)."""
    try:
        record: dict[str, str] = json.loads((package / RECORD_NAME).read_text())
    except (FileNotFoundError, ValueError):
        record = {}
    stale = []
    for module in compiled_modules(package):
        source = module.with_name(module.name.split(".", 1)[0] + ".py")
        key = source.relative_to(package.parent).as_posix()
        try:
            digest = hashlib.sha256(source.read_bytes()).hexdigest()
        except FileNotFoundError:
            digest = ""
        if record.get(key) != digest:
            stale.append(key)
    return stale


def refuse_stale_build() -> None:
    stale = stale_sources()
    if stale:
        raise ImportError(
            f"{', '.join(stale)} changed after Guardian's request path was compiled, and Python would "
            "run the old compiled copy. Compile it again: `make run` or `make test` does, or "
            "`.venv/bin/pip install --no-deps -e .`.")
