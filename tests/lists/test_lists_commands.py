"""`guardian lists ...` functions, the catalog and the starter list."""

from __future__ import annotations

import io
import tomllib

from guardian.config import load_config
from guardian.filters import FilterEngine
from guardian.lists import FAILED_KEPT, ListStore, RefreshPolicy, load_catalog
from guardian.lists.catalog import CATEGORIES, builtin_path, lists_dir, read_builtin
from guardian.lists.commands import (
    lists_add_command,
    lists_catalog_command,
    lists_remove_command,
    lists_status_command,
    lists_update_command,
)


def run(command, *args, **kwargs) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    streams = {"out": out} if command is lists_status_command else {"out": out, "err": err}
    return command(*args, **streams, **kwargs), out.getvalue(), err.getvalue()


def test_the_catalog_is_well_formed_and_covers_every_category():
    catalog = load_catalog()
    assert {entry.category for entry in catalog} == set(CATEGORIES)
    raw = tomllib.loads((lists_dir() / "catalog.toml").read_text())
    assert len(raw["lists"]) == len(catalog)
    code, out, _ = run(lists_catalog_command)
    assert code == 0 and "easylist" in out and "https://urlhaus.abuse.ch/downloads/hostfile/" in out


def test_the_starter_list_is_a_clean_domain_list():
    text = read_builtin("builtin:starter")
    report = FilterEngine.from_lists({"starter": text}, formats={"starter": "domains"}).report["starter"]
    assert report.error_count == 0 and 50 <= report.rule_count <= 150
    assert text.startswith("# Guardian starter list")
    assert FilterEngine.from_lists({"s": text}, formats={"s": "domains"}).match_host("ad.doubleclick.net").blocked


def test_builtin_names_cannot_leave_the_lists_folder():
    for bad in ("builtin:../guardian/default", "builtin:", "builtin:a/b"):
        try:
            builtin_path(bad)
        except ValueError:
            continue
        raise AssertionError(bad)


def test_add_update_status_remove(tmp_path, kit, server):
    server.routes["/ads.txt"] = kit.Served(kit.abp_list(40), etag='"1"')
    path = tmp_path / "guardian.toml"
    path.write_text(f'data_dir = "{tmp_path / "data"}"\n{kit.loopback_allowed}\n[[profiles]]\nname = "kids"\n')

    code, out, _ = run(lists_add_command, path, server.url("/ads.txt"), profile="kids")
    assert code == 0 and "Added list '127-0-0-1-ads'" in out
    code, _, err = run(lists_add_command, path, server.url("/ads.txt"), profile="kids")
    assert code == 2 and "already exists" in err
    code, _, _ = run(lists_add_command, path, "urlhaus")  # a catalog id
    assert code == 0
    config = load_config(path)
    assert config.profile("kids").lists == ("127-0-0-1-ads",)
    assert config.list_by_id("urlhaus").format == "hosts"

    code, out, _ = run(lists_status_command, config)
    assert code == 0 and "not downloaded yet" in out
    code, _, err = run(lists_update_command, config, ["nope"])
    assert code == 2 and "no list has the id 'nope'" in err
    code, out, _ = run(lists_update_command, config, ["127-0-0-1-ads"])
    assert code == 0 and out == "127-0-0-1-ads: updated: 40 rules (abp)\n"

    server.routes["/ads.txt"] = kit.Served(b"<html><body>Gone</body></html>")
    code, out, _ = run(lists_update_command, config, ["127-0-0-1-ads"], policy=RefreshPolicy(attempts=1))
    assert code == 1 and "HTML page" in out
    code, out, _ = run(lists_status_command, config)
    row = next(line for line in out.splitlines() if line.startswith("127-0-0-1-ads"))
    assert FAILED_KEPT in row and " 40 " in row
    assert "    error: rejected: the download is an HTML page, not a list" in out

    code, out, _ = run(lists_remove_command, path, "127-0-0-1-ads")
    assert code == 0 and "and its stored copy" in out
    assert load_config(path).profile("kids").lists == ()
    assert not ListStore.for_data_dir(tmp_path / "data").has_copy("127-0-0-1-ads")


def test_status_of_the_builtin_starter(tmp_path, kit):
    config = kit.make_config(tmp_path, [("starter", "builtin:starter", "domains")])
    code, out, _ = run(lists_status_command, config)
    assert code == 0 and "built in" in out


def test_remove_on_embedded_defaults_is_refused():
    code, _, err = run(lists_remove_command, None, "easylist")
    assert code == 2 and "embedded defaults" in err
