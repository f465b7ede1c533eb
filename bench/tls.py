"""HTTPS benchmarks, same run: Guardian's inspection against mitmproxy, the block page's
handshake latency, and plain tunnels against the code before HTTPS existed.

    .venv/bin/python bench/tls.py [--seconds 5] [--rounds 2] [--mitmdump PATH] [--base DIR]

- inspected keep-alive requests/s, and one 200 MiB download through an inspected tunnel,
  for Guardian (`inspect_https = "all"`) and mitmdump, on one TLS origin (Python asyncio,
  a certificate from a trustme CA both proxies verify); rounds interleaved.
- a fresh connection, CONNECT, handshake and block page, end to end from a Python client:
  the median with the site's certificate cached and with a new name every time.
- a 512 MiB plain (not inspected) tunnel through this Guardian and through the tree in
  `--base` (the commit before HTTPS, unpacked with `git archive`), interleaved.

Clients are Python threads in this process, so the figures include their cost; the
ratios are what the issues set targets for.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import trustme

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.ratios import free_port, stop_all, wait_port  # noqa: E402

BIG = 200 * 2**20
TUNNEL_BYTES = 512 * 2**20
SMALL = b"x" * 1024


# ---------------------------------------------------------------- the origins


def _origin_main(cert_file: str, key_file: str, port: int, plain_port: int) -> None:
    """TLS origin: /small (1 KiB, keep-alive) and /big (200 MiB); plain: 1 GiB then close."""

    async def https(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if head.startswith(b"GET /big"):
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % BIG)
                    piece = b"b" * 2**20
                    for _ in range(BIG // len(piece)):
                        writer.write(piece)
                        await writer.drain()
                else:
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1024\r\nContent-Type: text/plain\r\n\r\n"
                                 + SMALL)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def plain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        piece = b"t" * 2**20
        try:
            for _ in range(TUNNEL_BYTES // len(piece)):
                writer.write(piece)
                await writer.drain()
        except ConnectionError:
            pass
        writer.close()

    async def main() -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert_file, key_file)
        await asyncio.start_server(https, "127.0.0.1", port, ssl=context, backlog=1024)
        await asyncio.start_server(plain, "127.0.0.1", plain_port, backlog=1024)
        await asyncio.Event().wait()

    asyncio.run(main())


# ---------------------------------------------------------------- clients


def _tunnel(proxy_port: int, authority: str, source: str = "127.0.0.1") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", proxy_port), 30, source_address=(source, 0))
    sock.sendall(f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        data = sock.recv(1)  # byte by byte: nothing of the tunnel is read with the answer
        if not data:
            raise RuntimeError(f"proxy closed the CONNECT: {head!r}")
        head += data
    if not head.startswith(b"HTTP/1.1 200") and not head.startswith(b"HTTP/1.0 200"):
        raise RuntimeError(head)
    return sock


def _read_response(tls: ssl.SSLSocket, buffer: bytearray) -> int:
    while b"\r\n\r\n" not in buffer:
        data = tls.recv(65536)
        if not data:
            raise RuntimeError("closed")
        buffer += data
    end = buffer.index(b"\r\n\r\n") + 4
    head = bytes(buffer[:end]).lower()
    length = int(head.split(b"content-length:")[1].split(b"\r\n")[0])
    del buffer[:end]
    got = 0
    while got < length:
        if not buffer:
            data = tls.recv(1 << 20)
            if not data:
                raise RuntimeError("closed mid-body")
            buffer += data
        take = min(len(buffer), length - got)
        del buffer[:take]
        got += take
    return length


def keepalive_rps(proxy_port: int, origin: str, context: ssl.SSLContext, seconds: float, clients: int = 8) -> float:
    counts = [0] * clients
    stop = time.monotonic() + seconds

    def run(i: int) -> None:
        tls = context.wrap_socket(_tunnel(proxy_port, origin), server_hostname=origin.rsplit(":", 1)[0])
        buffer = bytearray()
        request = f"GET /small HTTP/1.1\r\nHost: {origin}\r\n\r\n".encode()
        while time.monotonic() < stop:
            tls.sendall(request)
            _read_response(tls, buffer)
            counts[i] += 1
        tls.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / seconds


def download_mbps(proxy_port: int, origin: str, ca_file: Path) -> float:
    """curl as the client (its TLS in C), so the proxy, not the client, is what is measured."""
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{size_download} %{time_total}",
                          "--proxy", f"http://127.0.0.1:{proxy_port}", "--cacert", str(ca_file), "--http1.1",
                          f"https://{origin}/big"], capture_output=True, text=True, check=True, timeout=600)
    size, seconds = out.stdout.split()
    assert int(size) == BIG, size
    return BIG / 2**20 / float(seconds)


def block_page_ms(proxy_port: int, context: ssl.SSLContext, names: list[str]) -> float:
    times = []
    for name in names:
        t0 = time.perf_counter()
        # from 127.0.0.2: a device whose profile does not inspect, so the block page ends the connection
        tls = context.wrap_socket(_tunnel(proxy_port, f"{name}:443", "127.0.0.2"), server_hostname=name)
        tls.sendall(f"GET / HTTP/1.1\r\nHost: {name}\r\nSec-Fetch-Dest: document\r\n\r\n".encode())
        data = b""
        while chunk := tls.recv(65536):
            data += chunk
        tls.close()
        times.append((time.perf_counter() - t0) * 1000)
        assert data.startswith(b"HTTP/1.1 403")
    return statistics.median(times)


def tunnel_mbps(proxy_port: int, plain_port: int) -> float:
    sock = _tunnel(proxy_port, f"127.0.0.1:{plain_port}")
    t0 = time.monotonic()
    got = 0
    while data := sock.recv(4 << 20):
        got += len(data)
    elapsed = time.monotonic() - t0
    sock.close()
    assert got == TUNNEL_BYTES, got
    return got / 2**20 / elapsed


# ---------------------------------------------------------------- the proxies


def guardian_config(workdir: Path, name: str, extra_ca: Path, profile: str) -> Path:
    path = workdir / f"{name}.toml"
    path.write_text(f"""data_dir = "{workdir / name}"
