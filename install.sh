#!/usr/bin/env bash
# Install or update Guardian on Raspberry Pi OS (Debian bookworm), from a clone of the
# repository:
#
#     sudo ./install.sh
#
# Safe to run again: that is how Guardian is updated (git pull, then this). It never
# overwrites /etc/guardian/guardian.toml once it exists. See docs/install.md.
#
# Options:
#   --prefix DIR   stage everything under DIR (DIR/opt/guardian, DIR/etc/guardian, ...)
#                  instead of /. For testing: no root needed, no user is created, nothing
#                  is chown'ed, apt and systemd are left alone. Installed files still name
#                  the real paths (/opt/guardian, /etc/guardian), like DESTDIR.
#   --no-systemd   install the unit file but do not reload, enable or start it
#   --dry-run      print the steps and commands without changing anything
#   -h, --help     this text
#
# Environment: PYTHON (default python3), the interpreter the virtual environment uses.

set -euo pipefail
# Everything installed is readable by the service user (root's umask may be stricter).
umask 022

SERVICE_USER=guardian
PYTHON="${PYTHON:-python3}"
PREFIX=""
USE_SYSTEMD=1
DRY_RUN=0

usage() {
    sed -n '2,/^# Environment/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

die() {
    printf 'install.sh: error: %s\n' "$*" >&2
    exit 1
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
        --prefix)
            [[ $# -ge 2 && -n "$2" ]] || die "--prefix needs a directory"
            PREFIX="$2"
            shift 2
            ;;
        --prefix=*)
            PREFIX="${1#--prefix=}"
            [[ -n "$PREFIX" ]] || die "--prefix needs a directory"
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

if [[ -n "$PREFIX" ]]; then
    PREFIX="$(realpath -m -- "$PREFIX")"
    [[ "$PREFIX" != "/" ]] || PREFIX=""
fi

# The clone this script belongs to: what gets installed.
REPO="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"

# Real paths (what the installed files name) and where this run writes them.
APP_DIR=/opt/guardian
ETC_DIR=/etc/guardian
DATA_DIR=/var/lib/guardian
DEST_APP="$PREFIX$APP_DIR"
DEST_SRC="$DEST_APP/src"
DEST_VENV="$DEST_APP/venv"
DEST_ETC="$PREFIX$ETC_DIR"
DEST_CONFIG="$DEST_ETC/guardian.toml"
DEST_DATA="$PREFIX$DATA_DIR"
DEST_UNIT="$PREFIX/etc/systemd/system/guardian.service"
DEST_LOGROTATE="$PREFIX/etc/logrotate.d/guardian"
DEST_BIN="$PREFIX/usr/local/bin/guardian"

# Left out of the copy: version control, the developer's virtual environment, data and
# caches (anywhere), and build output at the top. *.egg-info is the editable install's
# metadata, which pip writes into the copy.
EXCLUDES=(.git .venv .guardian-data __pycache__ '*.pyc' .pytest_cache .ruff_cache)
TOP_EXCLUDES=(build dist '*.egg-info')

# ---------------------------------------------------------------- checks (read-only)

check_root() {
    if [[ -n "$PREFIX" ]]; then
        return
    fi
    if [[ $EUID -ne 0 ]]; then
        if [[ $DRY_RUN -eq 1 ]]; then
            note "(not root: fine for a dry run; the real install needs sudo)"
            return
        fi
        die "run as root: sudo $0 (or --prefix DIR to stage an install for testing)"
    fi
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
        rpi/guardian.logrotate rpi/guardian-cli; do
        [[ -e "$REPO/$path" ]] || die "$REPO/$path is missing: run install.sh from a complete Guardian clone"
    done
}

# An existing configuration must still load with the code about to be installed, or the
# restart at the end would fail; check it first, with the new code, before changing anything.
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
Fix $DEST_CONFIG (nothing has been changed yet), then run install.sh again." ;;
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
    # A fresh image may not have package lists yet; update only if the first try fails.
    if [[ $DRY_RUN -eq 1 ]]; then
        run apt-get install -y python3-venv
        return
    fi
    apt-get install -y python3-venv || { apt-get update && apt-get install -y python3-venv; }
    venv_available || die "python3-venv is installed but $PYTHON still cannot create a virtual environment"
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

# Copy with rsync when there is one (--delete drops files removed upstream), else build
# a fresh copy with tar and swap it in.
copy_source() {
    step "Source to $DEST_SRC"
    if [[ -e "$DEST_SRC" && "$(realpath -- "$DEST_SRC")" == "$REPO" ]]; then
        note "install.sh runs from $DEST_SRC itself: nothing to copy"
        return
    fi
    run mkdir -p "$DEST_APP"
    local exclude
    if command -v rsync >/dev/null 2>&1; then
        local args=(-a --delete --no-owner --no-group --chmod=go-w)
        for exclude in "${EXCLUDES[@]}"; do
            args+=("--exclude=$exclude")
        done
        for exclude in "${TOP_EXCLUDES[@]}"; do
            args+=("--exclude=/$exclude")
        done
        run rsync "${args[@]}" "$REPO/" "$DEST_SRC/"
    else
        local args=()
        for exclude in "${EXCLUDES[@]}"; do
            args+=("--exclude=$exclude")
        done
        for exclude in "${TOP_EXCLUDES[@]}"; do
            args+=("--exclude=./$exclude")
        done
        run rm -rf "$DEST_SRC.new"
        run mkdir -p "$DEST_SRC.new"
        if [[ $DRY_RUN -eq 1 ]]; then
            printf '    + tar -C %q' "$REPO"
            printf ' %q' "${args[@]}"
            printf ' -cf - . | tar -C %q --no-same-owner --no-same-permissions -xf -\n' "$DEST_SRC.new"
        else
            tar -C "$REPO" "${args[@]}" -cf - . | tar -C "$DEST_SRC.new" --no-same-owner --no-same-permissions -xf -
        fi
        run rm -rf "$DEST_SRC"
        run mv "$DEST_SRC.new" "$DEST_SRC"
    fi
}

create_venv() {
    step "Virtual environment $DEST_VENV"
    if [[ -x "$DEST_VENV/bin/python" ]] && "$DEST_VENV/bin/python" -c '' >/dev/null 2>&1; then
        note "exists"
    else
        # --clear: a venv left broken (say, by a Python upgrade) is made again
        run "$PYTHON" -m venv --clear "$DEST_VENV"
    fi
    # Editable, so the package finds the repository's lists/ folder beside it.
    run "$DEST_VENV/bin/python" -m pip install --disable-pip-version-check --quiet --editable "$DEST_SRC"
    # The service cannot write __pycache__ into /opt (read-only to it): compile now, or
    # every start on the Pi would compile everything again.
    run "$DEST_VENV/bin/python" -m compileall -q "$DEST_SRC/guardian"
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

install_units() {
    step "systemd unit $DEST_UNIT and logrotate rules $DEST_LOGROTATE"
    run install -D -m 0644 "$REPO/rpi/guardian.service" "$DEST_UNIT"
    run install -D -m 0644 "$REPO/rpi/guardian.logrotate" "$DEST_LOGROTATE"
}

start_service() {
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
    if systemctl is-active --quiet guardian; then
        # An update: the running service must pick up the new code.
        run systemctl enable guardian
        run systemctl restart guardian
    else
        run systemctl enable --now guardian
    fi
}

# The proxy and settings page ports from the configuration in force (3128 and 8080 when
# it cannot be read, as in a dry run).
ports() {
    local python="$DEST_VENV/bin/python"
    if [[ $DRY_RUN -eq 0 && -x "$python" && -f "$DEST_CONFIG" ]]; then
        "$python" -c '
import sys
from guardian.config import load_config
c = load_config(sys.argv[1])
print(c.proxy.listen.port, c.web.listen.port)
' "$DEST_CONFIG" 2>/dev/null && return
    fi
    echo "3128 8080"
}

summary() {
    local started="$1" address proxy_port web_port unknown="<this Pi's address>"
    address="$(hostname -I 2>/dev/null | awk '{print $1}')" || true
    address="${address:-$unknown}"
    read -r proxy_port web_port < <(ports)
    echo
    if [[ $DRY_RUN -eq 1 ]]; then
        echo "Dry run: nothing was changed."
        return
    fi
    if [[ -n "$PREFIX" ]]; then
        echo "Guardian is staged under $PREFIX (nothing outside it was changed)."
        return
    fi
    echo "Guardian is installed."
    if [[ "$started" -ne 1 ]]; then
        echo
        echo "It is not running. Start it with systemd (sudo systemctl enable --now guardian), or by hand:"
        echo "    sudo -u $SERVICE_USER $APP_DIR/venv/bin/guardian serve --config $ETC_DIR/guardian.toml"
    fi
    cat <<EOF

  Settings page:  http://$address:$web_port/
  Proxy:          $address:$proxy_port   (HTTP and HTTPS proxy for every device)
  PAC file:       http://$address:$web_port/proxy.pac

Set the settings page's password first, either way:
  - open http://$address:$web_port/setup and enter the one-time set-up code from
        sudo journalctl -u guardian | grep set-up
  - or here:  sudo guardian set-password

Then the settings page's "Set up" page shows how to point each device at the proxy.
Configuration: $ETC_DIR/guardian.toml    Data: $DATA_DIR    Logs: sudo journalctl -u guardian
EOF
}

main() {
    if [[ $DRY_RUN -eq 1 ]]; then
        echo "Dry run: printing the steps; nothing is changed."
    fi
    step "Checks"
    check_root
    check_repo
    check_python
    check_existing_config
    note "installing $REPO${PREFIX:+ under $PREFIX}"

    install_venv_package
    create_user
    copy_source
    create_venv
    install_cli
    install_config
    create_data_dir
    install_units
    local started=0
    if start_service; then
        started=1
    fi
    summary "$started"
}

# Run, or when sourced (the tests do, to try single steps) only define the functions.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    main
fi
