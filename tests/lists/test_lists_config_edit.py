"""Editing the configuration file: comments kept, validated before writing, atomic."""

from __future__ import annotations

from pathlib import Path

import pytest

from guardian.config import ConfigError, load_config
from guardian.config_edit import add_list, add_list_to_profile, edit_config, remove_list

CONFIG = """\
# My household's Guardian.
data_dir = "/var/lib/guardian"   # on the USB disk

[[lists]]
id = "easylist"   # ads
url = "https://easylist.to/easylist/easylist.txt"
format = "abp"

[[lists]]
id = "mine"
url = "/etc/guardian/mine.txt"

# Kids get the strict lists.
[[profiles]]
name = "kids"
lists = ["easylist", "mine"]
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "guardian.toml"
    path.write_text(CONFIG)
    path.chmod(0o640)
    return path


def test_adding_a_list_keeps_comments_and_layout(config_file):
    def mutate(doc):
        add_list(doc, "urlhaus", "https://urlhaus.abuse.ch/downloads/hostfile/", name="URLhaus", format="hosts")
        add_list_to_profile(doc, "urlhaus", "kids")

    config = edit_config(config_file, mutate)
    text = config_file.read_text()
    assert text.startswith(CONFIG.split("[[profiles]]")[0].split("\n\n# Kids")[0])
    for comment in ("# My household's Guardian.", "# on the USB disk", "# ads", "# Kids get the strict lists."):
        assert comment in text
    assert config.list_by_id("urlhaus").format == "hosts"
    assert config.profile("kids").lists == ("easylist", "mine", "urlhaus")
    assert load_config(config_file) == config
    assert config_file.stat().st_mode & 0o777 == 0o640


def test_removing_a_list_drops_it_from_the_profiles(config_file):
    config = edit_config(config_file, lambda doc: remove_list(doc, "mine"))
    assert [entry.id for entry in config.lists] == ["easylist"]
    assert config.profile("kids").lists == ("easylist",)
    assert "# Kids get the strict lists." in config_file.read_text()


def test_an_invalid_result_is_not_written(config_file):
    with pytest.raises(ConfigError, match="format"):
        edit_config(config_file, lambda doc: add_list(doc, "bad", "https://x.example/l.txt", format="csv"))
    with pytest.raises(ConfigError, match="already exists"):
        edit_config(config_file, lambda doc: add_list(doc, "mine", "https://x.example/l.txt"))
    with pytest.raises(ConfigError, match="no profile is named 'teens'"):
        edit_config(config_file, lambda doc: add_list_to_profile(doc, "mine", "teens"))
    with pytest.raises(ConfigError, match="no list has the id 'nope'"):
        edit_config(config_file, lambda doc: remove_list(doc, "nope"))
    assert config_file.read_text() == CONFIG


def test_the_implicit_default_profile_needs_no_edit(config_file):
    config = edit_config(config_file, lambda doc: (add_list(doc, "x", "https://x.example/x.txt"),
                                                   add_list_to_profile(doc, "x", "default")))
    assert "x" in config.profile("default").lists


def test_embedded_defaults_are_written_to_a_new_file(tmp_path):
    target = tmp_path / "guardian.toml"
    config = edit_config(None, lambda doc: add_list(doc, "x", "https://x.example/x.txt"), create_at=target)
    assert config.list_by_id("starter").url == "builtin:starter"
    assert target.read_text().startswith("# Guardian configuration, created from the embedded defaults")
    with pytest.raises(ConfigError, match="already exists"):
        edit_config(None, lambda doc: None, create_at=target)
    with pytest.raises(ConfigError, match="say where"):
        edit_config(None, lambda doc: None)


def test_a_concurrent_save_is_not_overwritten(config_file):
    calls = []

    def mutate(doc):
        calls.append(1)
        if len(calls) == 1:  # the settings page saves while this edit is being prepared
            config_file.write_text(CONFIG.replace('format = "abp"', 'format = "abp"\nenabled = false'))
        add_list(doc, "x", "https://x.example/x.txt")

    config = edit_config(config_file, mutate)
    assert len(calls) == 2
    assert not config.list_by_id("easylist").enabled and config.list_by_id("x")