[proxy]
deny_destinations = []
deny_own_addresses = false
connect_ports = [443, "1024-65535"]
access_log = false
[log]
enabled = false
[cache]
enabled = false
[https]
extra_ca_file = "{extra_ca}"
leaf_cache_size = 100000
[[profiles]]
name = "default"
{profile}
""")
    return path


def start_guardian(workdir: Path, config: Path, pythonpath: Path | None = None) -> tuple[subprocess.Popen, int]:
    port, web = free_port(), free_port()
    env = {**os.environ, "PYTHONPATH": str(pythonpath)} if pythonpath else dict(os.environ)
    proc = subprocess.Popen([sys.executable, "-m", "guardian.cli", "serve", "--config", str(config),
                             "--listen", f"127.0.0.1:{port}", "--web-listen", f"127.0.0.1:{web}"],
                            cwd=str(pythonpath or ROOT), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wait_port(port)
    return proc, port


def start_mitmdump(mitmdump: str, workdir: Path, origin_ca: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    confdir = workdir / "mitm"
    proc = subprocess.Popen([mitmdump, "--listen-host", "127.0.0.1", "--listen-port", str(port), "--quiet",
                             "--set", f"confdir={confdir}", "--set", f"ssl_verify_upstream_trusted_ca={origin_ca}",
                             "--set", "http2=false", "--set", "stream_large_bodies=1m"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    deadline = time.monotonic() + 30
    while not (confdir / "mitmproxy-ca-cert.pem").exists():
        if time.monotonic() > deadline:
            raise RuntimeError("mitmdump made no CA")
        time.sleep(0.1)
    return proc, port


def client_context(ca_file: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca_file))
    context.set_alpn_protocols(["http/1.1"])
    return context


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--mitmdump", default=shutil.which("mitmdump") or "/tmp/mitm-venv/bin/mitmdump")
    parser.add_argument("--base", type=Path, help="the tree before HTTPS, for the plain-tunnel comparison")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="guardian-bench-tls-"))
    procs: list[subprocess.Popen] = []
    try:
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        origin_ca, cert_file, key_file = workdir / "origin-ca.pem", workdir / "origin.pem", workdir / "origin.key"
        ca.cert_pem.write_to_path(str(origin_ca))
        cert.cert_chain_pems[0].write_to_path(str(cert_file))
        cert.private_key_pem.write_to_path(str(key_file))
        port, plain_port = free_port(), free_port()
        origin = subprocess.Popen([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
                                   f"from bench.tls import _origin_main; _origin_main({str(cert_file)!r}, "
                                   f"{str(key_file)!r}, {port}, {plain_port})"])
        procs.append(origin)
        wait_port(port)
        authority = f"127.0.0.1:{port}"

        inspect = guardian_config(workdir, "inspect", origin_ca, 'inspect_https = "all"\n[[profiles]]\nname = "kids"\n'
                                  'block = ["blocked.test"]\n[[devices]]\nname = "tablet"\nmatch = ["127.0.0.2"]\n'
                                  'profile = "kids"')
        guardian, g_port = start_guardian(workdir, inspect)
        procs.append(guardian)
        g_context = client_context(workdir / "inspect" / "tls" / "ca.crt")
        runners = [("guardian", g_port, g_context, workdir / "inspect" / "tls" / "ca.crt")]
        if Path(args.mitmdump).exists():
            mitm, m_port = start_mitmdump(args.mitmdump, workdir, origin_ca)
            procs.append(mitm)
            mitm_ca = workdir / "mitm" / "mitmproxy-ca-cert.pem"
            runners.append(("mitmproxy", m_port, client_context(mitm_ca), mitm_ca))
        else:
            print(f"mitmdump not found at {args.mitmdump}: no anchor (make bench installs it)")

        rps: dict[str, list[float]] = {name: [] for name, *_ in runners}
        mbps: dict[str, list[float]] = {name: [] for name, *_ in runners}
        for _ in range(args.rounds):
            for name, proxy_port, context, ca_file in runners:
                rps[name].append(keepalive_rps(proxy_port, authority, context, args.seconds))
                mbps[name].append(download_mbps(proxy_port, authority, ca_file))
        print("inspected HTTPS through the proxy (median of rounds)")
        for name in rps:
            print(f"  {name:10} keep-alive {statistics.median(rps[name]):8.0f} req/s   "
                  f"200 MiB download {statistics.median(mbps[name]):7.1f} MiB/s")
        if "mitmproxy" in rps:
            requests = statistics.median(rps["guardian"]) / statistics.median(rps["mitmproxy"])
            download = statistics.median(mbps["guardian"]) / statistics.median(mbps["mitmproxy"])
            print(f"  ratio guardian/mitmproxy: requests {requests:.2f} (target >= 1.5), "
                  f"download {download:.2f} (target >= 1.5)")

        block_page_ms(g_port, g_context, ["warm.blocked.test"] * 5)
        cached = block_page_ms(g_port, g_context, ["warm.blocked.test"] * 200)
        fresh = block_page_ms(g_port, g_context, [f"n{i}.blocked.test" for i in range(200)])
        print("block page over HTTPS: new connection + CONNECT + handshake + page, median of 200")
        print(f"  certificate cached {cached:6.2f} ms (target 5)   made for the request {fresh:6.2f} ms (target 20)")

        plain = guardian_config(workdir, "plain", origin_ca, "")
        tunnels = [("this branch", *start_guardian(workdir, plain))]
        if args.base is not None:
            base_config = workdir / "base.toml"
            base_config.write_text(plain.read_text().split("[https]")[0] + '[[profiles]]\nname = "default"\n')
            tunnels.append(("before HTTPS", *start_guardian(workdir, base_config, args.base)))
        procs += [proc for _, proc, _ in tunnels]
        speeds: dict[str, list[float]] = {name: [] for name, _, _ in tunnels}
        for i in range(7):  # short, many, in alternating order: on a busy machine noise is large
            for name, _, proxy_port in (tunnels if i % 2 == 0 else tunnels[::-1]):
                speeds[name].append(tunnel_mbps(proxy_port, plain_port))
        print("plain tunnel (not inspected), 512 MiB, median of 7")
        for name in speeds:
            print(f"  {name:13} {statistics.median(speeds[name]):8.1f} MiB/s")
        if len(speeds) == 2:
            ratio = statistics.median(speeds["this branch"]) / statistics.median(speeds["before HTTPS"])
            print(f"  ratio {ratio:.3f} (target within 5%)")
    finally:
        stop_all(procs, workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
