"""The request path runs compiled (setup.py), and the build is never silently older than its source."""

from __future__ import annotations

import ast
import hashlib
import importlib
import json
import shutil
import subprocess
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

from guardian.compiled import stale_sources
from tests.support.build import ROOT, compiled_sources


@pytest.mark.parametrize("source", compiled_sources())
def test_the_suite_runs_the_compiled_request_path(source):
    """What the tests exercise is what a household runs: each listed module is its C extension."""
    module = importlib.import_module(source.removesuffix(".py").replace("/", "."))
    assert module.__file__ is not None
    assert module.__file__.endswith(tuple(EXTENSION_SUFFIXES)), f"{source} ran as plain Python"


@pytest.mark.parametrize("source", compiled_sources())
def test_each_except_clause_names_its_exception_apart(source):
    """mypyc types a local name once per function: `except A as exc` then `except B as exc`
    would raise TypeError in the compiled copy when B arrives."""
    tree = ast.parse((ROOT / source).read_text())
    for function in ast.walk(tree):
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            kinds: dict[str, set[str]] = {}
            for node in ast.walk(function):
                if isinstance(node, ast.ExceptHandler) and node.name and node.type is not None:
                    kinds.setdefault(node.name, set()).add(ast.unparse(node.type))
            reused = {name: sorted(types) for name, types in kinds.items() if len(types) > 1}
            assert not reused, f"{source}:{function.name} names different exceptions alike: {reused}"


def fake_build(tmp_path: Path, text: bytes) -> Path:
    """A package with one compiled module built from `text`."""
    package = tmp_path / "guardian"
    (package / "proxy").mkdir(parents=True)
    (package / "proxy" / "handler.py").write_bytes(text)
    (package / "proxy" / f"handler{EXTENSION_SUFFIXES[0]}").write_bytes(b"\x7fELF")
    record = {"guardian/proxy/handler.py": hashlib.sha256(text).hexdigest()}
    (package / "compiled_sources.json").write_text(json.dumps(record))
    return package


def test_an_edited_source_is_noticed(tmp_path):
    package = fake_build(tmp_path, b"x = 1\n")
    assert stale_sources(package) == []
    (package / "proxy" / "handler.py").write_bytes(b"x = 2\n")
    assert stale_sources(package) == ["guardian/proxy/handler.py"]


def test_a_compiled_copy_without_a_record_is_noticed(tmp_path):
    package = fake_build(tmp_path, b"x = 1\n")
    (package / "compiled_sources.json").unlink()
    assert stale_sources(package) == ["guardian/proxy/handler.py"]


def test_guardian_refuses_to_start_on_a_stale_build_and_says_how_to_rebuild(tmp_path):
    copy = tmp_path / "checkout"
    shutil.copytree(ROOT / "guardian", copy / "guardian", ignore=shutil.ignore_patterns("__pycache__"))
    handler = copy / "guardian" / "proxy" / "handler.py"
    handler.write_text(handler.read_text() + "\n# an edit after the build\n")
    done = subprocess.run([sys.executable, "-c", "import guardian"], cwd=copy, capture_output=True, text=True,
                          env={"PYTHONPATH": str(copy), "PATH": "/usr/bin:/bin"}, timeout=60)
    assert done.returncode != 0
    assert "guardian/proxy/handler.py changed after Guardian's request path was compiled" in done.stderr
    assert "make run" in done.stderr
