#!/usr/bin/env bash
# Install, update or remove Guardian on Raspberry Pi OS (Debian bookworm), from a clone of
# the repository:
#
#     sudo ./install.sh                    install, or update after `git pull`
#     sudo ./install.sh --uninstall        remove Guardian, keep its settings and data
#     sudo ./install.sh --uninstall --purge   remove everything, settings and data too
#
# Safe to run again, and to interrupt: a run that stopped half-way (Ctrl-C, power cut,
# pip error, full disk) changed nothing that is in use, and running it again completes
# the install. It never overwrites /etc/guardian/guardian.toml once it exists. An update
# is built beside the running version and switched to only when it is complete; when the
# service does not answer within 30 seconds after the switch, the previous version is
# put back. See docs/install.md.
#
# Options:
#   --wheels DIR   install the Python packages from DIR (wheels, see docs/install.md)
#                  instead of downloading them: for a Pi without internet access
#   --uninstall    stop and remove the service and the program; keeps the settings
#                  (/etc/guardian) and the data (/var/lib/guardian) unless --purge
#   --purge        with --uninstall: remove the settings, the data and the user too
#   --prefix DIR   stage everything under DIR (DIR/opt/guardian, DIR/etc/guardian, ...)
#                  instead of /. For testing: no root needed, no user is created, nothing
#                  is chown'ed, apt and systemd are left alone. Installed files still name
#                  the real paths (/opt/guardian, /etc/guardian), like DESTDIR.
#   --no-systemd   install the unit file but do not reload, enable or start it
#   --dry-run      print the steps and commands without changing anything
#   -h, --help     this text
#
# Environment: PYTHON (default python3), the interpreter the virtual environment uses;
# OS_RELEASE (default /etc/os-release), the file that says which system this is.

set -euo pipefail
# Everything installed is readable by the service user (root's umask may be stricter).
umask 022
# pip keeps no download cache in root's home: nothing is left behind after an uninstall.
export PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

SERVICE_USER=guardian
PYTHON="${PYTHON:-python3}"
OS_RELEASE="${OS_RELEASE:-/etc/os-release}"
PREFIX=""
USE_SYSTEMD=1
DRY_RUN=0
WHEELS=""
UNINSTALL=0
PURGE=0
# How long a started or restarted service has to answer before the install counts as failed.
START_TIMEOUT="${GUARDIAN_START_TIMEOUT:-30}"

usage() {
    sed -n '2,/^# OS_RELEASE/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

die() {
    printf 'install.sh: error: %s\n' "$*" >&2
    exit 1
}

warn() {
    printf 'install.sh: warning: %s\n' "$*" >&2
}

note() {
    printf '    %s\n' "$*"
}

step() {
    printf '==> %s\n' "$*"
}

# Run a command, or in a dry run only print it (shell-quoted, so it can be pasted).
run() {
    if [[ $DRY_RUN -eq 1 ]]; then
        printf '    +'
        printf ' %q' "$@"
        printf '\n'
    else
        "$@"
    fi
}

while [[ $# -gt 0 ]]; do
    case "$1" in
        --prefix | --wheels)
            [[ $# -ge 2 && -n "$2" ]] || die "$1 needs a directory"
            if [[ "$1" == --prefix ]]; then PREFIX="$2"; else WHEELS="$2"; fi
            shift 2
            ;;
        --prefix=*)
            PREFIX="${1#--prefix=}"
            [[ -n "$PREFIX" ]] || die "--prefix needs a directory"
            shift
            ;;
        --wheels=*)
            WHEELS="${1#--wheels=}"
            [[ -n "$WHEELS" ]] || die "--wheels needs a directory"
            shift
            ;;
        --no-systemd)
            USE_SYSTEMD=0
            shift
            ;;
        --dry-run)
            DRY_RUN=1
            shift
            ;;
        --uninstall)
            UNINSTALL=1
            shift
            ;;
        --purge)
            PURGE=1
            shift
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        *)
            printf 'install.sh: unknown option: %s (see --help)\n' "$1" >&2
            exit 2
            ;;
    esac
done
if [[ $PURGE -eq 1 && $UNINSTALL -eq 0 ]]; then
    printf 'install.sh: --purge goes with --uninstall (see --help)\n' >&2
    exit 2
fi

if [[ -n "$PREFIX" ]]; then
    PREFIX="$(realpath -m -- "$PREFIX")"
    [[ "$PREFIX" != "/" ]] || PREFIX=""
fi
if [[ -n "$WHEELS" ]]; then
    [[ -d "$WHEELS" ]] || die "--wheels $WHEELS: no such directory"
    WHEELS="$(realpath -- "$WHEELS")"
fi

# The clone this script belongs to: what gets installed.
REPO="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"

