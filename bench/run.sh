#!/usr/bin/env bash
# `make bench`: every benchmark in one run, so each table's figures share the machine's state.
# Peers and tools come from ../shared/bench/setup.sh (squid, privoxy, tinyproxy, e2guardian,
# proxy.py, wrk, nginx); figures go to docs/benchmarks.md by hand, with the date.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
SHARED=../shared
ANCHORS=${ANCHORS_VENV:-/tmp/anchors}

if [ -x "$SHARED/bench/setup.sh" ] || [ -f "$SHARED/bench/setup.sh" ]; then
    bash "$SHARED/bench/setup.sh"
fi

section() { printf '\n== %s\n' "$1"; }

if [ -f "$SHARED/bench/proxy_peers.py" ] && [ -x "$ANCHORS/bin/python" ]; then
    section "proxy core against its peers (filters off), 2,000 idle clients held"
    "$ANCHORS/bin/python" "$SHARED/bench/proxy_peers.py" --seconds 5 --idle 2000 \
        --project "$PWD/.venv/bin/guardian serve --config $PWD/bench/proxy-core.toml --listen 127.0.0.1:{port} --data-dir {dir}/guardian"
    section "household and core-only configurations against squid and privoxy, pinned (issue 15's ratios)"
    BEFORE=$(mktemp -d)
    git archive bbe00be | tar -x -C "$BEFORE"  # the tree before issue 15's cuts: core-before, household-before
    "$ANCHORS/bin/python" bench/pinned.py --seconds 5 --rounds 3 --idle 2000 --base "$BEFORE"
    rm -rf "$BEFORE"
    section "the same, unpinned"
    "$ANCHORS/bin/python" bench/pinned.py --seconds 5 --rounds 3 --unpinned
else
    echo "skipping the peer comparison: ../shared/bench is missing"
fi

section "CPU per request, household then core only, 1 and 50 keep-alive connections; unpinned, then Guardian on CPU 0"
for pin in "" --pin; do
    for c in 1 50; do
        $PY bench/profile_request.py --seconds 5 --no-profile --connections "$c" $pin
        $PY bench/profile_request.py --seconds 5 --no-profile --connections "$c" --core $pin
    done
done

section "a page's 100 requests at once to a website 100 ms away, this tree against the one before issue 15"
BEFORE=$(mktemp -d)
git archive bbe00be | tar -x -C "$BEFORE"
$PY bench/page_burst.py --rounds 5 --base "$BEFORE"
rm -rf "$BEFORE"

section "the household's parts, each alone (timeit, best of 5)"
$PY bench/household_parts.py

section "same-run ratios: lists, logging, cache hit vs miss"
$PY bench/ratios.py

section "the decision against the engine's match"
if [ -d "$SHARED/data" ]; then $PY bench/policy.py; else echo "skipped: ../shared/data is missing"; fi

section "filter engine against adblock-rust and adblockparser"
if [ -d "$SHARED/data" ]; then $PY bench/filters.py; else echo "skipped: ../shared/data is missing"; fi

section "big host lists: 300k, 1M and 3M generated hosts (compact tables), memory per rule, a refresh swap"
$PY bench/big_lists.py

section "cache memory under 10x max_bytes"
$PY bench/cache_memory.py

section "log store: dashboard queries on 1 million records"
$PY bench/logstore.py

section "HTTPS: inspection against mitmproxy, the block page's handshake, plain tunnels before and after"
# mitmproxy pins older Flask and cryptography than Guardian's, so it gets a venv of its own.
MITM=${MITM_VENV:-/tmp/mitm-venv}
if [ ! -x "$MITM/bin/mitmdump" ]; then
    python3 -m venv "$MITM" && "$MITM/bin/pip" install -q mitmproxy || echo "mitmproxy could not be installed"
fi
BASE=$(mktemp -d)
git archive 1c64220 | tar -x -C "$BASE"  # the last commit before guardian/tls
$PY bench/tls.py --mitmdump "$MITM/bin/mitmdump" --base "$BASE"
rm -rf "$BASE"

if [ -x "$ANCHORS/bin/python" ]; then
    section "[proxy] workers: memory per worker, 1 against 2 workers (unpinned), the cache's hit rate"
    $PY bench/workers.py --workers 1,2 --seconds 5
fi
