"""The on-disk index cache: reused when the lists are the same, never trusted otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from guardian.filters import FilterEngine
from guardian.filters import engine as engine_module
from guardian.filters.compact import ListFile

LISTS = {"easylist": "||ads.example^\n/banner/*$image\n@@||ads.example/ok\n", "hosts": "0.0.0.0 t.example\n"}


def cache_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("filters-*.marshal"))


@pytest.fixture
def count_builds(monkeypatch):
    builds = []
    real_build = engine_module.RuleIndex.from_parsed  # every build, of texts or list files, ends here

    def counting_build(*args, **kwargs):
        builds.append(1)
        return real_build(*args, **kwargs)

    monkeypatch.setattr(engine_module.RuleIndex, "from_parsed", counting_build)
    return builds


def same_behaviour(engine: FilterEngine) -> None:
    assert engine.match("https://ads.example/x").rule == "||ads.example^"
    assert engine.match("https://ads.example/ok").rule == "@@||ads.example/ok"
    assert engine.match("https://c.example/banner/1.png", request_type="image").blocked
    assert engine.match_host("t.example").rule == "0.0.0.0 t.example"
    assert engine.report["hosts"].format == "hosts"


def test_second_load_reads_the_cache(tmp_path, count_builds):
    same_behaviour(FilterEngine.from_lists(LISTS, cache_dir=tmp_path))
    assert len(cache_files(tmp_path)) == 1
    same_behaviour(FilterEngine.from_lists(LISTS, cache_dir=tmp_path))
    assert len(count_builds) == 1


def test_changed_lists_miss(tmp_path, count_builds):
    FilterEngine.from_lists(LISTS, cache_dir=tmp_path)
    changed = FilterEngine.from_lists({**LISTS, "custom": "||new.example^"}, cache_dir=tmp_path)
    assert changed.match("https://new.example/").blocked
    assert len(count_builds) == 2
    FilterEngine.from_lists(LISTS, cache_dir=tmp_path, formats={"hosts": "domains"})
    assert len(count_builds) == 3


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],  # torn write
        lambda data: data[:-10] + bytes(10),  # flipped payload bytes
        lambda data: b"not a cache at all",
        lambda data: b"",
    ],
)
def test_corrupt_cache_is_rebuilt(tmp_path, count_builds, damage):
    FilterEngine.from_lists(LISTS, cache_dir=tmp_path)
    [path] = cache_files(tmp_path)
    path.write_bytes(damage(path.read_bytes()))
    same_behaviour(FilterEngine.from_lists(LISTS, cache_dir=tmp_path))
    assert len(count_builds) == 2
    same_behaviour(FilterEngine.from_lists(LISTS, cache_dir=tmp_path))
    assert len(count_builds) == 2  # the rebuilt file was written again


def test_unwritable_cache_dir_still_loads(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    same_behaviour(FilterEngine.from_lists(LISTS, cache_dir=blocker / "sub"))


def test_no_temp_files_left(tmp_path):
    FilterEngine.from_lists(LISTS, cache_dir=tmp_path)
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".tmp")] == []


def test_a_build_aside_is_made_by_a_helper_process_and_loaded_from_its_cache(tmp_path, count_builds):
    files = {}
    for name, text in LISTS.items():
        (tmp_path / f"{name}.txt").write_text(text)
        files[name] = ListFile.of(tmp_path / f"{name}.txt")
    for kind, lists in (("texts", LISTS), ("files", files)):  # stored list files keep host tables too
        folder = tmp_path / f"cache-{kind}"
        engine = FilterEngine.from_lists(lists, {"hosts": "hosts"}, cache_dir=folder, aside=True)
        same_behaviour(engine)
        assert len(cache_files(folder)) == 1
    assert count_builds == []  # this process only loaded what the helper saved


def test_a_helper_that_fails_leaves_the_build_to_this_process_and_says_why(tmp_path, count_builds, caplog):
    not_a_folder = tmp_path / "cache"
    not_a_folder.write_text("a file where the cache folder should be")
    engine = FilterEngine.from_lists(LISTS, cache_dir=not_a_folder, aside=True)
    same_behaviour(engine)
    assert len(count_builds) == 1
    assert "the helper failed (the index could not be saved" in caplog.text