# Real paths (what the installed files name) and where this run writes them.
APP_DIR=/opt/guardian
ETC_DIR=/etc/guardian
DATA_DIR=/var/lib/guardian
DEST_APP="$PREFIX$APP_DIR"
# Every installed version is a directory of its own, releases/ID/{src,venv}; `current` is a
# symlink to the one in use, and src and venv (what the unit and the command name) point
# through it. An update builds a new release and then only swaps the symlink.
DEST_RELEASES="$DEST_APP/releases"
DEST_CURRENT="$DEST_APP/current"
DEST_SRC="$DEST_APP/src"
DEST_VENV="$DEST_APP/venv"
DEST_ETC="$PREFIX$ETC_DIR"
DEST_CONFIG="$DEST_ETC/guardian.toml"
DEST_DATA="$PREFIX$DATA_DIR"
DEST_UNIT="$PREFIX/etc/systemd/system/guardian.service"
DEST_DROPINS="$PREFIX/etc/systemd/system/guardian.service.d"
# The fallback that runs on the last-known-good configuration while guardian.service has
# failed on an invalid one (rpi/last-good-unit).
DEST_FALLBACK_UNIT="$PREFIX/etc/systemd/system/guardian-last-good.service"
DEST_FALLBACK_DROPINS="$PREFIX/etc/systemd/system/guardian-last-good.service.d"
DEST_LOGROTATE="$PREFIX/etc/logrotate.d/guardian"
DEST_BIN="$PREFIX/usr/local/bin/guardian"
# The Debian packages install.sh added with apt, so --uninstall can say which they are.
DEST_APT_NOTE="$DEST_APP/apt-installed"
LOCK_FILE="${PREFIX:-/run/lock}/guardian-install.lock"
[[ -z "$PREFIX" ]] || LOCK_FILE="$PREFIX/.guardian-install.lock"

# Left out of the copy: version control, the developer's virtual environment, data and
# caches (anywhere), compiled modules (each release compiles its own), and build output at
# the top. *.egg-info is the editable install's metadata, which pip writes into the copy.
EXCLUDES=(.git .venv .guardian-data __pycache__ '*.pyc' .pytest_cache .ruff_cache '*.so')
TOP_EXCLUDES=(build dist '*.egg-info' guardian/COMMIT guardian/compiled_sources.json)

# Set while a new release is being built: removed again if the run stops before it is done.
BUILDING=""

# ---------------------------------------------------------------- checks (read-only)

check_root() {
    if [[ -n "$PREFIX" ]]; then
        return
    fi
    if [[ $EUID -ne 0 ]]; then
        if [[ $DRY_RUN -eq 1 ]]; then
            note "(not root: fine for a dry run; the real one needs sudo)"
            return
        fi
        die "run as root: sudo $0 (or --prefix DIR to stage an install for testing)"
    fi
}

# Debian or a system built on it (Raspberry Pi OS, Ubuntu): apt, dpkg and Debian's paths.
check_debian() {
    local id="" like="" name=""
    if [[ -r "$OS_RELEASE" ]]; then
        # shellcheck disable=SC1090
        id="$(. "$OS_RELEASE" && echo "${ID:-}")"
        # shellcheck disable=SC1090
        like="$(. "$OS_RELEASE" && echo "${ID_LIKE:-}")"
        # shellcheck disable=SC1090
        name="$(. "$OS_RELEASE" && echo "${PRETTY_NAME:-${ID:-}}")"
    fi
    case " $id $like " in
        *" debian "*) note "system: $name" ;;
        *) die "Guardian installs on Raspberry Pi OS or another Debian-based system; this is ${name:-an unknown system} ($OS_RELEASE)" ;;
    esac
}

check_python() {
    command -v "$PYTHON" >/dev/null 2>&1 ||
        die "$PYTHON not found; install it with: sudo apt-get install python3"
    local version
    version="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" || version="unknown"
    "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' >/dev/null 2>&1 ||
        die "Guardian needs Python 3.11 or newer; $PYTHON is $version (Raspberry Pi OS bookworm has 3.11)"
    note "Python $version ($(command -v "$PYTHON"))"
}

check_repo() {
    local path
    case "$DEST_APP/" in
        "$REPO"/*) die "the install location $DEST_APP is inside the clone $REPO; clone Guardian elsewhere" ;;
    esac
    for path in pyproject.toml guardian/__init__.py lists rpi/guardian.toml rpi/guardian.service \
        rpi/guardian.logrotate rpi/guardian-cli rpi/requirements.txt; do
        [[ -e "$REPO/$path" ]] || die "$REPO/$path is missing: run install.sh from a complete Guardian clone"
    done
}

# One run at a time: two at once would build and switch releases under each other.
take_lock() {
    [[ $DRY_RUN -eq 0 ]] || return 0
    mkdir -p "$(dirname -- "$LOCK_FILE")"
    exec 9>>"$LOCK_FILE"
    flock -n 9 || die "another install.sh is running (it holds $LOCK_FILE); wait for it to finish, then run this again if needed"
}

# A `guardian` user that install.sh did not make (another program's, a person's) is not
# taken over: the service would get its files, and the uninstall would delete it.
check_user() {
    [[ -z "$PREFIX" ]] || return 0
    local entry home shell uid
    entry="$(getent passwd "$SERVICE_USER" 2>/dev/null)" || entry=""
    if [[ -z "$entry" ]]; then
        if getent group "$SERVICE_USER" >/dev/null 2>&1; then
            die "a group named '$SERVICE_USER' exists but no user of that name; it is not Guardian's, so install.sh stops. Remove or rename that group (sudo groupdel $SERVICE_USER) if nothing uses it, then run this again."
        fi
        return 0
    fi
    IFS=: read -r _ _ uid _ _ home shell <<<"$entry"
    if [[ "$home" != "$DATA_DIR" || "$uid" -ge 1000 || "$shell" != */nologin ]]; then
        die "a user named '$SERVICE_USER' already exists (uid $uid, home $home, shell $shell) and is not Guardian's service user. Guardian will not take it over; remove or rename that user, then run this again."
    fi
}

