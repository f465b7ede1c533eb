"""Parents' rules as they type them, through the real proxy and the command line.

Each typed form below used to pass the settings page and then block nothing over HTTPS
(or nothing at all): `https://www.tiktok.com/`, `*.youtube.test`, `games.test.`,
`||tiktok.com`, `bücher.example`. They must now block both the plain-HTTP request and
the CONNECT. The command line refuses rules that can never match and allowances for a
whole top-level domain, and `guardian check` says what an https:// address really gets.
"""

from __future__ import annotations

import ssl

import pytest

from tests.support.client import RawClient
from tests.support.household import start_guardian
from tests.test_serve import run_cli

TYPED = '''
[[profiles]]
name = "default"
block = ["https://www.tiktok.com/", "*.youtube.test", "games.test.", "||tiktok.org", "bücher.example",
         "https://school.example/homework"]
'''

# (what the browser asks for, the host of the CONNECT)
CASES = [
    ("http://www.tiktok.com/@someone", "www.tiktok.com"),
    ("http://tiktok.com/", "tiktok.com"),
    ("http://www.youtube.test/watch?v=1", "www.youtube.test"),
    ("http://youtube.test/", "youtube.test"),
    ("http://games.test/play", "games.test"),
    ("http://m.tiktok.org/", "m.tiktok.org"),
    ("http://xn--bcher-kva.example/", "xn--bcher-kva.example"),
]


@pytest.fixture
def guardian(tmp_path):
    started = start_guardian(tmp_path, TYPED)
    yield started
    started.stop()


@pytest.mark.parametrize("url,host", CASES)
def test_typed_rules_block_plain_http_and_connect(guardian, url, host):
    port = guardian.proxy.address[1]
    c = RawClient(port)
    c.send(f"GET {url} HTTP/1.1\r\nHost: {host}\r\nAccept: text/html\r\n\r\n".encode())
    r = c.read_response()
    assert r.status == 403, url
    # The CONNECT is blocked too: Guardian answers it inside TLS with its block page (docs/https.md).
    c = RawClient(port)
    c.send(f"CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n\r\n".encode())
    assert c._until(b"\r\n\r\n") == b"HTTP/1.1 200 Connection established\r\n\r\n", host
    context = ssl.create_default_context(cafile=str(guardian.data_dir / "tls" / "ca.crt"))
    with context.wrap_socket(c.sock, server_hostname=host) as tls:
        tls.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nAccept: text/html\r\n\r\n".encode())
        answer = b""
        while chunk := tls.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 403 ") and b"A parent blocked this site" in answer, host


def test_a_page_rule_blocks_the_page_over_http_only_and_check_says_so(guardian, tmp_path):
    port = guardian.proxy.address[1]
    c = RawClient(port)
    c.send(b"GET http://school.example/homework HTTP/1.1\r\nHost: school.example\r\nAccept: text/html\r\n\r\n")
    assert c.read_response().status == 403
    # The CONNECT carries only the host: the page rule cannot apply, and everything says so.
    out = run_cli("check", "https://school.example/homework", "--client", "127.0.0.1",
                  "--config", str(tmp_path / "guardian.toml"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("allow: https://school.example/homework")
    assert "https://school.example/homework names a page, so it does not apply to https:// addresses" in out.stdout
    http = run_cli("check", "http://school.example/homework", "--client", "127.0.0.1",
                   "--config", str(tmp_path / "guardian.toml"), cwd=tmp_path)
    assert http.stdout.startswith("block: http://school.example/homework")


@pytest.mark.parametrize("rules,key,words", [
    ('block = ["tik tok"]', "profiles[0].block[0]", "space"),
    ('allow = ["com"]', "profiles[0].allow[0]", "every name ending in .com"),
    ('allow = ["||co.uk^"]', "profiles[0].allow[0]", "co.uk"),
    ('allow = ["tiktok"]', "profiles[0].allow[0]", "every address that contains it"),
])
def test_config_check_refuses_dead_and_too_wide_rules(tmp_path, rules, key, words):
    (tmp_path / "g.toml").write_text(f'[[profiles]]\nname = "default"\n{rules}\n')
    out = run_cli("config", "check", "--config", "g.toml", cwd=tmp_path)
    assert out.returncode == 2
    assert key in out.stderr and words in out.stderr


@pytest.mark.parametrize("host", ["com", "test", "co.uk", "github.io"])
def test_allow_refuses_a_top_level_domain(tmp_path, host):
    (tmp_path / "g.toml").write_text(f'data_dir = "{tmp_path / "data"}"\n')
    out = run_cli("allow", "--profile", "default", "--host", host, "--minutes", "30", "--config", "g.toml",
                  cwd=tmp_path)
    assert out.returncode == 2 and "shared by many unrelated sites" in out.stderr
    assert "No pauses" in run_cli("pauses", "--config", "g.toml", cwd=tmp_path).stdout
    fine = run_cli("allow", "--profile", "default", "--host", "www.example.co.uk", "--minutes", "30",
                   "--config", "g.toml", cwd=tmp_path)
    assert fine.returncode == 0, fine.stderr


def test_with_inspection_the_page_rule_applies_to_https_and_check_says_so(tmp_path):
    (tmp_path / "g.toml").write_text(f'''data_dir = "{tmp_path / "data"}"
[[profiles]]
name = "default"
inspect_https = "all"
block = ["https://school.example/homework"]
''')
    out = run_cli("check", "https://school.example/homework", "--client", "127.0.0.1", "--config", "g.toml",
                  cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("block: https://school.example/homework") and "note:" not in out.stdout
    # a site on the never-decrypt list is decided on its name alone again
    bank = run_cli("check", "https://www.paypal.com/x", "--client", "127.0.0.1", "--config", "g.toml",
                   cwd=tmp_path)
    assert "sees only the site name (www.paypal.com)" in bank.stdout


def test_config_check_says_how_each_rule_is_read(tmp_path):
    (tmp_path / "g.toml").write_text(f'''data_dir = "{tmp_path / "data"}"
[[profiles]]
name = "default"
block = ["https://www.tiktok.com/", "roblox", "https://school.example/homework", "*", "plain.example"]
''')
    out = run_cli("config", "check", "--config", "g.toml", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    notes = [line for line in out.stdout.splitlines() if line.startswith("note: ")]
    assert len(notes) == 4 and not any("plain.example" in line for line in notes)
    assert "https://www.tiktok.com/: Read the address as the whole site tiktok.com" in notes[0]
    assert "||roblox.com^" in notes[1]
    assert "the page part does not apply" in notes[2]
    assert "blocks every site" in notes[3]
