"""install.sh and the Raspberry Pi files in rpi/, without touching the machine running the tests.

- The script is checked with `bash -n` and, when installed, shellcheck.
- `--dry-run` prints every step; the plan is checked both staged (`--prefix`) and for the
  real system (it only reads the system: `id`, `systemctl is-active`).
- Preconditions (Python version, an existing configuration the new code rejects, root)
  stop the script before it changes anything.
- A real install into a `--prefix` (no user, no chown, no apt, no systemd) builds the
  virtual environment with pip, so it needs the package index; it is skipped offline.
  The installed `guardian serve` then runs once with the production configuration.
- The unit file, logrotate rules and production configuration are parsed and checked
  against what Guardian actually does (config keys, the access log's path, the CLI).
"""

from __future__ import annotations

import configparser
import filecmp
import grp
import json
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from guardian.cli import build_parser
from guardian.config import Address, default_config_text, load_config, parse_config
from tests.support.build import compiled_sources
from tests.support.serve import free_port, wait_port

REPO = Path(__file__).resolve().parents[1]
INSTALL = REPO / "install.sh"
RPI = REPO / "rpi"
BASH = shutil.which("bash") or "/bin/bash"


def install(*args: str, env: dict[str, str] | None = None, timeout: float = 60,
            user: str | None = None, cwd: Path | str = "/") -> subprocess.CompletedProcess[str]:
    command = [BASH, str(INSTALL), *args]
    if user:
        command = ["runuser", "-u", user, "--", *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          env={**os.environ, **(env or {})}, check=False)


def commands(output: str) -> list[list[str]]:
    """The commands a dry run prints (lines starting with '+'), split like the shell would."""
    return [shlex.split(line.strip()[1:]) for line in output.splitlines() if line.strip().startswith("+ ")]


def unit() -> configparser.ConfigParser:
    """The unit file's sections; a key systemd allows several times (see `directives`) keeps its last value."""
    parser = configparser.ConfigParser(interpolation=None, strict=False, empty_lines_in_values=False)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read(RPI / "guardian.service", encoding="utf-8")
    return parser


# ---------------------------------------------------------------- the script itself


