"""What the install builds from: setup.py's list of compiled sources."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def compiled_sources() -> list[str]:
    """setup.py's COMPILED list (the Makefile reads the same lines)."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in tree.body:
        if (isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "COMPILED" for t in node.targets)
                and isinstance(node.value, ast.List)):
            return [ast.literal_eval(element) for element in node.value.elts]
    raise AssertionError("setup.py has no COMPILED list")


def install_inputs() -> list[Path]:
    """The files whose change makes `make` install (and compile) again."""
    return [ROOT / "pyproject.toml", ROOT / "setup.py", *(ROOT / source for source in compiled_sources())]
