"""Fixtures for the filter engine's tests: engines built from a few rules, the fixture
subset in tests/data (always there), and the full shared lists beside the repository
(used when present)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from guardian.filters import FilterEngine

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
DATA = Path(__file__).resolve().parents[1] / "data"
LIST_NAMES = ("easylist", "easyprivacy")


@pytest.fixture
def engine_of() -> Callable[..., FilterEngine]:
    """engine_of("rule", "rule", ...) -> an engine with those rules in one list, "custom"."""

    def build(*rules: str) -> FilterEngine:
        return FilterEngine.from_lists({"custom": "\n".join(rules)})

    return build


@pytest.fixture(scope="session")
def full_lists() -> dict[str, str]:
    """The full EasyList + EasyPrivacy snapshot from ../shared; the full-size tests skip without it."""
    folder = SHARED / "data" / "filterlists"
    if not (folder / "easylist.txt").is_file():
        pytest.skip(f"full EasyList snapshot not found in {folder} (the reduced lists in tests/data still run)")
    return {name: (folder / f"{name}.txt").read_text(encoding="utf-8") for name in LIST_NAMES}


@pytest.fixture(scope="session")
def reduced_lists() -> dict[str, str]:
    """The reduced EasyList + EasyPrivacy kept in tests/data (see its README)."""
    folder = DATA / "filterlists"
    return {name: (folder / f"{name}-reduced.txt").read_text(encoding="utf-8") for name in LIST_NAMES}