def test_bash_syntax():
    for script in (INSTALL, RPI / "guardian-cli", RPI / "last-good-unit"):
        subprocess.run([BASH, "-n", str(script)], check=True)
        assert os.access(script, os.X_OK), f"{script} is not executable"


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_shellcheck_clean():
    done = subprocess.run(["shellcheck", str(INSTALL), str(RPI / "guardian-cli"), str(RPI / "pi-test.sh"),
                           str(RPI / "last-good-unit")],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_help_and_unknown_option():
    done = install("--help")
    assert done.returncode == 0
    for option in ("--prefix DIR", "--no-systemd", "--dry-run"):
        assert option in done.stdout
    done = install("--frobnicate")
    assert done.returncode == 2
    assert "unknown option: --frobnicate" in done.stderr


def test_dry_run_into_prefix_prints_the_steps_and_changes_nothing(tmp_path):
    prefix = tmp_path / "root"
    done = install("--dry-run", "--prefix", str(prefix))
    assert done.returncode == 0, done.stderr
    assert not prefix.exists()
    out = done.stdout
    steps = [line[4:] for line in out.splitlines() if line.startswith("==> ")]
    assert [s.split()[0] for s in steps] == [
        "Checks", "Python's", "C", "System", "New", "Command", "Configuration", "Data", "systemd", "Switching",
        "Service",
    ]
    assert "skipped (--prefix)" in out.split("==> System user")[1].split("==>")[0]
    run = commands(out)
    programs = {argv[0] for argv in run}
    # A staged install creates no user, changes no owner, and leaves apt and systemd alone.
    assert not programs & {"useradd", "chown", "apt-get", "systemctl"}
    release = next(argv[-1] for argv in run if argv[:3] == [os.environ.get("PYTHON", "python3"), "-m", "venv"])
    release = Path(release).parent
    assert release.parent == prefix / "opt/guardian/releases"
    src, venv = release / "src", release / "venv"
    # the pinned versions, each checked against its hash, then Guardian itself with nothing resolved anew
    pip = [argv[argv[0] == "nice":] for argv in run]
    pip = [argv for argv in pip if argv[:4] == [str(venv / "bin/python"), "-m", "pip", "install"]]
    assert pip[0][-4:] == ["--require-hashes", "--no-deps", "-r", str(REPO / "rpi/requirements.txt")]
    # the build (a compile of the request path) gives way to the running service
    assert ["nice", *pip[1]] in run
    assert pip[1][-4:] == ["--no-deps", "--no-build-isolation", "--editable", str(src)] and "--no-index" in pip[1]
    # the switch: one rename of the `current` symlink, src and venv through it
    assert ["ln", "-sfn", f"releases/{release.name}", str(prefix / "opt/guardian/current.new")] in run
    assert ["mv", "-T", str(prefix / "opt/guardian/current.new"), str(prefix / "opt/guardian/current")] in run
    assert ["ln", "-sfn", "current/src", str(prefix / "opt/guardian/src")] in run
    assert ["install", "-m", "0640", str(RPI / "guardian.toml"), str(prefix / "etc/guardian/guardian.toml")] in run
    assert ["install", "-d", "-m", "0750", str(prefix / "var/lib/guardian")] in run
    assert ["install", "-D", "-m", "0644", str(RPI / "guardian.service"),
            str(prefix / "etc/systemd/system/guardian.service")] in run
    assert ["install", "-D", "-m", "0644", str(RPI / "guardian.logrotate"),
            str(prefix / "etc/logrotate.d/guardian")] in run
    units = prefix / "etc/systemd/system"
    assert ["sh", str(RPI / "last-good-unit"), f"<{units / 'guardian.service'}",
            f">{units / 'guardian-last-good.service'}"] in run
    assert ["install", "-D", "-m", "0755", str(RPI / "guardian-cli"), str(prefix / "usr/local/bin/guardian")] in run
    copy = " ".join(" ".join(argv) for argv in run if argv[0] in ("rsync", "tar"))
    for excluded in (".git", ".venv", ".guardian-data"):
        assert f"--exclude={excluded}" in copy
    assert "Dry run: nothing was changed." in out


def test_dry_run_for_the_real_system_names_the_real_paths():
    """Only reads the system; as any user (a dry run does not need root)."""
    done = install("--dry-run")
    assert done.returncode == 0, done.stderr
    run = commands(done.stdout)
    assert any(argv[-1].startswith("/opt/guardian/releases/") and argv[-2] == "--editable" for argv in run)
    assert ["install", "-d", "-o", "guardian", "-g", "guardian", "-m", "0750", "/var/lib/guardian"] in run
    assert ["install", "-D", "-m", "0644", str(RPI / "guardian.service"), "/etc/systemd/system/guardian.service"] in run
    # The settings page saves the configuration beside itself: the directory is the service's.
    assert ["chown", "guardian:guardian", "/etc/guardian", "/etc/guardian/guardian.toml"] in run
    if subprocess.run(["id", "-u", "guardian"], capture_output=True, check=False).returncode != 0:
        useradd = next(argv for argv in run if argv[0] == "useradd")
        assert useradd[-1] == "guardian"
        assert {"--system", "--no-create-home"} <= set(useradd)
        assert useradd[useradd.index("--home-dir") + 1] == "/var/lib/guardian"
        assert useradd[useradd.index("--shell") + 1] == "/usr/sbin/nologin"
    if Path("/run/systemd/system").is_dir():
        assert ["systemctl", "daemon-reload"] in run
    else:
        assert "systemd is not running here" in done.stdout


def test_no_systemd_option_skips_the_service(tmp_path):
    done = install("--dry-run", "--no-systemd")
    assert done.returncode == 0, done.stderr
    assert "skipped (--no-systemd)" in done.stdout
    assert not any(argv[0] == "systemctl" for argv in commands(done.stdout))


def test_an_existing_configuration_is_kept(tmp_path):
    config = tmp_path / "etc/guardian/guardian.toml"
    config.parent.mkdir(parents=True)
    config.write_text('data_dir = "/srv/guardian"\n')
    done = install("--dry-run", "--prefix", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "is valid for this version" in done.stdout
    assert "kept as it is" in done.stdout
    assert not any(argv[:1] == ["install"] and argv[-1] == str(config) for argv in commands(done.stdout))


def test_an_existing_configuration_the_new_code_rejects_stops_before_any_change(tmp_path):
    config = tmp_path / "etc/guardian/guardian.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[proxy]\nlisten = "everywhere"\n')
    done = install("--prefix", str(tmp_path))
    assert done.returncode == 1
    assert "proxy.listen" in done.stderr and "nothing has been changed yet" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["etc"]


def test_not_a_debian_system_is_refused(tmp_path):
    release = tmp_path / "os-release"
    release.write_text('ID=fedora\nPRETTY_NAME="Fedora Linux 40"\n')
    done = install("--dry-run", "--prefix", str(tmp_path / "root"), env={"OS_RELEASE": str(release)})
    assert done.returncode == 1
    assert "Debian-based" in done.stderr and "Fedora Linux 40" in done.stderr
    release.write_text('ID=raspbian\nID_LIKE=debian\nPRETTY_NAME="Raspbian GNU/Linux 12 (bookworm)"\n')
    done = install("--dry-run", "--prefix", str(tmp_path / "root"), env={"OS_RELEASE": str(release)})
    assert done.returncode == 0, done.stderr
    assert "Raspbian GNU/Linux 12" in done.stdout


def _fake_tools(tmp_path: Path, getent_passwd: str) -> dict[str, str]:
    """A PATH whose `getent` and `id` see a `guardian` user described by GETENT_PASSWD."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = (f'#!/bin/sh\n[ "$1 $2" = "passwd guardian" ] && echo \'{getent_passwd}\' && exit 0\n'
              'exec /usr/bin/getent "$@"\n')
    (bin_dir / "getent").write_text(script)
    (bin_dir / "getent").chmod(0o755)
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}"}


def test_a_guardian_user_that_is_not_guardians_is_refused(tmp_path):
    env = _fake_tools(tmp_path, "guardian:x:1001:1001:Someone:/home/guardian:/bin/bash")
    done = install("--dry-run", env=env)
    assert done.returncode == 1
    assert "already exists (uid 1001, home /home/guardian, shell /bin/bash)" in done.stderr
    assert "will not take it over" in done.stderr
    assert "==> System user" not in done.stdout


def test_guardians_own_user_is_accepted(tmp_path):
    env = _fake_tools(tmp_path, "guardian:x:998:998:Guardian web proxy:/var/lib/guardian:/usr/sbin/nologin")
    done = install("--dry-run", env=env)
    assert done.returncode == 0, done.stderr


def test_two_runs_at_once_the_second_stops(tmp_path):
    prefix = tmp_path / "root"
    prefix.mkdir()
    lock = prefix / ".guardian-install.lock"
    with open(lock, "w") as held:
        holder = subprocess.Popen(["flock", "--no-fork", str(lock), "sleep", "30"], stdout=held)
        try:
            time.sleep(0.3)
            done = install("--prefix", str(prefix), "--no-systemd")
        finally:
            holder.kill()
            holder.wait()
    assert done.returncode == 1
    assert "another install.sh is running" in done.stderr
    assert sorted(p.name for p in prefix.iterdir()) == [".guardian-install.lock"]


def test_option_mistakes(tmp_path):
    done = install("--purge")
    assert done.returncode == 2 and "--purge goes with --uninstall" in done.stderr
    done = install("--wheels", str(tmp_path / "none"), "--dry-run")
    assert done.returncode == 1 and "no such directory" in done.stderr
    done = install("--help")
    for option in ("--wheels DIR", "--uninstall", "--purge"):
        assert option in done.stdout


def test_the_pinned_requirements_cover_pyproject_with_hashes():
    import tomllib

    text = (RPI / "requirements.txt").read_text()
    pins: dict[str, str] = {}
    hashes: dict[str, int] = {}
    name = ""
    for line in text.splitlines():
        if line and not line.startswith((" ", "#")):
            name, _, version = line.rstrip(" \\").partition("==")
            assert version, f"not pinned to one version: {line}"
            pins[name.lower()] = version
        elif line.strip().startswith("--hash=sha256:"):
            assert len(line.strip().rstrip(" \\")) == len("--hash=sha256:") + 64, line
            hashes[name.lower()] = hashes.get(name.lower(), 0) + 1
    assert set(pins) == set(hashes), "every pinned package has hashes"
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    wanted = project["project"]["dependencies"] + project["build-system"]["requires"]
    from packaging.requirements import Requirement

    for requirement in map(Requirement, wanted):
        assert requirement.name.lower() in pins, f"{requirement.name} is not in rpi/requirements.txt: run make pin"
        assert requirement.specifier.contains(pins[requirement.name.lower()]), (
            f"{requirement.name}=={pins[requirement.name.lower()]} no longer matches pyproject.toml: run make pin")


def test_too_old_or_missing_python_is_refused(tmp_path):
    fake = tmp_path / "python3"
    fake.write_text('#!/bin/sh\ncase "$*" in *">= (3, 11)"*) exit 1 ;; esac\necho 3.9\n')
    fake.chmod(0o755)
    done = install("--dry-run", "--prefix", str(tmp_path / "root"), env={"PYTHON": str(fake)})
    assert done.returncode == 1
    assert "needs Python 3.11 or newer" in done.stderr and "is 3.9" in done.stderr
    done = install("--dry-run", "--prefix", str(tmp_path / "root"), env={"PYTHON": str(tmp_path / "nothing")})
    assert done.returncode == 1
    assert "not found" in done.stderr


def test_installing_inside_the_clone_is_refused():
    done = install("--dry-run", "--prefix", str(REPO / ".guardian-data" / "stage"))
    assert done.returncode == 1
    assert "inside the clone" in done.stderr


def test_a_real_install_needs_root():
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser to drop privileges")
        done = install(user="nobody")
        if "Permission denied" in done.stderr:
            pytest.skip("the clone is not readable by nobody")
    else:
        done = install()
    assert done.returncode == 1
    assert "run as root" in done.stderr


def _summary(data: Path) -> str:
    script = f'source {shlex.quote(str(INSTALL))}; DEST_DATA={shlex.quote(str(data))}; summary 1'
    done = subprocess.run([BASH, "-c", script], capture_output=True, text=True, check=False, cwd=data)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_summary_gives_the_set_up_code_until_a_password_is_set(tmp_path):
    (tmp_path / "setup-code").write_text("abcd-efgh-jkmn\n")
    out = _summary(tmp_path)
    assert "enter the one-time set-up code abcd-efgh-jkmn" in out
    assert "sudo guardian setup-code" in out and "sudo guardian set-password" in out
    assert ":3128" in out and ":8080/" in out and "/proxy.pac" in out
    # the settings page's address on the home network, not loopback
    address = subprocess.run(["hostname", "-I"], capture_output=True, text=True, check=False).stdout.split()
    if address:
        assert f"http://{address[0]}:8080/setup" in out
    (tmp_path / "admin.json").write_text("{}")
    out = _summary(tmp_path)
    assert "password is set" in out
    assert "set-up code" not in out and "Set the settings page's password first" not in out


def test_the_copy_leaves_out_version_control_and_local_state(tmp_path):
    script = f'source {shlex.quote(str(INSTALL))}; copy_source {shlex.quote(str(tmp_path / "copy"))}'
    done = subprocess.run([BASH, "-c", script], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    names = {str(p.relative_to(tmp_path / "copy")) for p in (tmp_path / "copy").rglob("*")}
    assert {"guardian/__init__.py", "lists/starter.txt", "rpi/guardian.toml", "rpi/requirements.txt",
            "install.sh"} <= names
    for top in names:
        parts = Path(top).parts
        assert not {".git", ".venv", ".guardian-data", "__pycache__"} & set(parts), top
        assert not parts[0].endswith(".egg-info"), top
        # each release compiles its own request path: no compiled module or record is copied
        assert not top.endswith(".so") and top != "guardian/compiled_sources.json", top


# ---------------------------------------------------------------- a real install into a prefix


def _index_reachable() -> bool:
    if os.environ.get("PIP_NO_INDEX"):
        return False
    try:
        socket.create_connection(("pypi.org", 443), timeout=3).close()
    except OSError:
        return False
    return True


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    if not _index_reachable():
        pytest.skip("a real install builds a virtual environment with pip: needs the package index (pypi.org)")
    prefix = tmp_path_factory.mktemp("staged")
    # from the clone, as the docs say (`cd guardian && sudo ./install.sh`): its guardian/ folder
    # is not what the installed venv runs
    done = install("--prefix", str(prefix), "--no-systemd", timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    STAGED_OUTPUT.append(done.stdout + done.stderr)
    return prefix


STAGED_OUTPUT: list[str] = []  # what the staged install printed
COMPILED = compiled_sources()  # what setup.py compiles

# Run in the installed venv: where the compiled request path's modules come from.
COMPILED_PROBE = """
import importlib, json, sys
from guardian.compiled import stale_sources
files = {name: importlib.import_module(name[:-3].replace("/", ".")).__file__ for name in sys.argv[1:]}
print(json.dumps({"files": files, "stale": stale_sources()}))
"""


def compiled_files(venv: Path) -> dict[str, object]:
    probe = subprocess.run([str(venv / "bin/python"), "-c", COMPILED_PROBE, *COMPILED], capture_output=True,
                           text=True, check=False, cwd="/")
    assert probe.returncode == 0, probe.stderr
    return json.loads(probe.stdout)


@pytest.mark.timeout(900)
def test_real_install_into_prefix(staged):
    src, venv, etc = staged / "opt/guardian/src", staged / "opt/guardian/venv", staged / "etc/guardian"
    assert (src / "lists/catalog.toml").is_file()
    assert not (src / ".git").exists() and not (src / ".venv").exists() and not (src / ".guardian-data").exists()
    config = etc / "guardian.toml"
    assert config.read_text() == (RPI / "guardian.toml").read_text()
    assert config.stat().st_mode & 0o777 == 0o640
    assert (staged / "var/lib/guardian").stat().st_mode & 0o777 == 0o750
    assert filecmp.cmp(staged / "etc/systemd/system/guardian.service", RPI / "guardian.service", shallow=False)
    assert (staged / "etc/systemd/system/guardian-last-good.service").read_text() == last_good_unit_text()
    assert filecmp.cmp(staged / "etc/logrotate.d/guardian", RPI / "guardian.logrotate", shallow=False)
    assert os.access(staged / "usr/local/bin/guardian", os.X_OK)
    # The editable install finds the copy's lists/ folder, and every dependency is there.
    probe = subprocess.run(
        [str(venv / "bin/python"), "-c",
         "import guardian.service, guardian.web; from guardian.lists.catalog import lists_dir; print(lists_dir())"],
        capture_output=True, text=True, check=False, cwd="/")
    assert probe.returncode == 0, probe.stderr
    assert Path(probe.stdout.strip()).resolve() == (src / "lists").resolve()
    check = subprocess.run([str(venv / "bin/guardian"), "config", "check", "--config", str(config)],
                           capture_output=True, text=True, check=False, cwd="/")
    assert check.returncode == 0, check.stderr
    assert 'data_dir = "/var/lib/guardian"' in check.stdout


@pytest.mark.timeout(900)
@pytest.mark.skipif(shutil.which("gcc") is None, reason="no C compiler here (CI installs gcc and python3-dev)")
def test_the_install_compiles_the_request_path(staged):
    src = (staged / "opt/guardian/src").resolve()
    found = compiled_files(staged / "opt/guardian/venv")
    assert len(COMPILED) >= 20 and found["stale"] == []
    for name, file in found["files"].items():
        assert file.endswith(".so") and Path(file).resolve().parent == (src / name).parent, (name, file)
    # mypyc's C sources, mypy's cache and the build's log are not kept; nothing said the install is slower
    assert not (src / "build").exists() and not (src / ".mypy_cache").exists()
    assert not (src.parent / "compile.log").exists()
    assert "compiled: the faster version" in STAGED_OUTPUT[0] and "plain Python" not in STAGED_OUTPUT[0]


@pytest.mark.timeout(900)
def test_a_failed_compile_installs_plain_python_and_says_so(tmp_path):
    """The compiler stops with an error (CC=false, as setuptools' build honours CC)."""
    if not _index_reachable():
        pytest.skip("a real install builds a virtual environment with pip: needs the package index (pypi.org)")
    done = install("--prefix", str(tmp_path), "--no-systemd", env={"CC": "false"}, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    release = (tmp_path / "opt/guardian/current").resolve()
    assert "compiled version could not be built:\n    the build stopped with an error" in done.stderr
    assert "it works the same, only more slowly" in done.stderr and "sudo ./install.sh" in done.stderr
    assert f"(its messages: {release}/compile.log)" in done.stderr
    assert "It runs as plain Python, more slowly" in done.stdout
    assert "error" in (release / "compile.log").read_text().lower()
    found = compiled_files(tmp_path / "opt/guardian/venv")
    assert all(file.endswith(".py") for file in found["files"].values()), found
    assert not list((release / "src").rglob("*.so")) and not (release / "src/build").exists()
    assert not (release / "src/.mypy_cache").exists()
    check = subprocess.run([str(tmp_path / "opt/guardian/venv/bin/guardian"), "config", "check", "--config",
                            str(tmp_path / "etc/guardian/guardian.toml")], capture_output=True, text=True,
                           check=False, cwd="/")
    assert check.returncode == 0, check.stderr


@pytest.mark.timeout(900)
def test_installed_service_starts_and_stops_on_sigterm(staged, tmp_path):
    """ExecStart's command line, with the production file, only moved to loopback and a temporary data_dir."""
    argv = shlex.split(unit()["Service"]["ExecStart"])
    argv[0] = str(staged / argv[0].lstrip("/"))
    argv[argv.index("--config") + 1] = str(staged / "etc/guardian/guardian.toml")
    port, web = free_port(), free_port()
    data = tmp_path / "data"
    argv += ["--listen", f"127.0.0.1:{port}", "--web-listen", f"127.0.0.1:{web}", "--data-dir", str(data)]
    log = tmp_path / "serve.log"
    stop_seconds = int(unit()["Service"]["TimeoutStopSec"])
    with open(log, "w") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path)
        try:
            assert wait_port(port, 60), log.read_text()
            # Signal handlers are in place once the start is logged as complete.
            deadline = time.monotonic() + 30
            while "settings page on" not in log.read_text() and time.monotonic() < deadline:
                time.sleep(0.05)
            proc.send_signal(signal.SIGTERM)
            # within the unit's TimeoutStopSec, or systemd would SIGKILL it
            code = proc.wait(stop_seconds)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    text = log.read_text()
    assert code == 0, text
    # What install.sh tells people to grep for, and the file logrotate rotates.
    assert "one-time set-up code" in text
    assert (data / "logs/access.log").is_file()


@pytest.mark.timeout(900)
def test_running_again_updates_the_code_and_keeps_the_configuration(staged):
    config = staged / "etc/guardian/guardian.toml"
    config.write_text(config.read_text() + "\n# edited by the household\n")
    stale = staged / "opt/guardian/src/guardian/removed_upstream.py"
    stale.write_text("")
    done = install("--prefix", str(staged), "--no-systemd", timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "kept as it is" in done.stdout
    assert config.read_text().endswith("# edited by the household\n")
    assert not stale.exists()
    again = subprocess.run([str(staged / "opt/guardian/venv/bin/guardian"), "--version"], capture_output=True,
                           text=True, check=False)
    assert again.returncode == 0 and again.stdout.startswith("guardian ")
    if (REPO / ".git").exists() and shutil.which("git"):
        assert "(commit " in again.stdout
    # the new version beside the previous one (kept for a roll-back), `current` on the new one
    releases = sorted(p.name for p in (staged / "opt/guardian/releases").iterdir())
    assert len(releases) == 2
    assert os.readlink(staged / "opt/guardian/current") in {f"releases/{r}" for r in releases}
    assert all((staged / "opt/guardian/releases" / r / ".complete").exists() for r in releases)


@pytest.mark.timeout(900)
def test_uninstall_keeps_settings_and_data_unless_purge(staged):
    (staged / "etc/systemd/system/guardian.service.d").mkdir(exist_ok=True)
    (staged / "etc/systemd/system/guardian.service.d/override.conf").write_text("[Service]\nEnvironment=X=1\n")
    (staged / "etc/systemd/system/guardian-last-good.service.d").mkdir(exist_ok=True)
    done = install("--uninstall", "--prefix", str(staged))
    assert done.returncode == 0, done.stdout + done.stderr
    for gone in ("opt/guardian", "etc/systemd/system/guardian.service", "etc/systemd/system/guardian.service.d",
                 "etc/systemd/system/guardian-last-good.service", "etc/logrotate.d/guardian", "usr/local/bin/guardian"):
        assert not (staged / gone).exists(), gone
    assert not (staged / "etc/systemd/system/guardian-last-good.service.d").exists()
    assert (staged / "etc/guardian/guardian.toml").is_file() and (staged / "var/lib/guardian").is_dir()
    assert "Kept, for a later install" in done.stdout and "--uninstall --purge" in done.stdout
    assert "systemctl edit" in done.stdout
    done = install("--uninstall", "--purge", "--prefix", str(staged))
    assert done.returncode == 0, done.stdout + done.stderr
    assert not (staged / "etc/guardian").exists() and not (staged / "var/lib/guardian").exists()
    assert "Kept" not in done.stdout


# ---------------------------------------------------------------- the files in rpi/


def last_good_unit_text() -> str:
    """The fallback unit, as install.sh generates it from rpi/guardian.service."""
    with open(RPI / "guardian.service", encoding="utf-8") as main:
        return subprocess.run(["sh", str(RPI / "last-good-unit")], stdin=main, capture_output=True, text=True,
                              check=True).stdout


def sections(text: str) -> dict[str, list[str]]:
    """Each section's settings in order, comments and blank lines left out."""
    found: dict[str, list[str]] = {}
    current = ""
    for line in text.splitlines():
        if line.startswith("["):
            current = line.strip("[]")
            found[current] = []
        elif line.strip() and not line.startswith("#"):
            found[current].append(line)
    return found


def test_the_fallback_unit_is_the_main_unit_without_the_strict_mode():
    """guardian.service exits 2 on an invalid file and starts guardian-last-good.service, which runs
    the last-known-good copy with exactly the same settings and hardening."""
    main, fallback = sections((RPI / "guardian.service").read_text()), sections(last_good_unit_text())
    assert {"OnFailure=guardian-last-good.service", "OnFailureJobMode=fail"} <= set(main["Unit"])
    main_exec = next(line for line in main["Service"] if line.startswith("ExecStart="))
    assert main_exec.endswith(" --no-last-good")
    assert build_parser().parse_args(shlex.split(main_exec.split("=", 1)[1])[1:]).no_last_good
    # the same [Service] line for line, except the command without --no-last-good and the condition
    condition = next(line for line in fallback["Service"] if line.startswith("ExecCondition="))
    assert "ExecMainStatus guardian.service" in condition and "Result guardian.service" in condition
    assert [line for line in fallback["Service"] if line != condition] == [
        line.replace(" --no-last-good", "") for line in main["Service"]]
    fallback_exec = next(line for line in fallback["Service"] if line.startswith("ExecStart="))
    assert not build_parser().parse_args(shlex.split(fallback_exec.split("=", 1)[1])[1:]).no_last_good
    # it stops (and is stopped by) guardian.service, never loops, never starts at boot
    assert {"Conflicts=guardian.service", "After=guardian.service"} <= set(fallback["Unit"])
    assert not [line for line in fallback["Unit"] if line.startswith("OnFailure")]
    assert "Install" not in fallback and main["Install"] == ["WantedBy=multi-user.target"]
    assert "RestartPreventExitStatus=2" in fallback["Service"]  # no copy either: no restart loop


@pytest.mark.parametrize("result,status,runs", [
    ("exit-code", "2", True),     # an invalid file: the fallback serves the house
    ("exit-code", "1", False),    # a port in use: Restart= keeps trying, this is not for the fallback
    ("timeout", "9", False),      # a stop that ran into TimeoutStopSec: it was meant to stop
    ("signal", "2", False),       # killed by SIGINT: status 2, but not an invalid file
])
def test_the_fallback_starts_only_after_an_invalid_file(tmp_path, result, status, runs):
    """The fallback's ExecCondition, run by sh as systemd would, against what systemctl reports."""
    line = next(line for line in last_good_unit_text().splitlines() if line.startswith("ExecCondition="))
    argv = shlex.split(line.split("=", 1)[1].lstrip("+").replace("$$", "$"))
    fake = tmp_path / "systemctl"
    fake.write_text(f'#!/bin/sh\ncase "$*" in\n  "show -P Result guardian.service") echo {result} ;;\n'
                    f'  "show -P ExecMainStatus guardian.service") echo {status} ;;\n  *) exit 1 ;;\nesac\n')
    fake.chmod(0o755)
    done = subprocess.run(argv, env={"PATH": f"{tmp_path}:/usr/bin:/bin"}, check=False)
    assert (done.returncode == 0) is runs


def directives(key: str) -> list[str]:
    """Every value of KEY in the unit file, in order."""
    return [line.split("=", 1)[1] for line in (RPI / "guardian.service").read_text().splitlines()
            if line.startswith(f"{key}=")]


def test_unit_hardening():
    """What the test-bed's `systemd-analyze security` scores; each was checked not to break a feature."""
    service = unit()["Service"]
    for key, value in {"SystemCallArchitectures": "native", "MemoryDenyWriteExecute": "yes",
                       "ProtectHostname": "yes", "RemoveIPC": "yes", "ProtectProc": "invisible",
                       "PrivateUsers": "yes", "PrivateDevices": "yes", "ProtectKernelTunables": "yes",
                       "RestrictNamespaces": "yes", "LockPersonality": "yes"}.items():
        assert service.get(key) == value, key
    assert directives("SystemCallFilter") == ["@system-service", "~@privileged @resources", "sched_setaffinity"]
    # devices are identified from /proc/net/arp: the process-only view of /proc would hide it
    assert not directives("ProcSubset")
    # a 512 MB Pi Zero 2 W: the limit leaves room for the measured footprint plus the cache
    config = load_config(RPI / "guardian.toml")
    assert service["MemoryMax"] == "320M" and service["MemoryHigh"] == "240M"
    assert config.cache.max_bytes == 32 * 2**20
    assert set(service["RestrictAddressFamilies"].split()) == {"AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK"}


def test_systemd_unit():
    service = unit()["Service"]
    argv = shlex.split(service["ExecStart"])
    assert argv[:2] == ["/opt/guardian/venv/bin/guardian", "serve"]
    args = build_parser().parse_args(argv[1:])
    assert args.command == "serve" and args.config == "/etc/guardian/guardian.toml"
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert service["Type"] == "simple"
    assert service["User"] == "guardian"
    assert service["KillSignal"] == "SIGTERM"
    assert int(service["TimeoutStopSec"]) > 10  # Guardian's own grace for requests in flight
    assert service["Restart"] == "on-failure"
    assert int(service["LimitNOFILE"]) >= 65536
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert service["ProtectHome"] == "yes"
    assert service["PrivateTmp"] == "yes"
    assert service["CapabilityBoundingSet"] == "" and service["AmbientCapabilities"] == ""
    # data_dir and the directory the settings page saves guardian.toml into must be writable.
    config = load_config(RPI / "guardian.toml")
    writable = service["ReadWritePaths"].split()
    assert str(config.data_dir) in writable and "/etc/guardian" in writable
    assert unit()["Install"]["WantedBy"] == "multi-user.target"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_accepts_every_directive(tmp_path):
    # both units side by side, as installed: OnFailure= names the fallback
    shutil.copy(RPI / "guardian.service", tmp_path / "guardian.service")
    (tmp_path / "guardian-last-good.service").write_text(last_good_unit_text())
    done = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "guardian.service"),
                           str(tmp_path / "guardian-last-good.service")], capture_output=True, text=True, check=False)
    # The command itself is missing here (not installed); anything else is a mistake in the file.
    problems = [line for line in (done.stdout + done.stderr).splitlines()
                if line.strip() and "/opt/guardian/venv/bin/guardian" not in line]
    assert not problems, problems


@pytest.mark.skipif(shutil.which("logrotate") is None, reason="logrotate is not installed")
def test_logrotate_accepts_the_rules(tmp_path):
    """A debug run (changes nothing) on a copy pointed at a temporary file and the current user."""
    user, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    text = (RPI / "guardian.logrotate").read_text()
    text = text.replace("/var/lib/guardian/logs/", f"{tmp_path}/").replace("guardian guardian", f"{user} {group}")
    (tmp_path / "access.log").write_text("a line\n")
    (tmp_path / "rules").write_text(text)
    done = subprocess.run(["logrotate", "-d", "-s", str(tmp_path / "state"), str(tmp_path / "rules")],
                          capture_output=True, text=True, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0 and "error" not in output.lower(), output
    assert f"considering log {tmp_path}/access.log" in output


def test_logrotate_rules():
    text = (RPI / "guardian.logrotate").read_text()
    config = load_config(RPI / "guardian.toml")
    # The file the service writes: <data_dir>/logs/access.log
    assert f"{config.data_dir / 'logs' / 'access.log'} {{" in text
    directives = {line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")}
    assert {"weekly", "rotate 4", "compress", "delaycompress", "missingok", "notifempty", "postrotate",
            "endscript"} <= directives
    postrotate = text.split("postrotate", 1)[1].split("endscript", 1)[0]
    assert "systemctl kill" in postrotate and "-s USR1 guardian.service guardian-last-good.service" in postrotate
    # Guardian's own rotation must not rename access.log behind logrotate's back.
    assert config.proxy.access_log_keep == 0


def test_production_configuration_is_valid_and_faces_the_lan():
    config = load_config(RPI / "guardian.toml")
    assert config.data_dir == Path("/var/lib/guardian")
    assert config.proxy.listen == Address("0.0.0.0", 3128)
    assert config.web.listen == Address("0.0.0.0", 8080)
    # The same lists and default profile as the development defaults.
    defaults = parse_config(default_config_text())
    assert config.lists == defaults.lists
    assert config.profile("default").lists == ("starter", "easylist", "easyprivacy")
    assert config.profile("default") == defaults.profile("default")


def test_cli_wrapper_acts_on_the_installed_configuration():
    text = (RPI / "guardian-cli").read_text()
    assert text.startswith("#!/bin/sh\n")
    assert 'GUARDIAN_CONFIG="${GUARDIAN_CONFIG:-/etc/guardian/guardian.toml}"' in text
    assert "runuser -u guardian -- /opt/guardian/venv/bin/guardian" in text
    subprocess.run(["sh", "-n", str(RPI / "guardian-cli")], check=True)


@pytest.mark.timeout(300)
def test_ctrl_c_while_building_leaves_nothing_half_built(tmp_path):
    if not _index_reachable():
        pytest.skip("the build step runs pip: needs the package index (pypi.org)")
    prefix = tmp_path / "root"
    proc = subprocess.Popen([BASH, str(INSTALL), "--prefix", str(prefix), "--no-systemd"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd="/", start_new_session=True,
                            # as from a terminal: a test run started in the background ignores SIGINT
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    releases = prefix / "opt/guardian/releases"
    deadline = time.monotonic() + 120
    # interrupted while pip installs the pinned packages into the new release
    while time.monotonic() < deadline and proc.poll() is None:
        pip = subprocess.run(["pgrep", "-g", str(proc.pid), "-f", "pip install .*--require-hashes"],
                             capture_output=True, check=False)
        if pip.returncode == 0:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole foreground group
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert "interrupted" in err and "run it again" in err
    assert not any(releases.iterdir()), "a half-built release was left"
    assert not (prefix / "opt/guardian/current").exists()
