"""Fixtures for the filter engine's tests: engines built from a few rules, and the shared
data (conformance cases, EasyList) found beside the repository when it is there."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from guardian.filters import FilterEngine

SHARED = Path(__file__).resolve().parents[2].parent / "shared"


@pytest.fixture
def engine_of() -> Callable[..., FilterEngine]:
    """engine_of("rule", "rule", ...) -> an engine with those rules in one list, "custom"."""

    def build(*rules: str) -> FilterEngine:
        return FilterEngine.from_lists({"custom": "\n".join(rules)})

    return build


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared test data not found at {SHARED} (checkout without ../shared)")
    return SHARED


@pytest.fixture(scope="session")
def full_lists(shared_dir: Path) -> dict[str, str]:
    folder = shared_dir / "data" / "filterlists"
    if not (folder / "easylist.txt").is_file():
        pytest.skip(f"EasyList snapshot not found in {folder}")
    return {name: (folder / f"{name}.txt").read_text(encoding="utf-8") for name in ("easylist", "easyprivacy")}
