#!/usr/bin/env bash
# `make pi-test`: the appliance on a booted Debian 12 (docs/install.md, "Tests").
#
#     sudo rpi/pi-test.sh TESTBED ARCH CHECKOUT
#
# 1. Runs the shared test-bed (TESTBED, e.g. ../shared/pi/testbed.sh) on CHECKOUT with
#    --keep: it boots the Pi, follows docs/install.md word for word, and leaves the Pi running.
# 2. Then, in that same Pi, the checks the test-bed does not make: the compiled request
#    path (the test-bed's install, without a compiler, said it runs plain Python; with gcc
#    and python3-dev in apt's cache an install compiles it and the service maps it, and how
#    long and how much memory the build took), a failed update (pip
#    error) and an update whose service does not answer (roll-back), idempotent re-runs,
#    two runs at once, Ctrl-C, a path with spaces, an invalid configuration (install.sh
#    refuses; at a restart the fallback unit serves the last-known-good copy), --uninstall
#    without --purge, a foreign `guardian` user, the WPAD name through the documented
#    dnsmasq lines, `systemd-analyze security`, the memory footprint with EasyList,
#    EasyPrivacy and 200 idle connections, and each proxy process on a core of its own.
# 3. Powers the Pi off and removes what the test-bed left (namespaces, overlay mount, its
#    LAN web server), whatever happened.
#
# Output: PASS/FAIL lines, INFO lines with measurements, and "N passed, M failed" for each
# part. Exit status 0 when both parts pass.

set -uo pipefail

TESTBED="$1"
ARCH="${2:-amd64}"
CHECKOUT="$(realpath "${3:-.}")"
[[ $EUID -eq 0 ]] || { echo "pi-test: needs root (the test-bed boots a container): sudo make pi-test" >&2; exit 2; }
[[ -x "$TESTBED" || -f "$TESTBED" ]] || { echo "pi-test: no test-bed at $TESTBED (PIBED=...)" >&2; exit 2; }

PIBED_DIR="${PIBED_DIR:-/tmp/pibed}"
RUN="$PIBED_DIR/run-$ARCH"
OUT="$(mktemp -d /tmp/pi-test.XXXXXX)"
NS_LAN=pibed-lan
PI_IP=192.168.50.2
LAN_IP=192.168.50.1
LEADER=""
ORIGIN=""
PASSED=0
FAILED=0

log() { printf '%s\n' "$*" | tee -a "$OUT/pi-test.log"; }
pass() { PASSED=$((PASSED + 1)); log "PASS  $*"; }
fail() { FAILED=$((FAILED + 1)); log "FAIL  $*"; }
info() { log "INFO  $*"; }
check() {  # check NAME COMMAND...
    local name="$1" out rc
    shift
    out="$("$@" 2>&1)"
    rc=$?
    printf -- '--- %s\n%s\n' "$name" "$out" >>"$OUT/checks.log"
    if [[ $rc -eq 0 ]]; then pass "$name"; else fail "$name: $(printf '%s' "$out" | tail -n 3 | tr '\n' ' ' | cut -c1-300)"; fi
    return $rc
}