# Prints the proxy and settings page addresses of a configuration file (the template when
# it does not exist yet), with the code of the clone: "PROXYHOST PROXYPORT WEBHOST WEBPORT".
listen_addresses() {
    local file="$DEST_CONFIG"
    [[ -f "$file" ]] || file="$REPO/rpi/guardian.toml"
    PYTHONPATH="$REPO" PYTHONDONTWRITEBYTECODE=1 "$PYTHON" -c '
import sys
from guardian.config import load_config
c = load_config(sys.argv[1])
print(c.proxy.listen.host, c.proxy.listen.port, c.web.listen.host, c.web.listen.port)
' "$file" 2>/dev/null || echo "0.0.0.0 3128 0.0.0.0 8080"
}

# "python3 (pid 812, user nobody)" for each program other than Guardian listening on PORT
# (guardian/port_holders.py, which also words the service's own "address already in use").
port_holder() {
    local holders
    holders="$(PYTHONPATH="$REPO" PYTHONDONTWRITEBYTECODE=1 "$PYTHON" -m guardian.port_holders "$1" \
        --except-user "$SERVICE_USER" 2>/dev/null)" || return 0
    printf '%s\n' "${holders//$'\n'/; }"
}

# Ports held by other programs: the service could not start. Said now, before the work.
PORT_PROBLEMS=""
check_ports() {
    [[ -z "$PREFIX" ]] || return 0
    local proxy_port web_port port holder
    read -r _ proxy_port _ web_port < <(listen_addresses)
    for port in "$proxy_port" "$web_port"; do
        holder="$(port_holder "$port")"
        if [[ -n "$holder" ]]; then
            PORT_PROBLEMS+="port $port is taken by $holder; "
            warn "port $port (Guardian's $([[ $port == "$proxy_port" ]] && echo proxy || echo settings page)) is already in use by $holder. Guardian cannot start until that program stops or moves to another port."
        fi
    done
}

# An existing configuration must still load with the code about to be installed, or the
# restart at the end would fail; check it first, with the new code, before changing anything.
# The file is the household's: it is never overwritten, only reported.
check_existing_config() {
    [[ -f "$DEST_CONFIG" ]] || return 0
    local problem status=0
    problem="$(PYTHONPATH="$REPO" PYTHONDONTWRITEBYTECODE=1 "$PYTHON" -c '
import sys
try:
    from guardian.config import ConfigError, load_config
except ImportError as exc:
    print(exc)
    sys.exit(3)
try:
    load_config(sys.argv[1])
except ConfigError as exc:
    print(exc)
    sys.exit(1)
except ImportError as exc:  # a check that needs a package the venv brings (public suffixes)
    print(exc)
    sys.exit(3)
' "$DEST_CONFIG" 2>&1)" || status=$?
    case $status in
        0) note "existing $DEST_CONFIG is valid for this version" ;;
        3) note "cannot check $DEST_CONFIG before installing ($problem); checked by the service at start" ;;
        *) die "the existing configuration does not load with this version of Guardian:
    $problem
