"""docs/configuration.md must keep up with guardian/config.py.

- Every ```toml block in the page is a valid configuration (`parse_config` accepts it),
  unless the line before its fence is `<!-- config-doc: invalid -->`, in which case it
  must be refused (`ConfigError`), or `<!-- config-doc: fragment -->`, in which case it
  only has to be valid TOML.
- Every key the configuration accepts, collected from the dataclasses and from
  config.py's own "unknown key" message, is named in backticks in the section of the
  page that documents its table; and every key in a section's reference table is one
  config.py accepts.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path

import pytest

from guardian.config import (
    CacheConfig,
    Config,
    ConfigError,
    DeviceConfig,
    HttpsConfig,
    LimitConfig,
    ListConfig,
    LogConfig,
    PrivacyConfig,
    ProfileConfig,
    ProfileServicesConfig,
    ProxyConfig,
    RefreshConfig,
    ServiceConfig,
    WebConfig,
    parse_config,
)

DOC = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"

# Keys whose TOML spelling is not a dataclass field (ScheduleConfig has start/end/block_all).
SCHEDULE_KEYS = {"name", "days", "from", "to", "block", "block_file_types", "block_services"}
TOP_LEVEL_KEYS = {"data_dir", "timezone"}

_FENCE = re.compile(r"^(?P<before>[^\n]*)\n```toml[ \t]*\n(?P<body>.*?)^```[ \t]*$", re.M | re.S)
_HEADING = re.compile(r"^(#{1,6})\s+(.*)$", re.M)
_MARKER = re.compile(r"<!--\s*config-doc:\s*(\w+)\s*-->")
_TABLE_ROW_KEY = re.compile(r"^\|\s*`([A-Za-z0-9_]+)`\s*\|", re.M)


def _fields(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


# (heading text that marks the table's section, the keys accepted in that table)
TABLES: dict[str, tuple[str, set[str]]] = {
    "top level": ("Top-level keys", TOP_LEVEL_KEYS),
    "proxy": ("`[proxy]`", _fields(ProxyConfig)),
    "web": ("`[web]`", _fields(WebConfig)),
    "refresh": ("`[refresh]`", _fields(RefreshConfig)),
    "lists": ("`[[lists]]`", _fields(ListConfig)),
    "profiles": ("`[[profiles]]`", _fields(ProfileConfig)),
    "schedules": ("`[[profiles.schedules]]`", SCHEDULE_KEYS),
    "devices": ("`[[devices]]`", _fields(DeviceConfig)),
    "profile services": ("`[profiles.services]`", _fields(ProfileServicesConfig)),
    "limits": ("`[[profiles.limits]]`", _fields(LimitConfig)),
    "services": ("`[[services]]`", _fields(ServiceConfig)),
    "cache": ("`[cache]`", _fields(CacheConfig)),
    "log": ("`[log]`", _fields(LogConfig)),
    "privacy": ("`[privacy]`", _fields(PrivacyConfig)),
    "https": ("`[https]`", _fields(HttpsConfig)),
}

# A TOML text whose only fault is the unknown key `zz_unknown` in the given table.
PROBES = {
    "top level": "zz_unknown = 1\n",
    "proxy": "[proxy]\nzz_unknown = 1\n",
    "web": "[web]\nzz_unknown = 1\n",
    "refresh": "[refresh]\nzz_unknown = 1\n",
    "lists": "[[lists]]\nzz_unknown = 1\n",
    "profiles": "[[profiles]]\nzz_unknown = 1\n",
    "schedules": '[[profiles]]\nname = "p"\n[[profiles.schedules]]\nzz_unknown = 1\n',
    "devices": "[[devices]]\nzz_unknown = 1\n",
    "profile services": '[[profiles]]\nname = "p"\n[profiles.services]\nzz_unknown = 1\n',
    "limits": '[[profiles]]\nname = "p"\n[[profiles.limits]]\nzz_unknown = 1\n',
    "services": "[[services]]\nzz_unknown = 1\n",
    "cache": "[cache]\nzz_unknown = 1\n",
    "log": "[log]\nzz_unknown = 1\n",
    "privacy": "[privacy]\nzz_unknown = 1\n",
    "https": "[https]\nzz_unknown = 1\n",
}


def _doc() -> str:
    return DOC.read_text(encoding="utf-8")


def _toml_blocks() -> list[tuple[int, str, str]]:
    """(line number, kind, body) of every ```toml block; kind is full, invalid or fragment."""
    text = _doc()
    blocks = []
    for m in _FENCE.finditer("\n" + text):
        marker = _MARKER.search(m.group("before"))
        kind = marker.group(1) if marker else "full"
        line = ("\n" + text).count("\n", 0, m.start("body"))
        blocks.append((line, kind, m.group("body")))
    return blocks


def _section(heading_text: str) -> str:
    """The text from the heading containing `heading_text` to the next heading of any level."""
    text = _doc()
    headings = list(_HEADING.finditer(text))
    found = [i for i, h in enumerate(headings) if heading_text in h.group(2)]
    assert len(found) == 1, f"expected one heading containing {heading_text!r} in {DOC.name}, found {len(found)}"
    i = found[0]
    end = headings[i + 1].start() if i + 1 < len(headings) else len(text)
    return text[headings[i].end():end]


def _backticked_keys(section: str) -> set[str]:
    """Key names mentioned in backticks: `key`, `table.key`, `key = value`."""
    names = set()
    for span in re.findall(r"`([^`\n]+)`", section):
        name = span.split("=", 1)[0].strip()
        names.add(name.rsplit(".", 1)[-1])
    return names


def _accepted_by_message(table: str) -> set[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(PROBES[table])
    message = str(info.value)
    assert "zz_unknown: unknown key" in message, message
    m = re.search(r"allowed here: ([^)]*)\)", message)
    assert m, f"the unknown-key message no longer lists the allowed keys: {message}"
    return {key.strip() for key in m.group(1).split(",")}


# ---------------------------------------------------------------- the examples


def test_the_page_has_examples_and_a_complete_one() -> None:
    blocks = _toml_blocks()
    assert any(kind == "full" for _, kind, _ in blocks)
    tables = {f.name for f in dataclasses.fields(Config)} - {"source"}
    complete = [body for _, kind, body in blocks if kind == "full" and tables <= set(tomllib.loads(body))]
    assert complete, f"no example in {DOC.name} sets every top-level key and table: {sorted(tables)}"


@pytest.mark.parametrize(("line", "kind", "body"), _toml_blocks(),
                         ids=[f"line{line}-{kind}" for line, kind, _ in _toml_blocks()])
def test_toml_example_is_what_the_page_says(line: int, kind: str, body: str) -> None:
    where = f"{DOC.name}, block at line {line}"
    tomllib.loads(body)  # every block is at least valid TOML
    if kind == "full":
        try:
            parse_config(body, source=where)
        except ConfigError as exc:
            pytest.fail(f"the example is not a valid configuration: {exc}")
    elif kind == "invalid":
        with pytest.raises(ConfigError):
            parse_config(body, source=where)
    else:
        assert kind == "fragment", f"{where}: unknown marker config-doc: {kind}"


# ---------------------------------------------------------------- the keys


@pytest.mark.parametrize("table", list(TABLES))
def test_every_accepted_key_is_documented_in_its_section(table: str) -> None:
    heading, keys = TABLES[table]
    missing = keys - _backticked_keys(_section(heading))
    assert not missing, f"keys of {table} not documented in the section {heading}: {sorted(missing)}"


@pytest.mark.parametrize("table", list(TABLES))
def test_config_py_accepts_no_key_the_page_leaves_out(table: str) -> None:
    # Straight from config.py's key checks, in case one accepts a key no dataclass names.
    heading, _ = TABLES[table]
    accepted = _accepted_by_message(table)
    tables = {f.name for f in dataclasses.fields(Config)} - {"source"}
    if table == "top level":
        accepted -= tables  # the tables have sections of their own
    missing = accepted - _backticked_keys(_section(heading))
    assert not missing, f"keys of {table} not documented in the section {heading}: {sorted(missing)}"


@pytest.mark.parametrize("table", list(TABLES))
def test_reference_tables_name_only_accepted_keys(table: str) -> None:
    heading, keys = TABLES[table]
    rows = set(_TABLE_ROW_KEY.findall(_section(heading)))
    assert rows, f"the section {heading} has no reference table"
    stale = rows - keys - _accepted_by_message(table)
    assert not stale, f"the section {heading} documents keys config.py does not accept: {sorted(stale)}"


def test_the_documented_defaults_match_the_code() -> None:
    # A few defaults the page states in prose; the tables are checked by eye.
    text = _doc()
    defaults = Config()
    assert f'`"{defaults.proxy.listen}"`' in text
    assert f'`"{defaults.web.listen}"`' in text
    assert f'`"{defaults.data_dir}"`' in text
    assert f'`"{"-".join(defaults.refresh.window)}"`' in text
    assert f"`{defaults.cache.max_bytes}`" in text
    assert f"`{defaults.cache.max_object_bytes}`" in text