pi_root() {
    nsenter -t "$LEADER" -m -u -i -n -p -C -- /usr/bin/env -i \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 TERM=dumb "$@"
}
parent() { pi_root /usr/sbin/runuser -l pi -c "$1"; }
lan() { ip netns exec "$NS_LAN" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root "$@"; }
blocked_from_lan() {
    [[ "$(lan curl -s -o /dev/null -w '%{http_code}' --max-time 5 -x "http://$PI_IP:3128" http://doubleclick.net/)" == 403 ]]
}
wait_for_proxy() {
    for _ in $(seq "${1:-60}"); do
        blocked_from_lan && return 0
        sleep 0.5
    done
    return 1
}
main_pid() { pi_root systemctl show -p MainPID --value guardian; }
current() { pi_root readlink /opt/guardian/current; }
# A new upstream commit made by CHANGE (a shell command run in the upstream's work tree).
upstream_commit() {
    local snap="$RUN/lan/snapshot" message="$1"
    shift
    (cd "$snap" && "$@") || return 1
    git -C "$snap" add -A
    git -C "$snap" -c user.name=pibed -c user.email=pibed@localhost commit -q -m "$message" || return 1
    git -C "$snap" push -q "$RUN/lan/www/guardian.git" HEAD 2>/dev/null || return 1
    git -C "$RUN/lan/www/guardian.git" update-server-info
}

stop_dnsmasq() {
    local pid
    pid="$(cat "$OUT/dnsmasq.pid" 2>/dev/null)"
    [[ -n "$pid" ]] && grep -qa dnsmasq "/proc/$pid/cmdline" 2>/dev/null && kill "$pid"
    rm -f "$OUT/dnsmasq.pid"
}

cleanup() {
    stop_dnsmasq
    rm -rf /etc/netns/"$NS_LAN"
    if [[ -n "$LEADER" ]] && kill -0 "$LEADER" 2>/dev/null; then
        nsenter -t "$LEADER" -m -p -- systemctl poweroff >/dev/null 2>&1 || true
        for _ in $(seq 120); do
            kill -0 "$LEADER" 2>/dev/null || break
            sleep 0.5
        done
        kill -0 "$LEADER" 2>/dev/null && kill -KILL "$LEADER" 2>/dev/null
    fi
    [[ -n "$ORIGIN" ]] && kill "$ORIGIN" 2>/dev/null
    ip netns del pibed-pi 2>/dev/null
    ip netns del "$NS_LAN" 2>/dev/null
    if mountpoint -q "$RUN/merged" 2>/dev/null; then
        umount "$RUN/merged" 2>/dev/null || umount -l "$RUN/merged"
    fi
    rm -f "$RUN/pids"
    log "Logs: $OUT (pi-test.log, checks.log) and $RUN/logs"
}

# ---------------------------------------------------------------- the checks

c_failed_update_pip() {
    local pid before after rc
    pid="$(main_pid)"
    before="$(current)"
    upstream_commit "pibed: a dependency that does not exist" \
        sed -i 's/^waitress==.*/waitress==99.0.0 \\/' rpi/requirements.txt || return 1
    parent "cd guardian && git pull -q && sudo ./install.sh" >"$OUT/update-pip-error.log" 2>&1
    rc=$?
    after="$(current)"
    echo "exit $rc; current $before -> $after; pid $pid -> $(main_pid)"
    tail -n 6 "$OUT/update-pip-error.log"
    [[ $rc -ne 0 && "$after" == "$before" && "$(main_pid)" == "$pid" ]] && blocked_from_lan &&
        grep -q "Nothing in use was changed" "$OUT/update-pip-error.log" &&
        [[ "$(pi_root ls /opt/guardian/releases | wc -l)" -le 2 ]]
}

c_failed_update_rollback() {
    local before rc
    before="$(current)"
    upstream_commit "pibed: a version that cannot start" sh -c \
        'git checkout -q HEAD~1 -- rpi/requirements.txt && printf "\nraise SystemExit(\"pibed: broken\")\n" >>guardian/service.py' || return 1
    parent "cd guardian && git pull -q && sudo ./install.sh" >"$OUT/update-rollback.log" 2>&1
    rc=$?
    echo "exit $rc; current $before -> $(current)"
    tail -n 8 "$OUT/update-rollback.log"
    [[ $rc -ne 0 && "$(current)" == "$before" ]] && grep -q "previous version .* is running again" "$OUT/update-rollback.log" &&
        wait_for_proxy 20 && pi_root systemctl is-active guardian
}

c_good_update() {
    upstream_commit "pibed: fixed again" git checkout -q HEAD~2 -- guardian/service.py rpi/requirements.txt || return 1
    parent "cd guardian && git pull -q && sudo ./install.sh" >"$OUT/update-good.log" 2>&1 || { tail "$OUT/update-good.log"; return 1; }
    wait_for_proxy 20 && grep -q "is installed" "$OUT/update-good.log"
}

c_rerun_idempotent() {
    parent "cd guardian && sudo ./install.sh" >"$OUT/rerun1.log" 2>&1 || return 1
    parent "cd guardian && sudo ./install.sh" >"$OUT/rerun2.log" 2>&1 || return 1
    wait_for_proxy 20 && [[ "$(pi_root ls /opt/guardian/releases | wc -l)" -eq 2 ]]
}

c_two_at_once() {
    local rc1 rc2
    parent "cd guardian && sudo ./install.sh" >"$OUT/first.log" 2>&1 &
    local first=$!
    sleep 2
    parent "cd guardian && sudo ./install.sh" >"$OUT/second.log" 2>&1
    rc2=$?
    wait "$first"
    rc1=$?
    echo "first exit $rc1, second exit $rc2: $(tail -n 1 "$OUT/second.log")"
    [[ $rc1 -eq 0 && $rc2 -ne 0 ]] && grep -q "another install.sh is running" "$OUT/second.log" && wait_for_proxy 20
}

c_ctrl_c() {
    local pid rc job
    # A background job of a script starts with SIGINT ignored, and so would everything it
    # runs: python3 puts SIGINT back to its default, as in a terminal, before sudo.
    parent "cd guardian && python3 -c 'import os, signal, sys; [signal.signal(s, signal.SIG_DFL) for s in (signal.SIGINT, signal.SIGPIPE, signal.SIGXFSZ)]; os.execvp(sys.argv[1], sys.argv[1:])' sudo ./install.sh" >"$OUT/interrupted.log" 2>&1 &
    job=$!
    # into the pip step: the new release is being built
    for _ in $(seq 60); do
        grep -q '^==> New version' "$OUT/interrupted.log" && break
        sleep 0.5
    done
    sleep 2
    # the install.sh process in the Pi: Ctrl-C sends SIGINT to the foreground process group
    pid="$(pi_root pgrep -f -o 'bash ./install.sh')"
    [[ -n "$pid" ]] || { echo "install.sh not found running"; return 1; }
    pi_root kill -INT -- "-$(pi_root ps -o pgid= -p "$pid" | tr -d ' ')"
    wait "$job"
    rc=$?
    echo "interrupted: exit $rc; $(tail -n 2 "$OUT/interrupted.log" | tr '\n' ' ')"
    [[ $rc -ne 0 ]] && grep -q "interrupted" "$OUT/interrupted.log" || return 1
    wait_for_proxy 20 || return 1
    # shellcheck disable=SC2016  # expanded by the Pi's shell
    pi_root sh -c 'for d in /opt/guardian/releases/*; do [ -e "$d/.complete" ] || echo "half-built: $d"; done' | grep . && return 1
    parent "cd guardian && sudo ./install.sh" >"$OUT/after-interrupt.log" 2>&1 || return 1
    wait_for_proxy 20
}

c_spaces() {
    parent "rm -rf 'my guardian copy' && cp -a guardian 'my guardian copy' && cd 'my guardian copy' && sudo ./install.sh" \
        >"$OUT/spaces.log" 2>&1 || { tail -n 5 "$OUT/spaces.log"; return 1; }
    parent "rm -rf 'my guardian copy'"
    wait_for_proxy 20
}

c_invalid_config() {
    local sum rc
    pi_root cp -p /etc/guardian/guardian.toml /root/good.toml
    pi_root sh -c 'printf "\n[proxy]\nlisten = 12\n" >>/etc/guardian/guardian.toml'
    sum="$(pi_root sha256sum /etc/guardian/guardian.toml)"
    parent "cd guardian && sudo ./install.sh" >"$OUT/invalid-config.log" 2>&1
    rc=$?
    echo "exit $rc; $(grep -m 2 -i 'error\|kept' "$OUT/invalid-config.log")"
    local ok=1
    [[ $rc -ne 0 && "$(pi_root sha256sum /etc/guardian/guardian.toml)" == "$sum" ]] &&
        grep -q "It is kept as it is" "$OUT/invalid-config.log" && ok=0
    pi_root cp -p /root/good.toml /etc/guardian/guardian.toml
    pi_root rm -f /root/good.toml
    return $ok
}

# An invalid guardian.toml at a restart: guardian.service stays failed (status 2, says why)
# while guardian-last-good.service serves the house on the last-known-good copy; once
# fixed, `systemctl restart guardian` takes over the ports again.
c_last_good_fallback() {
    local ok=1 state status fallback_log since
    since="$(pi_root date '+%Y-%m-%d %H:%M:%S')"
    pi_root cp -p /etc/guardian/guardian.toml /root/good.toml
    pi_root sed -i 's/^listen = "0.0.0.0:3128"/listen = "no-such-address"/' /etc/guardian/guardian.toml
    pi_root systemctl restart guardian >/dev/null 2>&1
    wait_for_proxy 60
    state="guardian: $(pi_root systemctl is-active guardian) status=$(pi_root systemctl show -p ExecMainStatus --value guardian) restarts=$(pi_root systemctl show -p NRestarts --value guardian); guardian-last-good: $(pi_root systemctl is-active guardian-last-good)"
    echo "$state"
    # (the outputs whole: `| grep -q` would end the writer with SIGPIPE, a failure under pipefail)
    status="$(pi_root systemctl status --no-pager guardian)"
    fallback_log="$(pi_root journalctl -u guardian-last-good -o cat --no-pager --since "$since")"
    printf '%s\n' "$status" "$fallback_log" | grep -v 'GET \|POST '
    if [[ "$state" == "guardian: failed status=2 restarts=0; guardian-last-good: active" ]] && blocked_from_lan &&
        [[ "$status" == *"proxy.listen: 'no-such-address'"* && "$fallback_log" == *"running on the last-known-good copy"* ]]; then
        ok=0
    fi
    pi_root cp -p /root/good.toml /etc/guardian/guardian.toml
    pi_root rm -f /root/good.toml
    pi_root systemctl restart guardian
    wait_for_proxy 60 || ok=1
    state="guardian: $(pi_root systemctl is-active guardian); guardian-last-good: $(pi_root systemctl is-active guardian-last-good)"
    echo "after the fix and a restart: $state"
    [[ "$state" == "guardian: active; guardian-last-good: inactive" ]] || ok=1
    return $ok
}

c_uninstall_keep() {
    parent "cd guardian && sudo ./install.sh --uninstall" >"$OUT/uninstall-keep.log" 2>&1 || return 1
    cat "$OUT/uninstall-keep.log"
    pi_root test -f /etc/guardian/guardian.toml && pi_root test -d /var/lib/guardian/lists &&
        ! pi_root test -e /opt/guardian && ! pi_root test -e /etc/systemd/system/guardian.service &&
        grep -q "Kept" "$OUT/uninstall-keep.log" && ! blocked_from_lan
}

c_reinstall_keeps() {
    parent "cd guardian && sudo ./install.sh" >"$OUT/reinstall.log" 2>&1 || { tail "$OUT/reinstall.log"; return 1; }
    wait_for_proxy 30 && pi_root test -f /var/lib/guardian/lists/easylist.txt
}

c_foreign_user() {
    local rc
    parent "cd guardian && sudo ./install.sh --uninstall --purge" >"$OUT/purge.log" 2>&1 || return 1
    pi_root useradd --create-home --shell /bin/bash guardian || return 1
    parent "cd guardian && sudo ./install.sh" >"$OUT/foreign-user.log" 2>&1
    rc=$?
    echo "exit $rc: $(grep -m 1 error "$OUT/foreign-user.log")"
    local ok=1
    [[ $rc -ne 0 ]] && grep -q "is not Guardian's service user" "$OUT/foreign-user.log" &&
        ! pi_root test -e /opt/guardian && [[ "$(pi_root getent passwd guardian | cut -d: -f6)" == /home/guardian ]] && ok=0
    pi_root userdel -r guardian
    return $ok
}

c_security() {
    local exposure
    pi_root systemd-analyze security --no-pager guardian >"$OUT/security.txt" 2>&1
    exposure="$(grep -o 'Overall exposure level for guardian.service: [0-9.]*' "$OUT/security.txt" | sed 's/.*: //')"
    info "systemd-analyze security guardian: exposure $exposure (was 3.3 before issue 16)"
    [[ -n "$exposure" ]] && awk -v e="$exposure" 'BEGIN { exit !(e <= 3.3) }'
}

# The router's dnsmasq with the lines docs/install.md gives (with the test-bed's addresses):
# a device resolves `wpad` through it and fetches the PAC file by that name.
c_wpad() {
    command -v dnsmasq >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dnsmasq-base >/dev/null 2>&1
    command -v dnsmasq >/dev/null 2>&1 || { echo "dnsmasq is not available on this host"; return 1; }
    awk '/^### Letting the router/ { inside = 1 } inside && /^  ```$/ { if (code) exit; code = 1; next } inside && code { sub(/^  /, ""); print }' \
        "$CHECKOUT/docs/install.md" | sed "s/192\.168\.1\.2/$PI_IP/g" >"$OUT/dnsmasq-snippet.conf"
    cat "$OUT/dnsmasq-snippet.conf"
    grep -q '^dhcp-option=252,' "$OUT/dnsmasq-snippet.conf" && grep -q '^address=/wpad/' "$OUT/dnsmasq-snippet.conf" || return 1
    dnsmasq --test --conf-file="$OUT/dnsmasq-snippet.conf" || return 1
    # (this function runs in check's subshell: dnsmasq is started and stopped here)
    ip netns exec "$NS_LAN" dnsmasq --keep-in-foreground --no-resolv --no-hosts --listen-address="$LAN_IP" \
        --bind-interfaces --conf-file="$OUT/dnsmasq-snippet.conf" --pid-file="$OUT/dnsmasq.pid" --user=root \
        >"$OUT/dnsmasq.log" 2>&1 &
    local dnsmasq=$! url ok=1
    mkdir -p /etc/netns/"$NS_LAN"
    echo "nameserver $LAN_IP" >/etc/netns/"$NS_LAN"/resolv.conf
    sleep 1
    url="$(sed -n 's/^dhcp-option=252,"\(.*\)"$/\1/p' "$OUT/dnsmasq-snippet.conf")"
    echo "wpad resolves to: $(lan getent hosts wpad)"
    lan curl -sS --max-time 10 "http://wpad:8080/wpad.dat" | grep -q FindProxyForURL &&
        lan curl -sS --max-time 10 "$url" | grep "$PI_IP:3128" && ok=0
    stop_dnsmasq
    kill "$dnsmasq" 2>/dev/null
    wait "$dnsmasq" 2>/dev/null
    rm -rf /etc/netns/"$NS_LAN"
    return $ok
}

# Each proxy process keeps its request threads on a core of its own (guardian/proxy/cores.py),
# which the unit's system call filter must let it do: every worker (or the one process) has
# threads on exactly one core, no two workers share one, and the journal never said "left
# on every core".
c_cores() {
    local pid placed
    pid="$(main_pid)"
    if pi_root journalctl -u guardian -o cat --no-pager | grep "left on every core"; then
        return 1
    fi
    # shellcheck disable=SC2016  # expanded by the Pi's shell
    placed="$(pi_root sh -c 'ps=$(ps -o pid= --ppid $1); for p in ${ps:-$1}; do
        printf "%s " $p; for t in /proc/$p/task/*; do sed -n "s/^Cpus_allowed_list:[[:space:]]*\([0-9]*\)$/\1/p" $t/status; done |
        sort -u | tr "\n" " "; echo; done' sh "$pid")"
    echo "process, then the single cores its threads are on: $placed"
    info "proxy processes and their cores ($ARCH, $(pi_root nproc) cores): $(echo "$placed" | tr '\n' ';')"
    # one core per process, and each a different one
    echo "$placed" | awk 'NF != 2 { bad = 1 } { seen[$2]++ } END { for (c in seen) if (seen[c] > 1) bad = 1; exit bad || NR == 0 }'
}

# RSS of the service with EasyList + EasyPrivacy applied and 200 idle connections open.
c_footprint() {
    local lists="$CHECKOUT/../shared/data/filterlists" pid rss_idle rss_conn hwm holder
    [[ -f "$lists/easylist.txt" ]] || lists="/work/shared/data/filterlists"
    [[ -f "$lists/easylist.txt" ]] || { echo "no EasyList copy found"; return 1; }
    local rss_starter since
    sleep 5
    rss_starter="$(pi_root ps -o rss= -p "$(main_pid)" | tr -d ' ')"
    pi_root install -d -o guardian -g guardian -m 0750 /var/lib/guardian/lists
    for id in easylist easyprivacy; do
        cp "$lists/$id.txt" "$RUN/merged/var/lib/guardian/lists/$id.txt"
        pi_root chown guardian:guardian "/var/lib/guardian/lists/$id.txt"
    done
    since="$(pi_root date '+%Y-%m-%d %H:%M:%S')"
    pi_root systemctl restart guardian
    wait_for_proxy 120 || return 1
    sleep 5
    # applied: the start did not report them missing
    if pi_root journalctl -u guardian --since "$since" -o cat --no-pager | grep "no stored copy"; then
        return 1
    fi
    pid="$(main_pid)"
    rss_idle="$(pi_root ps -o rss= -p "$pid" | tr -d ' ')"
    lan python3 -c '
import socket, sys, time
conns = [socket.create_connection((sys.argv[1], 3128)) for _ in range(200)]
print("open", flush=True)
time.sleep(20)
' "$PI_IP" >"$OUT/idle-connections.txt" 2>&1 &
    holder=$!
    sleep 8
    rss_conn="$(pi_root ps -o rss= -p "$pid" | tr -d ' ')"
    # shellcheck disable=SC2016  # awk's $2
    hwm="$(pi_root awk '/VmHWM/ {print $2}' "/proc/$pid/status")"
    local threads
    threads="$(pi_root ps -o nlwp= -p "$pid" | tr -d ' ')"
    # the whole service: the main process and its proxy workers ([proxy] workers); they
    # share most pages, so PSS (shared pages divided among them) is what they take together
    local all cgroup
    # shellcheck disable=SC2016  # expanded by the Pi's shell
    all="$(pi_root sh -c 'for p in $1 $(ps -o pid= --ppid $1); do cat /proc/$p/smaps_rollup; done' sh "$pid" |
        awk '/^Rss:/ { r += $2; n++ } /^Pss:/ { s += $2 } END { printf "%d processes: RSS %d MiB, PSS %d MiB", n, r / 1024, s / 1024 }')"
    cgroup="$(pi_root systemctl show -p MemoryCurrent --value guardian)"
    [[ "$cgroup" =~ ^[0-9]+$ ]] && cgroup="$((cgroup / 1048576)) MiB" || cgroup="not available here"
    wait "$holder"
    info "footprint ($ARCH): RSS $((rss_starter / 1024)) MiB with the starter list only; $((rss_idle / 1024)) MiB with EasyList + EasyPrivacy idle; $((rss_conn / 1024)) MiB with 200 idle connections ($threads threads); peak $((hwm / 1024)) MiB (main process); the whole service with 200 idle connections: $all; the unit's cgroup (page cache included): $cgroup; MemoryMax=$(pi_root systemctl show -p MemoryMax --value guardian)"
    grep -q open "$OUT/idle-connections.txt" && [[ -n "$rss_conn" ]] && blocked_from_lan
}

# The compiled request path. The test-bed's Pi has no internet: its first install (the
# test-bed's) found no gcc and python3-dev, could not fetch them, and must have said so and
# installed plain Python. With their .debs in apt's cache (as if the Pi were online) an
# install adds them, compiles, and the running service maps the compiled modules.
seed_compiler_debs() {
    local root="$PIBED_DIR/root-$ARCH" tmp="$OUT/apt-overlay" rc
    mkdir -p "$tmp/upper" "$tmp/work" "$tmp/merged"
    # apt in a throw-away overlay of the Pi's pristine root, with this machine's network
    mount -t overlay overlay -o "lowerdir=$root,upperdir=$tmp/upper,workdir=$tmp/work" "$tmp/merged" || return 1
    systemd-nspawn --quiet --register=no --keep-unit --resolv-conf=copy-host --timezone=off --link-journal=no \
        -D "$tmp/merged" --pipe /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --download-only --no-install-recommends gcc libc6-dev python3-dev \
        >"$OUT/apt-download.log" 2>&1
    rc=$?
    [[ $rc -eq 0 ]] && cp "$tmp"/upper/var/cache/apt/archives/*.deb "$RUN/merged/var/cache/apt/archives/"
    rc=$((rc + $?))
    umount "$tmp/merged"
    rm -rf "$tmp"
    echo "into the Pi's apt cache: $(find "$RUN/merged/var/cache/apt/archives" -name '*.deb' | wc -l) .debs"
    return $rc
}

# Peak memory (kB) and seconds of the build's processes in the Pi, sampled from this
# machine, until the file $OUT/sampling is removed: "cc1 KB SECONDS build KB SECONDS".
sample_build() {
    local ns cc=0 py=0 cc_first="" cc_last="" py_first="" py_last="" pid rss args t
    ns="$(readlink "/proc/$LEADER/ns/pid")"
    while [[ -e "$OUT/sampling" ]]; do
        t=$(date +%s.%N)
        while read -r pid rss args; do
            [[ "$(readlink "/proc/$pid/ns/pid" 2>/dev/null)" == "$ns" ]] || continue
            case "$args" in
                *cc1\ *) ((rss > cc)) && cc=$rss; cc_first="${cc_first:-$t}"; cc_last=$t ;;
                *pip*--no-build-isolation*|*build_meta*|*_in_process*) ((rss > py)) && py=$rss; py_first="${py_first:-$t}"; py_last=$t ;;
            esac
        done < <(ps -e -o pid=,rss=,args=)
        sleep 0.5
    done
    awk -v a="$cc" -v b="${cc_first:-0}" -v c="${cc_last:-0}" -v d="$py" -v e="${py_first:-0}" -v f="${py_last:-0}" \
        'BEGIN { printf "cc1 %d %.0f build %d %.0f\n", a, c - b, d, f - e }'
}

c_compiled() {
    local log="$RUN/logs/install.log" pid pids p maps rc ok=1 measured t0 seconds cc cc_s py py_s
    # the test-bed's install, without gcc and python3-dev and without internet
    if ! grep -A4 "apt cannot download gcc libc6-dev python3-dev" "$log" ||
        ! grep -A1 "compiled version could not be built:" "$log" | grep "there is no C compiler"; then
        echo "no fallback warning in $log"
        return 1
    fi
    grep -q "It runs as plain Python, more slowly" "$log" || { echo "no plain-Python line in the summary"; return 1; }
    seed_compiler_debs || { tail -n 5 "$OUT/apt-download.log"; return 1; }
    touch "$OUT/sampling"
    sample_build >"$OUT/build-sample.txt" &
    local sampler=$!
    t0=$(date +%s)
    parent "cd guardian && sudo ./install.sh" >"$OUT/install-compiled.log" 2>&1
    rc=$?
    seconds=$(($(date +%s) - t0))
    rm -f "$OUT/sampling"
    wait "$sampler"
    read -r _ cc cc_s _ py py_s <"$OUT/build-sample.txt"
    measured="install.sh $seconds s; the build (mypyc, then gcc): ${py_s} s, peak $((py / 1024)) MiB; gcc alone: ${cc_s} s, peak $((cc / 1024)) MiB"
    info "compiled install ($ARCH, $(pi_root nproc) cores): $measured; apt added $(pi_root cat /opt/guardian/apt-installed | tr '\n' ' ')($(grep -o '[0-9.,]* [kM]B of additional disk space' "$OUT/install-compiled.log"))"
    echo "exit $rc; $measured"
    grep -E 'C compiler|compiled|plain Python' "$OUT/install-compiled.log"
    [[ $rc -eq 0 ]] && grep -q "compiled: the faster version" "$OUT/install-compiled.log" &&
        ! grep -q "plain Python" "$OUT/install-compiled.log" || return 1
    pi_root grep -qx gcc /opt/guardian/apt-installed && pi_root grep -qx python3-dev /opt/guardian/apt-installed || return 1
    wait_for_proxy 30 || return 1
    # every process serving the proxy (the workers, or the one process) maps the compiled core
    pid="$(main_pid)"
    pids="$(pi_root ps -o pid= --ppid "$pid" | tr -d ' ')"
    for p in ${pids:-$pid}; do
        maps="$(pi_root grep -o '/opt/guardian/releases/[^ ]*/src/guardian/proxy/handler\.cpython-[^ ]*\.so' "/proc/$p/maps" | sort -u)"
        echo "process $p maps: ${maps:-no compiled handler}"
        [[ -n "$maps" ]] && ok=0 || return 1
    done
    return $ok
}

# ---------------------------------------------------------------- the run

trap cleanup EXIT
trap 'exit 130' INT TERM
log "pi-test: $CHECKOUT, $ARCH, $(date -u)"
"$TESTBED" --keep --arch "$ARCH" "$CHECKOUT" 2>&1 | tee "$OUT/testbed.log"
BED_STATUS=${PIPESTATUS[0]}
LEADER="$(sed -n 's/.*nsenter -t \([0-9]*\) -m -u -i -n -p -C.*/\1/p' "$OUT/testbed.log" | tail -n 1)"
ORIGIN="$(sed -n 's/.*systemctl poweroff; kill \([0-9]*\);.*/\1/p' "$OUT/testbed.log" | tail -n 1)"
if [[ -z "$LEADER" ]] || ! kill -0 "$LEADER" 2>/dev/null; then
    log "the test-bed left no Pi running: no further checks"
    exit 1
fi

if ! grep -q '^PASS  sudo ./install.sh on a fresh system' "$OUT/testbed.log"; then
    log "the install in the test-bed failed: no further checks"
    exit 1
fi

log ""
log "== Project checks in the same Pi ($(date +%T))"
wait_for_proxy 60
check "security: systemd-analyze security exposure at or below 3.3" c_security
check "compiled: plain Python said so without a compiler; with gcc and python3-dev the service runs the compiled core" c_compiled
check "footprint: EasyList + EasyPrivacy and 200 idle connections" c_footprint
check "cores: each proxy process serves on a core of its own (the unit lets it)" c_cores
check "WPAD: the documented dnsmasq lines; a device fetches http://wpad:8080/wpad.dat" c_wpad
check "re-running install.sh twice: both succeed, two releases kept" c_rerun_idempotent
check "failed update (pip error): exit non-zero, the running version untouched" c_failed_update_pip
check "failed update (service does not answer): rolled back within 30 s" c_failed_update_rollback
check "a good update after the failed ones" c_good_update
check "two install.sh at once: the second stops (lock)" c_two_at_once
check "Ctrl-C during install.sh: old version runs, a re-run completes" c_ctrl_c
check "install.sh from a directory with spaces" c_spaces
check "invalid guardian.toml: kept, exit non-zero, message" c_invalid_config
check "invalid guardian.toml at a restart: guardian failed (status 2), guardian-last-good serves the house" c_last_good_fallback
check "install.sh --uninstall keeps settings and data, says so" c_uninstall_keep
check "install again after --uninstall: data back in use" c_reinstall_keeps
check "a foreign 'guardian' user: install.sh refuses" c_foreign_user
log ""
grep '^INFO' "$OUT/pi-test.log"
log "test-bed: exit $BED_STATUS ($(grep -E '^[0-9]+ passed, [0-9]+ failed' "$OUT/testbed.log" | tail -n 1)); project checks: $PASSED passed, $FAILED failed"
[[ $BED_STATUS -eq 0 && $FAILED -eq 0 ]]