It is kept as it is. Fix $DEST_CONFIG (nothing has been changed yet; \`sudo guardian config check\` shows
what is wrong), then run install.sh again." ;;
    esac
}

venv_available() {
    "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1
}

# ---------------------------------------------------------------- steps

install_venv_package() {
    step "Python's venv module"
    if venv_available; then
        note "present"
        return
    fi
    if [[ -n "$PREFIX" ]]; then
        die "$PYTHON has no venv module; install it first: sudo apt-get install python3-venv"
    fi
    if [[ $DRY_RUN -eq 1 ]]; then
        run mkdir -p "$DEST_APP"
        run apt-get install -y python3-venv
        return
    fi
    apt_install python3-venv ||
        die "could not install python3-venv with apt (no network?); install it with: sudo apt-get update && sudo apt-get install python3-venv"
    venv_available || die "python3-venv is installed but $PYTHON still cannot create a virtual environment"
}

# apt-get install PACKAGES, updating the package lists only if the first try fails (a fresh
# image may have stale ones; the docs' install block has updated them just before). What it
# added is noted for --uninstall's advice.
apt_install() {
    DEBIAN_FRONTEND=noninteractive apt-get install -y "$@" || {
        apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y "$@"
    } || return 1
    mkdir -p "$DEST_APP"
    local package
    for package in "$@"; do
        [[ "$package" == -* ]] || printf '%s\n' "$package" >>"$DEST_APT_NOTE"
    done
}

# Can apt download what installing PACKAGES needs? Tried with the smallest file it would
# fetch (apt's own downloader: its mirrors and proxy settings). Without internet apt would
# otherwise wait out a failed name lookup for each of the dozens of files, twice: minutes.
apt_can_fetch() {
    local smallest helper=/usr/lib/apt/apt-helper probe status=0
    [[ -x "$helper" ]] || return 0
    smallest="$(apt-get install -qq --print-uris -y "$@" 2>/dev/null | sort -k3,3n | head -n 1 | cut -d' ' -f1)"
    smallest="${smallest//\'/}"
    [[ -n "$smallest" ]] || return 0  # nothing to fetch (in apt's cache), or apt will say what is wrong
    probe="$(mktemp -d)"
    "$helper" download-file "$smallest" "$probe/file" >/dev/null 2>&1 || status=1
    rm -rf "$probe"
    return $status
}

# A C compiler and Python's headers: the install compiles the request path with them
# (setup.py; about twice as fast per request). Without them Guardian runs as plain Python.
compiler_available() {
    command -v gcc >/dev/null 2>&1 && "$PYTHON" -c '
import os, sys, sysconfig
sys.exit(0 if os.path.isfile(os.path.join(sysconfig.get_paths()["include"], "Python.h")) else 1)' >/dev/null 2>&1
}

# Missing compiler or headers are added with apt (they are only used at install time);
# if apt cannot, the build step says so and installs plain Python.
install_build_tools() {
    step "C compiler and Python's headers (to compile the request path)"
    if compiler_available; then
        note "present"
        return
    fi
    if [[ -n "$PREFIX" ]]; then
        note "missing; left alone (--prefix): Guardian will be staged as plain Python"
        return
    fi
    # (libc6-dev: the C library's headers, which gcc only recommends)
    local missing=() package
    for package in gcc libc6-dev python3-dev; do
        dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
    done
    [[ ${#missing[@]} -gt 0 ]] || missing=(gcc libc6-dev python3-dev)  # installed but broken: ask apt again
    # Recommended packages (manuals, debugging tools and the image libraries they use)
    # would add about 60 MB on disk (297 MB instead of 240 on Debian 12), for nothing the
    # build uses.
    if [[ $DRY_RUN -eq 1 ]]; then
        run apt-get install -y --no-install-recommends "${missing[@]}"
        return
    fi
    if ! apt_can_fetch --no-install-recommends "${missing[@]}"; then
        warn "apt cannot download ${missing[*]} (no internet?); Guardian will run as plain Python, more slowly (see below)"
        return
    fi
    apt_install --no-install-recommends "${missing[@]}" ||
        warn "could not install ${missing[*]} with apt; Guardian will run as plain Python, more slowly (see below)"
}

create_user() {
    step "System user '$SERVICE_USER'"
    if [[ -n "$PREFIX" ]]; then
        note "skipped (--prefix): files stay owned by $(id -un)"
        return
    fi
    if id -u "$SERVICE_USER" >/dev/null 2>&1; then
        note "exists"
        return
    fi
    run useradd --system --user-group --home-dir "$DATA_DIR" --no-create-home \
        --shell /usr/sbin/nologin --comment "Guardian web proxy" "$SERVICE_USER"
}

# The commit being installed, for `guardian --version` (the copy has no .git).
source_commit() {
    local head
    command -v git >/dev/null 2>&1 && [[ -e "$REPO/.git" ]] || return 0
    head="$(git -c safe.directory="$REPO" -C "$REPO" rev-parse --short=12 HEAD 2>/dev/null)" || return 0
    if [[ -n "$(git -c safe.directory="$REPO" -C "$REPO" status --porcelain --untracked-files=no 2>/dev/null)" ]]; then
        head="$head-modified"
    fi
    printf '%s\n' "$head"
}

# Copy the clone into DIR (a new, empty directory).
copy_source() {
    local dest="$1" exclude args=()
    for exclude in "${EXCLUDES[@]}"; do
        args+=("--exclude=$exclude")
    done
    for exclude in "${TOP_EXCLUDES[@]}"; do
        args+=("--exclude=./$exclude")
    done
    run mkdir -p "$dest"
    if [[ $DRY_RUN -eq 1 ]]; then
        printf '    + tar -C %q' "$REPO"
        printf ' %q' "${args[@]}"
        printf ' -cf - . | tar -C %q --no-same-owner -xf -\n' "$dest"
    else
        tar -C "$REPO" "${args[@]}" -cf - . | tar -C "$dest" --no-same-owner -xf -
        chmod -R go-w "$dest"
    fi
}

# pip's arguments for the pinned dependencies: from the index, or only from --wheels DIR.
pip_source() {
    if [[ -n "$WHEELS" ]]; then
        printf '%s\n' --no-index --find-links "$WHEELS"
    fi
}

pip_failed() {
    local log="$1"
    tail -n 15 "$log" >&2
    if [[ -n "$WHEELS" ]]; then
        die "pip could not install Guardian's packages from $WHEELS (above: what is missing). Nothing in use was changed."
    fi
    die "pip could not install Guardian's packages (above: pip's last words). Nothing in use was changed.
If the Pi cannot reach pypi.org, download the packages on a computer that can and copy them over:
    pip download --require-hashes --only-binary=:all: --platform manylinux2014_aarch64 \\
        --python-version 3.11 --implementation cp --abi cp311 -d wheels -r rpi/requirements.txt
then run: sudo ./install.sh --wheels wheels      (see docs/install.md, \"Without internet\")"
}

# The compile's peak memory in MB (mypyc's, about 250; gcc then needs about 130 per C
# file), with room to spare: with less free, the compile would push the running service
# into swap or be killed.
COMPILE_MEMORY=350
# Why this install runs as plain Python (empty: compiled), for the summary.
PLAIN_PYTHON=""

# MiB of memory free for the compile now (available memory and free swap).
free_memory() {
    awk '/^(MemAvailable|SwapFree):/ { kb += $2 } END { print int(kb / 1024) }' /proc/meminfo
}

# Install Guardian into DIR's venv, its request path compiled (setup.py); when that cannot
# be done here, as plain Python, after telling the parent why and how to try again.
build_guardian() {
    local dir="$1" log="$2" why="" retry="" free
    local pip=(nice "$dir/venv/bin/python" -m pip install --quiet --no-index --no-deps --no-build-isolation)
    local build_log="$dir/compile.log"
    free="$(free_memory)"
    if ! compiler_available; then
        why="there is no C compiler or no Python headers on this system (the Debian packages gcc and python3-dev)"
        retry="connect the Pi to the internet (the installer then adds them with apt)"
    elif [[ "$free" -lt $COMPILE_MEMORY ]]; then
        why="the build needs about $COMPILE_MEMORY MB of free memory and this system has $free MB free"
        retry="stop other programs (or add swap space)"
    elif ! GUARDIAN_PURE_PYTHON=0 "${pip[@]}" --editable "$dir/src" >"$build_log" 2>&1; then
        why="the build stopped with an error (its messages: $build_log)"
        retry="show those messages to whoever gave you Guardian"
        if grep -q -i 'killed\|out of memory\|signal 9' "$build_log"; then
            why="the build ran out of memory (its messages: $build_log)"
            retry="stop other programs (or add swap space)"
        fi
    # (-I: the installed package, not a guardian/ folder in the directory install.sh runs from)
    elif ! "$dir/venv/bin/python" -I -c 'import sys, guardian.proxy.handler as h; sys.exit(not h.__file__.endswith(".so"))' \
        >>"$build_log" 2>&1; then
        why="the compiled copy does not load (its messages: $build_log)"
        retry="show those messages to whoever gave you Guardian"
    fi
    # mypyc's C sources and mypy's cache: only needed during the build
    rm -rf "$dir/src/build" "$dir/src/.mypy_cache"
    if [[ -z "$why" ]]; then
        rm -f "$build_log"
        note "compiled: the faster version"
        return 0
    fi
    PLAIN_PYTHON="$why"
    warn "Guardian's faster, compiled version could not be built:
    $why.
    Guardian is installed as plain Python instead: it works the same, only more slowly
    (each web request takes nearly twice as much of the processor's time).
    To try again: $retry, then run this installer again: sudo ./install.sh"
    # (the plain build removes anything half-compiled beside the sources: setup.py)
    GUARDIAN_PURE_PYTHON=1 "${pip[@]}" --editable "$dir/src" >"$log" 2>&1 || pip_failed "$log"
}

# Build a complete new release in DEST_RELEASES/ID (built in place: a virtual environment
# names its own path). It is marked complete only at the end; until then a stop removes it.
build_release() {
    local id="$1" dir="$DEST_RELEASES/$1" log commit
    step "New version in $dir"
    BUILDING="$dir"
    run rm -rf "$dir"
    copy_source "$dir/src"
    commit="$(source_commit)"
    if [[ -n "$commit" ]]; then
        note "commit $commit"
        if [[ $DRY_RUN -eq 0 ]]; then
            printf '%s\n' "$commit" >"$dir/src/guardian/COMMIT"
        fi
    fi
    run "$PYTHON" -m venv "$dir/venv"
    local pip=("$dir/venv/bin/python" -m pip install --quiet)
    local source_args=()
    mapfile -t source_args < <(pip_source)
    log="$(mktemp)"
    # The exact versions CI tested, each checked against its hash (mypy among them: it
    # compiles the request path); then Guardian itself, editable so it finds the lists/
    # folder beside its code, with nothing resolved anew.
    if [[ $DRY_RUN -eq 1 ]]; then
        run "${pip[@]}" "${source_args[@]}" --require-hashes --no-deps -r "$REPO/rpi/requirements.txt"
        run nice "${pip[@]}" --no-index --no-deps --no-build-isolation --editable "$dir/src"
    else
        "${pip[@]}" "${source_args[@]}" --require-hashes --no-deps -r "$dir/src/rpi/requirements.txt" >"$log" 2>&1 ||
            pip_failed "$log"
        build_guardian "$dir" "$log"
        "$dir/venv/bin/python" -m pip check >"$log" 2>&1 || pip_failed "$log"
    fi
    rm -f "$log"
    # The service cannot write __pycache__ into /opt (read-only to it): compile now, or
    # every start on the Pi would compile everything again.
    run "$dir/venv/bin/python" -m compileall -q "$dir/src/guardian"
    run touch "$dir/.complete"
    BUILDING=""
}

# Old layout (before releases): /opt/guardian/src and venv were directories. At the switch
# they become the release "legacy" (the previous one, for a roll-back); its venv names
# /opt/guardian/venv, which leads back to it through the symlinks whenever it is current.
LEGACY=legacy
migrate_layout() {
    [[ -d "$DEST_SRC" && ! -L "$DEST_SRC" ]] || return 0
    note "moving the previous version into $DEST_RELEASES/$LEGACY"
    run rm -rf "${DEST_RELEASES:?}/$LEGACY"
    run mkdir -p "$DEST_RELEASES/$LEGACY"
    run mv "$DEST_SRC" "$DEST_RELEASES/$LEGACY/src"
    if [[ -d "$DEST_VENV" && ! -L "$DEST_VENV" ]]; then
        run mv "$DEST_VENV" "$DEST_RELEASES/$LEGACY/venv"
    fi
    run touch "$DEST_RELEASES/$LEGACY/.complete"
}

# The release `current` points to (its directory name), or nothing.
current_release() {
    local target
    if [[ -d "$DEST_SRC" && ! -L "$DEST_SRC" ]]; then
        echo "$LEGACY"
        return
    fi
    target="$(readlink "$DEST_CURRENT" 2>/dev/null)" || return 0
    basename -- "$target"
}

# Point `current` at releases/ID in one rename, so there is never a moment without one.
switch_to() {
    migrate_layout
    run ln -sfn "releases/$1" "$DEST_CURRENT.new"
    run mv -T "$DEST_CURRENT.new" "$DEST_CURRENT"
    [[ -L "$DEST_SRC" ]] || run ln -sfn current/src "$DEST_SRC"
    [[ -L "$DEST_VENV" ]] || run ln -sfn current/venv "$DEST_VENV"
}

# Keep the current release and the one before it (for a roll-back); remove the others and
# whatever an interrupted run left half-built.
prune_releases() {
    local keep_a="$1" keep_b="$2" dir name
    for dir in "$DEST_RELEASES"/*; do
        [[ -e "$dir" ]] || continue
        name="$(basename -- "$dir")"
        [[ "$name" == "$keep_a" || "$name" == "$keep_b" ]] && continue
        run rm -rf "$dir"
    done
}

install_cli() {
    step "Command $DEST_BIN"
    run install -D -m 0755 "$REPO/rpi/guardian-cli" "$DEST_BIN"
}

install_config() {
    step "Configuration $DEST_CONFIG"
    run install -d -m 0750 "$DEST_ETC"
    if [[ -e "$DEST_CONFIG" ]]; then
        note "exists: kept as it is (the new template is $DEST_SRC/rpi/guardian.toml)"
    else
        run install -m 0640 "$REPO/rpi/guardian.toml" "$DEST_CONFIG"
    fi
    if [[ -z "$PREFIX" ]]; then
        # The settings page replaces guardian.toml atomically (a temporary file beside it,
        # then a rename), so the service's user must own the directory.
        run chown "$SERVICE_USER:$SERVICE_USER" "$DEST_ETC" "$DEST_CONFIG"
        run chmod 0750 "$DEST_ETC"
    fi
}

create_data_dir() {
    step "Data directory $DEST_DATA"
    if [[ -n "$PREFIX" ]]; then
        run install -d -m 0750 "$DEST_DATA"
    else
        run install -d -o "$SERVICE_USER" -g "$SERVICE_USER" -m 0750 "$DEST_DATA"
    fi
}

# Can systemd give a service a user namespace of its own here (the unit's PrivateUsers=yes)?
# Not on a kernel built without user namespaces or with user.max_user_namespaces = 0, nor
# under qemu-user emulation (it runs every program with a second thread, and the kernel
# gives a user namespace to single-threaded processes only). Asked once, of systemd itself.
USERNS_FOR_SERVICES=""
userns_for_services() {
    if [[ -z "$USERNS_FOR_SERVICES" ]]; then
        USERNS_FOR_SERVICES=yes
        if systemd_usable && [[ $DRY_RUN -eq 0 ]] &&
            ! systemd-run --quiet --wait --collect --service-type=exec -p PrivateUsers=yes \
                -p User="$SERVICE_USER" /bin/true >/dev/null 2>&1; then
            USERNS_FOR_SERVICES=no
        fi
    fi
    [[ "$USERNS_FOR_SERVICES" == yes ]]
}

install_units() {  # install_units SOURCE-DIR: its rpi/guardian.service and rpi/guardian.logrotate
    step "systemd units $DEST_UNIT, $DEST_FALLBACK_UNIT and logrotate rules $DEST_LOGROTATE"
    run install -D -m 0644 "$1/rpi/guardian.service" "$DEST_UNIT"
    if ! userns_for_services && grep -q '^PrivateUsers=yes$' "$DEST_UNIT"; then
        # Without it the service would not start at all; every other protection stays.
        warn "this system gives services no user namespace of their own (an emulator, or a kernel without them): the service runs without PrivateUsers"
        sed -i 's/^PrivateUsers=yes$/# install.sh: off, this system gives services no user namespace of their own\nPrivateUsers=no/' "$DEST_UNIT"
    fi
    # The fallback is generated from the unit just installed (with this clone's generator:
    # a previous release being put back may predate it).
    if [[ $DRY_RUN -eq 1 ]]; then
        printf '    + sh %q <%q >%q\n' "$REPO/rpi/last-good-unit" "$DEST_UNIT" "$DEST_FALLBACK_UNIT"
    else
        sh "$REPO/rpi/last-good-unit" <"$DEST_UNIT" >"$DEST_FALLBACK_UNIT.tmp"
        chmod 0644 "$DEST_FALLBACK_UNIT.tmp"
        mv -f "$DEST_FALLBACK_UNIT.tmp" "$DEST_FALLBACK_UNIT"
    fi
    run install -D -m 0644 "$1/rpi/guardian.logrotate" "$DEST_LOGROTATE"
}

systemd_usable() {
    [[ -z "$PREFIX" && $USE_SYSTEMD -eq 1 && -d /run/systemd/system ]]
}

# Does the service answer? Active, not restarting, the settings page serving proxy.pac and
# the proxy port accepting connections, within START_TIMEOUT seconds.
service_answers() {
    local python="$DEST_VENV/bin/python" restarts_before="$1"
    local deadline=$((SECONDS + START_TIMEOUT)) restarts
    while ((SECONDS < deadline)); do
        restarts="$(systemctl show -p NRestarts --value guardian 2>/dev/null || echo 0)"
        if [[ "$(systemctl is-active guardian 2>/dev/null)" == failed || "${restarts:-0}" -gt "$restarts_before" ]]; then
            return 1
        fi
        if systemctl is-active --quiet guardian && "$python" - "$DEST_CONFIG" <<'EOF' >/dev/null 2>&1; then
import socket, sys, urllib.request
from guardian.config import load_config
c = load_config(sys.argv[1])
def local(host):
    return {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
socket.create_connection((local(c.proxy.listen.host), c.proxy.listen.port), timeout=2).close()
host = local(c.web.listen.host)
host = f"[{host}]" if ":" in host else host
with urllib.request.urlopen(f"http://{host}:{c.web.listen.port}/proxy.pac", timeout=3) as r:
    sys.exit(0 if r.status == 200 and b"FindProxyForURL" in r.read() else 1)
EOF
            return 0
        fi
        sleep 1
    done
    return 1
}

# Why the service does not answer, in words: the ports other programs hold, the journal.
explain_failure() {
    local proxy_port web_port port holder said=0
    read -r _ proxy_port _ web_port < <(listen_addresses)
    for port in "$proxy_port" "$web_port"; do
        holder="$(port_holder "$port")"
        if [[ -n "$holder" ]]; then
            printf '  port %s is in use by %s\n' "$port" "$holder" >&2
            said=1
        fi
    done
    [[ $said -eq 1 ]] && printf '  Stop that program (or give it another port), and Guardian starts by itself within seconds.\n' >&2
    printf '  The service log says:\n' >&2
    journalctl -u guardian -n 12 -o cat --no-pager 2>/dev/null | grep -v '^Stopped\|^Started\|^Stopping' |
        tail -n 8 | sed 's/^/    /' >&2 || true
}

# Start (or restart) the service and check it answers; on an update that does not answer,
# put the previous release back. Returns 0 when running, 1 when skipped.
start_service() {
    local previous="$1" new="$2" restarts
    step "Service"
    if [[ -n "$PREFIX" ]]; then
        note "skipped (--prefix): nothing is started from a staged install"
        return 1
    fi
    if [[ $USE_SYSTEMD -eq 0 ]]; then
        note "skipped (--no-systemd)"
        return 1
    fi
    if [[ ! -d /run/systemd/system ]]; then
        note "skipped: systemd is not running here (a container?)"
        return 1
    fi
    run systemctl daemon-reload
    run systemctl enable guardian
    [[ $DRY_RUN -eq 0 ]] || { run systemctl restart guardian; return 0; }
    systemctl reset-failed guardian >/dev/null 2>&1 || true
    restarts="$(systemctl show -p NRestarts --value guardian 2>/dev/null || echo 0)"
    systemctl restart guardian || true
    if service_answers "${restarts:-0}"; then
        note "running, and answering on both ports"
        return 0
    fi
    if [[ -n "$previous" && "$previous" != "$new" && -f "$DEST_RELEASES/$previous/.complete" ]]; then
        printf 'install.sh: the new version stopped or did not answer within %s s; going back to the previous one.\n' "$START_TIMEOUT" >&2
        explain_failure
        switch_to "$previous"
        install_units "$DEST_RELEASES/$previous/src"
        systemctl daemon-reload
        systemctl reset-failed guardian >/dev/null 2>&1 || true
        restarts="$(systemctl show -p NRestarts --value guardian 2>/dev/null || echo 0)"
        systemctl restart guardian || true
        if service_answers "${restarts:-0}"; then
            rm -rf "${DEST_RELEASES:?}/$new"
            die "update failed: the previous version ($previous) is running again, unchanged. Nothing else was changed."
        fi
        die "update failed, and the previous version ($previous) does not answer either; see: systemctl status guardian"
    fi
    printf '\ninstall.sh: Guardian is installed but its service does not run.\n' >&2
    explain_failure
    die "the service did not start (systemctl status guardian)"
}

summary() {
    local started="$1" address proxy_port web_port code="" unknown="<this Pi's address>"
    address="$(hostname -I 2>/dev/null | awk '{print $1}')" || true
    address="${address:-$unknown}"
    read -r _ proxy_port _ web_port < <(listen_addresses)
    echo
    if [[ $DRY_RUN -eq 1 ]]; then
        echo "Dry run: nothing was changed."
        return
    fi
    local plain="It runs as plain Python, more slowly: the warning above says why and how to try again."
    if [[ -n "$PREFIX" ]]; then
        echo "Guardian is staged under $PREFIX (nothing outside it was changed)."
        [[ -z "$PLAIN_PYTHON" ]] || echo "$plain"
        return
    fi
    echo "Guardian is installed: version $("$DEST_VENV/bin/guardian" --version 2>/dev/null | sed 's/^guardian //')."
    [[ -z "$PLAIN_PYTHON" ]] || echo "$plain"
    if [[ "$started" -ne 1 ]]; then
        echo
        echo "It is not running. Start it with systemd (sudo systemctl enable --now guardian), or by hand:"
        echo "    sudo -u $SERVICE_USER $APP_DIR/venv/bin/guardian serve --config $ETC_DIR/guardian.toml"
    fi
    cat <<EOF

  Settings page:  http://$address:$web_port/
  Proxy:          $address:$proxy_port   (HTTP and HTTPS proxy for every device)
  PAC file:       http://$address:$web_port/proxy.pac
EOF
    if [[ -f "$DEST_DATA/admin.json" ]]; then
        echo
        echo "The settings page's password is set (change it there, or: sudo guardian set-password)."
        return
    fi
    [[ "$started" -ne 1 ]] || code="$(cat "$DEST_DATA/setup-code" 2>/dev/null)" || code=""
    cat <<EOF

Set the settings page's password first, either way:
  - open http://$address:$web_port/setup and enter the one-time set-up code${code:+ $code}
    (to see it again: sudo guardian setup-code)
  - or here:  sudo guardian set-password

Then the settings page's "Set up" page shows how to point each device at the proxy.
Configuration: $ETC_DIR/guardian.toml    Data: $DATA_DIR    Logs: sudo journalctl -u guardian
EOF
}

# A release left half-built (an error, Ctrl-C) is removed on the way out.
on_exit() {
    if [[ -n "$BUILDING" && $DRY_RUN -eq 0 ]]; then
        rm -rf -- "$BUILDING" 2>/dev/null || true
    fi
}

on_interrupt() {
    trap - INT TERM
    printf '\ninstall.sh: interrupted. What is in use was not changed half-way; run it again to finish.\n' >&2
    exit 130
}

install_main() {
    if [[ $DRY_RUN -eq 1 ]]; then
        echo "Dry run: printing the steps; nothing is changed."
    fi
    step "Checks"
    check_root
    check_debian
    check_repo
    check_python
    check_user
    check_existing_config
    check_ports
    take_lock
    note "installing $REPO${PREFIX:+ under $PREFIX}"
    trap on_exit EXIT
    trap on_interrupt INT TERM

    install_venv_package
    install_build_tools
    create_user
    local previous id
    previous="$(current_release)"
    id="$(date -u +%Y%m%d-%H%M%S)-$$"
    build_release "$id"
    install_cli
    install_config
    create_data_dir
    install_units "$REPO"
    step "Switching to the new version"
    switch_to "$id"
    local started=0
    if start_service "$previous" "$id"; then
        started=1
    fi
    prune_releases "$id" "$previous"
    summary "$started"
}

# ---------------------------------------------------------------- uninstall

uninstall_main() {
    step "Checks"
    check_root
    take_lock
    if systemd_usable || [[ $DRY_RUN -eq 1 && -z "$PREFIX" ]]; then
        step "Stopping the service"
        if [[ -e "$DEST_UNIT" ]]; then
            run systemctl disable --now guardian || true
        fi
        if [[ -e "$DEST_FALLBACK_UNIT" ]]; then
            run systemctl stop guardian-last-good || true
        fi
    fi
    step "Removing the program"
    if [[ -d "$DEST_DROPINS" || -d "$DEST_FALLBACK_DROPINS" ]]; then
        note "removing the local service changes in $DEST_DROPINS (made with systemctl edit guardian)"
    fi
    run rm -rf "$DEST_UNIT" "$DEST_DROPINS" "$DEST_FALLBACK_UNIT" "$DEST_FALLBACK_DROPINS" "$DEST_LOGROTATE" "$DEST_BIN"
    if systemd_usable; then
        run systemctl daemon-reload
        run systemctl reset-failed guardian guardian-last-good 2>/dev/null || true
    fi
    local apt_added=""
    [[ -f "$DEST_APT_NOTE" ]] && apt_added="$(sort -u "$DEST_APT_NOTE" | tr '\n' ' ')"
    run rm -rf "$DEST_APP"
    if [[ $PURGE -eq 1 ]]; then
        step "Removing the settings, the data and the user"
        run rm -rf "$DEST_ETC" "$DEST_DATA"
        if [[ -z "$PREFIX" ]] && id -u "$SERVICE_USER" >/dev/null 2>&1; then
            check_user
            run userdel "$SERVICE_USER"
            if getent group "$SERVICE_USER" >/dev/null 2>&1; then
                run groupdel "$SERVICE_USER"
            fi
        fi
    fi
    echo
    if [[ $DRY_RUN -eq 1 ]]; then
        echo "Dry run: nothing was changed."
        return
    fi
    echo "Guardian is removed."
    if [[ $PURGE -eq 0 ]]; then
        echo "Kept, for a later install: the settings in $ETC_DIR, the lists, request log and"
        echo "password in $DATA_DIR, and the user '$SERVICE_USER' who owns them."
        echo "To remove those too: sudo ./install.sh --uninstall --purge"
    fi
    if [[ -n "$apt_added" ]]; then
        echo "install.sh installed these Debian packages, which stay: $apt_added"
        echo "If nothing else needs them: sudo apt-get remove ${apt_added}&& sudo apt-get autoremove"
    fi
    echo "Devices still set to use this Pi as their proxy lose the web: take the proxy setting off them."
}

# Run, or when sourced (the tests do, to try single steps) only define the functions.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    if [[ $UNINSTALL -eq 1 ]]; then
        uninstall_main
    else
        install_main
    fi
fi
