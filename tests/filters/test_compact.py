"""Compact host tables: lists given as files keep their plain host rules in a mapped table
that must answer exactly as the rules themselves would."""

from __future__ import annotations

import hashlib
import os
import string
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guardian.filters import FilterEngine, compact
from guardian.filters.compact import SUFFIX, ListFile, table_path

LABEL = st.text(alphabet=string.ascii_lowercase + string.digits + "-", min_size=1, max_size=12).filter(
    lambda label: not label.startswith("-") and not label.endswith("-"))
HOST = st.lists(LABEL, min_size=2, max_size=4).map(".".join)


def write(folder: Path, name: str, text: str) -> ListFile:
    path = folder / f"{name}.txt"
    path.write_text(text, encoding="utf-8")
    return ListFile.of(path)


def engine_of_files(folder: Path, texts: dict[str, str], cache: bool = True, **formats: str) -> FilterEngine:
    sources = {name: write(folder, name, text) for name, text in texts.items()}
    return FilterEngine.from_lists(sources, formats=formats or None, cache_dir=folder / "cache" if cache else None)


def listed(host: str, names: set[str]) -> bool:
    """What a Python set says: the host or one of its parent domains is in the list."""
    labels = host.split(".")
    return any(".".join(labels[i:]) in names for i in range(len(labels)))


def variants(host: str) -> list[str]:
    """Queries around a listed host: itself, a subdomain, one character changed, added or
    dropped, one label more or less, a trailing dot, upper case."""
    labels = host.split(".")
    changed = chr((ord(host[0]) - ord("a") + 1) % 26 + ord("a")) + host[1:] if host[0].isalpha() else "x" + host[1:]
    return [
        host, f"www.{host}", f"a.b.{host}", changed, host[:-1], host + "x", "x" + host, ".".join(labels[1:]),
        ".".join(labels[:-1]), f"{labels[0]}x.{'.'.join(labels[1:])}", host + ".", host.upper(),
        f"{labels[0]}.other.{labels[-1]}",
    ]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.sets(HOST, min_size=1, max_size=60), strangers=st.lists(HOST, max_size=20),
       layout=st.sampled_from(["hosts", "domains", "abp"]), shout=st.booleans())
def test_answers_exactly_as_a_set(tmp_path_factory, names, strangers, layout, shout):
    folder = tmp_path_factory.mktemp("lists")
    lines = {"hosts": "0.0.0.0 {}", "domains": "{}", "abp": "||{}^"}[layout]
    # Upper case (and, outside ABP, a trailing dot) takes the general line parsers.
    written = {name: name.upper() + ("." if layout != "abp" else "") if shout else name for name in names}
    engine = engine_of_files(folder, {"big": "\n".join(lines.format(written[name]) for name in sorted(names)) + "\n"},
                             big=layout)
    assert engine.report["big"].compact == len(names)
    table = engine._tables[0][0]
    for query in [q for name in names for q in variants(name)] + strangers:
        normal = query.lower().rstrip(".")
        assert (table.find(normal) is not None) == (normal in names), query
        decision = engine.match_host(query)
        assert decision.blocked == listed(normal, names), query
        if decision.blocked:
            assert decision.list == "big"
            assert decision.rule in {lines.format(written[name]) for name in names}


def crc_collision() -> tuple[str, str]:
    seen: dict[int, str] = {}
    for number in range(1_000_000):
        name = f"{hashlib.sha256(str(number).encode()).hexdigest()[:14]}.example"
        key = zlib.crc32(name.encode())
        if key in seen:
            return seen[key], name
        seen[key] = name
    raise AssertionError("no CRC-32 collision in a million names")


def test_a_fingerprint_collision_never_blocks(tmp_path):
    listed_name, twin = crc_collision()
    engine = engine_of_files(tmp_path, {"big": f"0.0.0.0 {listed_name}\n"})
    assert engine.match_host(listed_name).blocked
    assert not engine.match_host(twin).blocked
    assert not engine.match(f"https://{twin}/").blocked


def test_exceptions_and_badfilter_keep_their_meaning(tmp_path):
    engine = engine_of_files(tmp_path, {
        "hosts": "0.0.0.0 ads.example\n0.0.0.0 tracker.example\n",
        "abp": "||cancelled.example^\n||example^\n||kept.example^\n",
        "fixes": "@@||ads.example^\n||cancelled.example^$badfilter\n||tracker.example^$important\n"
                 "@@||tracker.example^\n",
    })
    assert engine.match("https://ads.example/x") == (False, "@@||ads.example^", "fixes")
    assert engine.match_host("ads.example") == (False, "@@||ads.example^", "fixes")
    # $important beats the exception; the compact rule found first is not $important
    assert engine.match("https://tracker.example/").blocked
    # the cancelled compact rule is passed over, and the parent's rule still applies
    assert engine.match_host("cancelled.example") == (True, "||example^", "abp")
    assert engine.match_host("kept.example") == (True, "||kept.example^", "abp")
    report = engine.report["abp"]
    assert report.skipped["cancelled by $badfilter"] == 1
    assert report.compact == 2 and report.rules["host"] == 2
    # and so after a restart from the caches
    again = FilterEngine.from_lists({name: ListFile.of(tmp_path / f"{name}.txt") for name in ("hosts", "abp", "fixes")},
                                    cache_dir=tmp_path / "cache")
    assert again.match_host("cancelled.example") == (True, "||example^", "abp")
    assert again.match("https://ads.example/x").rule == "@@||ads.example^"


