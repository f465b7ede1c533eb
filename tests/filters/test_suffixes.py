"""The public suffix table (guardian/filters/suffixes.py) against `tldextract` on the same
snapshot, as a second opinion: every rule of the list, hosts below it, wildcards, exceptions,
punycode, addresses and names the list does not know."""

from __future__ import annotations

import tldextract

from guardian.filters.domains import PublicSuffixes
from guardian.filters.suffixes import LazySuffixTable, snapshot_path
from guardian.policy.parent_rules import is_public_suffix

ICANN = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
WITH_PRIVATE = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True)


def expected_split(host: str) -> tuple[str, str]:
    """(registrable domain, suffix) as Guardian computed it with tldextract before."""
    parts = ICANN(host)
    if parts.domain and parts.suffix:
        return f"{parts.domain}.{parts.suffix}", parts.suffix
    if parts.ipv4 or host.startswith("[") or "." not in host:
        return host, ""
    return ".".join(host.rsplit(".", 2)[-2:]), host.rsplit(".", 1)[1]


def expected_listed(host: str) -> bool:
    parts = WITH_PRIVATE(host)
    return not parts.domain and parts.suffix == host


def hosts_from_the_list() -> list[str]:
    hosts = ["www.example.co.uk", "example.com", "1.2.3.4", "256.1.1.1", "1.2.3.4.5", "localhost", "foo.lan",
             "a.b.example", "[::1]", "a..com", "co.uk", "uk", "github.io", "someone.github.io",
             "www.ck", "a.www.ck", "city.kawasaki.jp", "a.city.kawasaki.jp", "x.kawasaki.jp", "a.x.kawasaki.jp",
             "xn--p1ai", "xn--80aswg.xn--p1ai", "www.xn--80aswg.xn--p1ai", "xn--zz-broken.com", "xn--.com"]
    for line in snapshot_path().read_text(encoding="utf-8").splitlines():
        rule = line.strip()
        if not rule or rule.startswith("//"):
            continue
        base = rule.lstrip("!").removeprefix("*.")
        for name in {base, base.encode("idna").decode("ascii") if not base.isascii() else base}:
            hosts += [name, f"x.{name}", f"a.x.{name}", f"a.b.x.{name}"]
    return hosts


def test_the_table_splits_and_lists_every_host_as_tldextract_does():
    suffixes = PublicSuffixes(LazySuffixTable())
    hosts = hosts_from_the_list()
    assert len(hosts) > 40_000
    wrong = [(host, suffixes._split(host), expected_split(host)) for host in hosts
             if suffixes._split(host) != expected_split(host)]
    assert wrong[:5] == []
    wrong_listed = [host for host in hosts if "." in host and suffixes.listed(host) != expected_listed(host)]
    assert wrong_listed[:5] == []


def test_what_the_rules_and_pages_ask():
    suffixes = PublicSuffixes(LazySuffixTable())
    assert suffixes.registrable("www.bbc.co.uk") == "bbc.co.uk"
    assert suffixes.entity("www.google.co.uk") == "www.google.*"
    assert suffixes.is_third_party("ads.example.net", "www.example.com")
    assert not suffixes.is_third_party("static.example.com", "www.example.com")
    assert suffixes.is_suffix("github.io") and not suffixes.is_suffix("someone.github.io")
    assert suffixes.registrable("someone.github.io") == "github.io"  # the ICANN section decides the domain
    assert is_public_suffix("co.uk") and is_public_suffix("test") and not is_public_suffix("bbc.co.uk")
    assert not is_public_suffix("")