def test_only_plain_rules_go_into_the_table(tmp_path):
    engine = engine_of_files(tmp_path, {"abp": "! comment\n||a.example^\n||b.example^$3p\n||c.example/path\n"
                                               "@@||d.example^\n/banner/*$image\n"})
    report = engine.report["abp"]
    assert report.compact == 1 and report.rule_count == 5
    rendered = report.render()
    assert "compact host table                  1" in rendered and "token index                         4" in rendered
    assert engine.rule_count == 5
    assert engine.match("https://b.example/", source_url="https://other.test/").rule == "||b.example^$3p"
    assert not engine.match("https://b.example/", source_url="https://b.example/").blocked


def test_the_table_is_written_beside_the_list_and_mapped_on_restart(tmp_path, monkeypatch):
    engine = engine_of_files(tmp_path, {"big": "0.0.0.0 ads.example\n"})
    table = table_path(tmp_path / "big.txt")
    assert table.is_file() and table.suffix == SUFFIX
    assert engine.match_host("ads.example").blocked
    builds = []
    monkeypatch.setattr(compact, "write_table", lambda *args: builds.append(args))
    again = FilterEngine.from_lists({"big": ListFile.of(tmp_path / "big.txt")}, cache_dir=tmp_path / "cache")
    assert again.match_host("ads.example").rule == "0.0.0.0 ads.example"
    assert again._tables[0][0] is engine._tables[0][0]  # one mapping shared by both engines
    assert not builds


@pytest.mark.parametrize("damage", [
    lambda data: data[: len(data) // 2],
    lambda data: data[:-4] + bytes(4),
    lambda data: b"not a table at all",
    lambda data: data[:16] + (99).to_bytes(4, "little") + data[20:],
])
def test_a_damaged_table_is_rebuilt(tmp_path, damage):
    engine_of_files(tmp_path, {"big": "0.0.0.0 ads.example\n0.0.0.0 b.example\n"})
    table = table_path(tmp_path / "big.txt")
    table.write_bytes(damage(table.read_bytes()))
    engine = FilterEngine.from_lists({"big": ListFile.of(tmp_path / "big.txt")}, cache_dir=tmp_path / "cache")
    assert engine.match_host("b.example").blocked and not engine.match_host("c.example").blocked


def test_a_replaced_list_gets_a_new_table(tmp_path):
    first = engine_of_files(tmp_path, {"big": "0.0.0.0 old.example\n"})
    replacement = tmp_path / "new.txt"
    replacement.write_text("0.0.0.0 new.example\n")
    os.replace(replacement, tmp_path / "big.txt")  # as the list store does
    second = FilterEngine.from_lists({"big": ListFile.of(tmp_path / "big.txt")}, cache_dir=tmp_path / "cache")
    assert second.match_host("new.example").blocked and not second.match_host("old.example").blocked
    # the engine built before keeps answering from the file it mapped
    assert first.match_host("old.example").blocked and not first.match_host("new.example").blocked


def test_a_stale_table_for_the_same_path_is_never_trusted(tmp_path):
    engine_of_files(tmp_path, {"big": "0.0.0.0 old.example\n"})
    saved = table_path(tmp_path / "big.txt").read_bytes()
    engine_of_files(tmp_path, {"big": "0.0.0.0 new.example\n"}, cache=False)
    table_path(tmp_path / "big.txt").write_bytes(saved)
    engine = FilterEngine.from_lists({"big": ListFile.of(tmp_path / "big.txt")}, cache_dir=tmp_path / "cache")
    assert engine.match_host("new.example").blocked and not engine.match_host("old.example").blocked


def test_without_a_cache_dir_nothing_is_written(tmp_path):
    engine = engine_of_files(tmp_path, {"big": "0.0.0.0 ads.example\n"}, cache=False)
    assert engine.match_host("ads.example").blocked
    assert sorted(path.name for path in tmp_path.iterdir()) == ["big.txt"]


def test_a_table_that_cannot_be_written_is_kept_in_memory(tmp_path):
    source = write(tmp_path, "big", "0.0.0.0 ads.example\n")
    table_path(tmp_path / "big.txt").mkdir()  # the rename over it fails, as on a refusing disk
    engine = FilterEngine.from_lists({"big": source}, cache_dir=tmp_path / "cache")
    assert engine.match_host("x.ads.example").rule == "0.0.0.0 ads.example"
    assert engine.report["big"].compact == 1
    assert not [path for path in tmp_path.iterdir() if path.name.endswith(".tmp")]


@pytest.mark.parametrize("text", [
    "0.0.0.0 ads.example\r0.0.0.0 b.example\r",  # old Mac line breaks
    "0.0.0.0 ads.example\x0c\n0.0.0.0 b.example\n",  # a break str.splitlines() honours
    "0.0.0.0 ads.example # caf\xe9\u2028\n0.0.0.0 b.example\n",
])
def test_files_with_odd_line_breaks_take_the_general_path(tmp_path, text):
    path = tmp_path / "big.txt"
    path.write_bytes(text.encode("utf-8"))
    engine = FilterEngine.from_lists({"big": ListFile.of(path)}, cache_dir=tmp_path / "cache", formats={"big": "hosts"})
    by_text = FilterEngine.from_lists({"big": text}, formats={"big": "hosts"})
    assert engine.report["big"].compact == 0
    assert engine.report["big"].to_plain() == by_text.report["big"].to_plain()
    assert engine.match_host("b.example").blocked


def test_utf8_and_crlf_files_give_the_same_report_as_their_text(tmp_path):
    text = ("\ufeff# Titel: Bücher\r\n0.0.0.0 ads.example\r\n0.0.0.0 bad name\r\n127.0.0.1 b.example c.example\r\n"
            "# café\r\n0.0.0.0 d.example # é\r\n")
    path = tmp_path / "big.txt"
    path.write_bytes(text.encode("utf-8"))
    engine = FilterEngine.from_lists({"big": ListFile.of(path)}, cache_dir=tmp_path / "cache")
    by_text = FilterEngine.from_lists({"big": text.lstrip("\ufeff")})
    assert engine.report["big"].to_plain() == {**by_text.report["big"].to_plain(), "compact": 6}  # "bad name": two
    for host in ("ads.example", "c.example", "d.example"):
        assert engine.match_host(host) == by_text.match_host(host)
    table = engine._tables[0][0]
    assert table.line_number("0.0.0.0 d.example", "d.example") == 6


def test_the_report_command_says_where_rules_went(tmp_path):
    import io

    from guardian.filters.commands import report_command

    path = tmp_path / "mixed.txt"
    path.write_text("[Adblock Plus 2.0]\n||a.example^\n||b.example^\n||c.example^$image\n")
    out = io.StringIO()
    assert report_command([str(path)], out=out) == 0
    text = out.getvalue()
    assert "into   compact host table                  2" in text
    assert "into   token index                         1" in text
    assert text.rstrip().endswith("total: 3 rules (2 in compact host tables, 1 in the token index)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mixed.txt"]  # a report writes nothing


@pytest.mark.parametrize(("tail", "expected"), [
    (b"\r\n0.0.0.0 b.example\n", True),  # \r\n split over two chunks
    (b"\r0.0.0.0 b.example\n", False),  # a lone \r at the end of a chunk
    ("é\n0.0.0.0 b.example\n".encode(), True),  # a two-byte character split over two chunks
    (b"\xc3", False),  # a truncated character at the very end
])
def test_a_streamed_file_is_checked_across_chunk_edges(tail, expected):
    import io

    head = b"# " + b"x" * (compact._READ_CHUNK - 3)  # the tail's first byte ends the first chunk
    data = head + tail
    assert compact.readable(io.BytesIO(data)) is expected
    assert compact.readable(data) is expected


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(st.text(alphabet="ab9_.-", min_size=1, max_size=10), min_size=1, max_size=8),
       layout=st.sampled_from(["hosts", "domains", "abp"]))
def test_the_fast_reading_agrees_with_the_line_parsers(tmp_path_factory, names, layout):
    """Odd names (empty labels, hyphens at label edges, digits only) read from a file and
    from the text give the same report and the same answers."""
    folder = tmp_path_factory.mktemp("odd")
    lines = {"hosts": "0.0.0.0 {}", "domains": "{}", "abp": "||{}^"}[layout]
    text = "".join(lines.format(name) + "\n" for name in names)
    from_file = engine_of_files(folder, {"odd": text}, odd=layout)
    from_text = FilterEngine.from_lists({"odd": text}, formats={"odd": layout})
    plain, expected = from_file.report["odd"].to_plain(), from_text.report["odd"].to_plain()
    assert plain.pop("compact") == from_text.report["odd"].rules.get("host", 0)
    expected.pop("compact")
    assert plain == expected
    for name in names:
        for query in (name, f"x.{name}", name.strip(".")):
            assert from_file.match_host(query) == from_text.match_host(query), query


def test_a_host_longer_than_any_dns_name_is_answered_and_not_remembered(tmp_path):
    engine = engine_of_files(tmp_path, {"big": "ads.example\n"}, big="domains")
    long_host = "a" * 300 + ".ads.example"
    assert engine.match_host(long_host).blocked
    assert engine.match_host("www.ads.example").blocked
    assert long_host not in engine._nearest_memo and "www.ads.example" in engine._nearest_memo
