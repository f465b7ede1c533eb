"""`guardian <command>`: the command line.

Every command takes `--config PATH` and finds the file the same way as `guardian serve`
(`--config`, $GUARDIAN_CONFIG, ./guardian.toml, /etc/guardian/guardian.toml, else the
embedded defaults), so the command line always acts on the running installation.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from guardian import cli_args, control
from guardian.config import (
    LIST_FORMATS,
    Config,
    ConfigError,
    describe,
    find_config_path,
    load_config,
    normalise_mac,
    parse_address,
)
from guardian.version import describe_version

if TYPE_CHECKING:  # the command line imports the policy only for the commands that use it
    from guardian.config import Address
    from guardian.policy import NeighbourTable, Policy


def _address(value: str) -> Address:
    try:
        return parse_address(value, "address")
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def configure_logging(quiet: bool) -> None:
    """How `guardian serve` and its proxy workers log; `quiet`: where Guardian listens, the
    set-up code, warnings and errors (what a first run needs)."""
    if quiet:
        logging.basicConfig(level=logging.WARNING, format="%(message)s")
        logging.getLogger("guardian.started").setLevel(logging.INFO)
    else:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # it logs every job it adds


def _serve(args: argparse.Namespace) -> int:
    from guardian.service import Guardian, Overrides

    configure_logging(args.quiet)
    # Until the real handlers are installed, a SIGHUP (logrotate, a quick edit) must not kill the start.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    overrides = Overrides(listen=args.listen, web_listen=args.web_listen,
                          data_dir=Path(args.data_dir) if args.data_dir else None)
    try:
        guardian = Guardian(args.config, overrides, last_good=not args.no_last_good, processes=True)
    except ConfigError as exc:
        print(f"guardian: {exc}", file=sys.stderr)
        if args.no_last_good:
            _say_no_last_good(args.config)
        return 2
    except OSError as exc:
        # "[Errno 98]" says nothing to a parent; the message names the address and the holder
        reason = exc.strerror if exc.strerror and exc.filename is None else exc
        print(f"guardian: cannot start: {reason}", file=sys.stderr)
        return 1
    status = guardian.run_forever()
    # Everything is flushed and closed now. A list download still waiting to try again on a
    # worker thread (no internet after a power cut: about a minute) must not hold the exit
    # past systemd's stop timeout; the list store writes atomically, so nothing is lost.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def _say_no_last_good(config: str | None) -> None:
    """What happens next when `--no-last-good` (the installed unit) refused an invalid file."""
    from guardian.lastgood import last_good_path

    path = find_config_path(config)
    if path is None or not last_good_path(path).is_file():
        return
    print(f"guardian: not starting on the last-known-good copy {last_good_path(path)} (--no-last-good). "
          "On a Pi set up with install.sh, guardian-last-good.service runs on it instead, so the house "
          "stays online; fix the file (the settings page shows the problem), then "
          "`sudo systemctl restart guardian`.", file=sys.stderr)


def _config_check(args: argparse.Namespace) -> int:
    from guardian.lastgood import find_problems_in, last_good_path

    path = find_config_path(args.config)
    problems = find_problems_in(path) if path is not None else []
    if path is not None and problems:
        print(f"guardian: {path} has {len(problems)} problem{'s' * (len(problems) != 1)}:", file=sys.stderr)
        for problem in problems:
            print(f"  {path}:{problem.line or '?'}: {problem.message}", file=sys.stderr)
        if last_good_path(path).is_file():
            print(f"Guardian keeps running on the last-known-good copy {last_good_path(path)} until the file "
                  "is fixed (or that copy is put back from the settings page).", file=sys.stderr)
        else:
            print("There is no last-known-good copy: guardian serve will not start until the file is fixed.",
                  file=sys.stderr)
        return 2
    config = load_config(args.config)
    print(describe(config), end="")
    from guardian.policy.parent_rules import rule_notes

    for line in rule_notes(config.profiles, config.https.bypass):
        print(f"note: {line}")
    return 0


def _stored_policy(config: Config, neighbours: NeighbourTable | None = None) -> Policy:
    """The policy a running service with this configuration applies, built from the stored lists."""
    from guardian.lists import ListStore, sources_for
    from guardian.policy import PauseStore, Policy

    store = ListStore.for_data_dir(config.data_dir)
    from guardian.policy.service_commands import stored_usage

    return Policy(config, sources_for(config, store), cache_dir=config.data_dir / "cache" / "filters",
                  pauses=PauseStore.for_data_dir(config.data_dir), usage=stored_usage(config), neighbours=neighbours)


def _check(args: argparse.Namespace) -> int:
    from guardian.policy.commands import check_command
    from guardian.policy.devices import NeighbourTable

    config = load_config(args.config)
    neighbours = NeighbourTable()
    if any(normalise_mac(item) for device in config.devices for item in device.match):
        neighbours.refresh()  # a device known by its MAC address is found at its current IP
    policy = _stored_policy(config, neighbours)
    client = cli_args.client_address(config, args.client, policy.device_for, neighbours.entries)
    at = cli_args.moment(args.at, datetime.now(config.zone()).date()).isoformat() if args.at else None
    return check_command(policy, args.url, client, at, args.source, args.type, args.json)


def _filters_report(args: argparse.Namespace) -> int:
    from guardian.filters.commands import report_command

    return report_command(args.lists, args.format)


def _filters_match(args: argparse.Namespace) -> int:
    from guardian.filters.commands import match_command

    return match_command(args.lists, args.url, args.source, args.type)


def _lists(args: argparse.Namespace) -> int:
    from guardian.lists import commands

    config = load_config(args.config)
    action = args.lists_command or "status"
    if action == "status":
        return commands.lists_status_command(config)
    if action == "catalog":
        return commands.lists_catalog_command()
    if action == "update":
        try:
            reply = control.call(config.data_dir, "lists-update", ids=args.ids, force=args.force)
        except control.NotRunning:
            return commands.lists_update_command(config, args.ids, args.force)
        for result in reply.get("results", []):
            print(f"{result['id']}: {result['message']}")
        if "error" in reply:
            print(f"guardian lists update: {reply['error']}", file=sys.stderr)
        return 0 if reply.get("ok") else 1
    config_path = find_config_path(args.config)
    if action == "add":
        return commands.lists_add_command(config_path, args.url, args.id, args.name, args.format, args.profile,
                                          fetch=commands.fetch_now)
    return commands.lists_remove_command(config_path, args.id)


def _pause(args: argparse.Namespace) -> int:
    from guardian.policy.commands import pause_command

    config = load_config(args.config)
    return pause_command(config, profile=args.profile, device=_device(config, args.device), minutes=args.minutes)


def _allow(args: argparse.Namespace) -> int:
    from guardian.policy.commands import allow_command

    config = load_config(args.config)
    args.device = _device(config, args.device)
    if args.service is not None:
        from guardian.policy.service_commands import allow_service_command

        if args.host is not None:
            print("guardian allow: give either --host or --service", file=sys.stderr)
            return 2
        return allow_service_command(config, args.device, args.service, args.minutes)
    if args.host is None:
        print("guardian allow: give --host (a site) or --service (more minutes of a limited service)",
              file=sys.stderr)
        return 2
    return allow_command(config, host=args.host, profile=args.profile, device=args.device,
                         minutes=args.minutes)


def _services(args: argparse.Namespace) -> int:
    from guardian.policy.service_commands import services_command

    if args.action == "show" and not args.id:
        print("guardian services show: give a service id, like youtube", file=sys.stderr)
        return 2
    return services_command(load_config(args.config), args.action, args.id, args.json)


def _usage(args: argparse.Namespace) -> int:
    from guardian.policy.service_commands import usage_command

    config = load_config(args.config)
    return usage_command(config, _device(config, args.device), args.json)


def _pauses(args: argparse.Namespace) -> int:
    from guardian.policy.commands import pauses_command

    return pauses_command(load_config(args.config), cancel=args.cancel, as_json=args.json)


def _stats(args: argparse.Namespace) -> int:
    from guardian.logstore.commands import stats_command

    config = load_config(args.config)
    return stats_command(config.data_dir / "guardian.db", args.since, _device(config, args.device), args.json,
                         tz=config.timezone or None)


def _log(args: argparse.Namespace) -> int:
    from guardian.logstore.commands import log_command

    config = load_config(args.config)
    return log_command(config.data_dir / "guardian.db", _device(config, args.device), args.blocked, args.host,
                       args.since, args.limit, args.json, tz=config.timezone or None, wide=args.wide)


def _cache(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    command = "cache-clear" if args.cache_command == "clear" else "cache-stats"
    try:
        reply = control.call(config.data_dir, command, timeout=10)
    except control.NotRunning:
        print("guardian cache: no running guardian serve (the cache lives in its memory)", file=sys.stderr)
        return 1
    if command == "cache-clear":
        print(f"cleared {reply['cleared']} entries")
    else:
        for key, value in reply["stats"].items():
            print(f"{key:>14}: {value}")
    return 0


def _set_password(args: argparse.Namespace) -> int:
    from guardian.web.commands import set_password_command

    config = load_config(args.config)
    return set_password_command(Path(args.data_dir) if args.data_dir else config.data_dir, args.stdin)


def _ca(args: argparse.Namespace) -> int:
    from guardian.tls import commands as ca_commands

    config = load_config(args.config)
    if args.ca_command == "show":
        return ca_commands.show_command(config)
    if args.ca_command == "export":
        return ca_commands.export_command(config, args.der, args.output)
    return ca_commands.renew_command(config)


def _setup_code(args: argparse.Namespace) -> int:
    from guardian.web.commands import setup_code_command

    config = load_config(args.config)
    return setup_code_command(Path(args.data_dir) if args.data_dir else config.data_dir)


def _device(config: Config, given: str | None) -> str | None:
    """`--device`: the configured name, whatever the case; an unknown name stops the command."""
    return cli_args.device_name(config, given) if given is not None else None


def _who(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--profile")
    group.add_argument("--device")


class _ShowVersion(argparse.Action):
    """--version, worked out only when asked: in a checkout, knowing the commit means running git."""

    def __init__(self, option_strings: list[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, nargs=0, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        print(f"guardian {describe_version()}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a subcommand's own --config must not reset one given before the subcommand
    common.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS,
                        help="configuration file (default: $GUARDIAN_CONFIG, ./guardian.toml, "
                        "/etc/guardian/guardian.toml, else built-in defaults)")

    parser = argparse.ArgumentParser(prog="guardian", description="A household filtering web proxy.",
                                     parents=[common])
    parser.add_argument("--version", action=_ShowVersion, help="show the version and the commit, and exit")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", parents=[common], help="run the proxy and the settings page")
    serve.add_argument("--listen", type=_address, metavar="HOST:PORT", help="proxy address (overrides proxy.listen)")
    serve.add_argument("--web-listen", type=_address, metavar="HOST:PORT",
                       help="settings page address (overrides web.listen)")
    serve.add_argument("--data-dir", metavar="DIR", help="where Guardian keeps its data (overrides data_dir)")
    serve.add_argument("--quiet", action="store_true",
                       help="log only where Guardian listens, the set-up code, warnings and errors")
    serve.add_argument("--no-last-good", action="store_true",
                       help="exit with status 2 when the configuration file is invalid, instead of running on "
                       "its last-known-good copy (the systemd unit does this; its fallback unit runs the copy)")
    serve.set_defaults(func=_serve)

    config = commands.add_parser("config", parents=[common], help="configuration commands")
    config_commands = config.add_subparsers(dest="config_command", required=True, metavar="COMMAND")
    check = config_commands.add_parser("check", parents=[common], help="validate and print the effective configuration")
    check.set_defaults(func=_config_check)

    check_url = commands.add_parser("check", parents=[common], help="the decision the policy makes for a URL")
    check_url.add_argument("url")
    check_url.add_argument("--client", required=True, metavar="DEVICE",
                           help="the asking device: its name or an IP address")
    check_url.add_argument("--at", metavar="WHEN", help="when: 22:30 (today), 'sat 22:30', or 2026-12-05T22:30 "
                           "(default now; local time in the configured zone)")
    check_url.add_argument("--source", metavar="URL", help="the page the request comes from")
    check_url.add_argument("--type", metavar="TYPE", help="request type: document, image, script, ...")
    check_url.add_argument("--json", action="store_true")
    check_url.set_defaults(func=_check)

    filters = commands.add_parser("filters", parents=[common], help="inspect filter list files")
    filter_commands = filters.add_subparsers(dest="filters_command", required=True, metavar="COMMAND")
    report = filter_commands.add_parser("report", parents=[common], help="parse report of list files")
    report.add_argument("lists", nargs="+", metavar="LIST")
    report.add_argument("--format", default="auto", choices=LIST_FORMATS)
    report.set_defaults(func=_filters_report)
    match = filter_commands.add_parser("match", parents=[common], help="match a URL against list files")
    match.add_argument("lists", nargs="+", metavar="LIST")
    match.add_argument("url")
    match.add_argument("--source", metavar="URL")
    match.add_argument("--type", metavar="TYPE")
    match.set_defaults(func=_filters_match)

    lists = commands.add_parser("lists", parents=[common], help="filter-list subscriptions (default: status)")
    lists.set_defaults(func=_lists, lists_command=None)
    list_commands = lists.add_subparsers(dest="lists_command", metavar="COMMAND")
    list_commands.add_parser("status", parents=[common], help="status of every list")
    list_commands.add_parser("catalog", parents=[common], help="well-known lists to subscribe to")
    update = list_commands.add_parser("update", parents=[common], help="refresh lists now")
    update.add_argument("ids", nargs="*", metavar="ID")
    update.add_argument("--force", action="store_true", help="accept a much smaller list; ignore Expires")
    add = list_commands.add_parser("add", parents=[common], help="subscribe to a list (URL, path or catalog id)")
    add.add_argument("url")
    add.add_argument("--id")
    add.add_argument("--name")
    add.add_argument("--format", choices=LIST_FORMATS)
    add.add_argument("--profile", help="also add it to this profile's lists")
    remove = list_commands.add_parser("remove", parents=[common], help="unsubscribe from a list")
    remove.add_argument("id")

    pause = commands.add_parser("pause", parents=[common], help="pause filtering for a profile or device")
    _who(pause)
    pause.add_argument("--minutes", type=float, required=True)
    pause.set_defaults(func=_pause)
    allow = commands.add_parser("allow", parents=[common], help="allow one host for a while")
    _who(allow)
    allow.add_argument("--host")
    allow.add_argument("--service", metavar="ID", help="add minutes to today's limit of this service (with --device)")
    allow.add_argument("--minutes", type=float, required=True)
    allow.set_defaults(func=_allow)
    services = commands.add_parser("services", parents=[common], help="the services catalog (default: list)")
    services.add_argument("action", nargs="?", choices=("list", "show"), default="list")
    services.add_argument("id", nargs="?")
    services.add_argument("--json", action="store_true")
    services.set_defaults(func=_services)
    usage = commands.add_parser("usage", parents=[common], help="time used today against the daily limits")
    usage.add_argument("--device", metavar="NAME")
    usage.add_argument("--json", action="store_true")
    usage.set_defaults(func=_usage)
    pauses = commands.add_parser("pauses", parents=[common], help="list pauses and allowances, or cancel one")
    pauses.add_argument("--cancel", metavar="ID")
    pauses.add_argument("--json", action="store_true")
    pauses.set_defaults(func=_pauses)

    stats = commands.add_parser("stats", parents=[common], help="household statistics from the request log")
    stats.add_argument("--since", default="24h", help="a duration like 30m, 24h, 7d")
    stats.add_argument("--device")
    stats.add_argument("--json", action="store_true")
    stats.set_defaults(func=_stats)
    log_parser = commands.add_parser("log", parents=[common], help="search the request log")
    log_parser.add_argument("--device")
    log_parser.add_argument("--blocked", action="store_true")
    log_parser.add_argument("--host", metavar="TEXT")
    log_parser.add_argument("--since", default="1h")
    log_parser.add_argument("--limit", type=int, default=50)
    log_parser.add_argument("--json", action="store_true", help="every field, full URLs, for scripts")
    log_parser.add_argument("--wide", action="store_true",
                            help="full URLs, however long (the table fits the terminal otherwise)")
    log_parser.set_defaults(func=_log)

    password = commands.add_parser("set-password", parents=[common], help="set the settings page's password")
    password.add_argument("--stdin", action="store_true", help="read the password from standard input")
    password.add_argument("--data-dir", metavar="DIR", help="the data directory (default: data_dir of the config)")
    password.set_defaults(func=_set_password)

    code = commands.add_parser("setup-code", parents=[common],
                               help="the one-time code the settings page asks for before a password is set")
    code.add_argument("--data-dir", metavar="DIR", help="the data directory (default: data_dir of the config)")
    code.set_defaults(func=_setup_code)

    cache = commands.add_parser("cache", parents=[common], help="the running service's static-asset cache")
    cache.add_argument("cache_command", choices=("stats", "clear"))
    cache.set_defaults(func=_cache)

    ca = commands.add_parser("ca", parents=[common], help="Guardian's certificate for HTTPS block pages")
    ca.set_defaults(func=_ca)
    ca_commands = ca.add_subparsers(dest="ca_command", required=True, metavar="COMMAND")
    ca_commands.add_parser("show", parents=[common], help="name, fingerprint and validity")
    export = ca_commands.add_parser("export", parents=[common], help="the certificate, to install on a device")
    export_format = export.add_mutually_exclusive_group()
    export_format.add_argument("--pem", dest="der", action="store_false", help="PEM text (the default)")
    export_format.add_argument("--der", dest="der", action="store_true", help="binary DER (.crt for Windows)")
    export.set_defaults(der=False)
    export.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    ca_commands.add_parser("renew", parents=[common],
                           help="make a new certificate (every device must trust it again)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.config = getattr(args, "config", None)
    try:
        status = args.func(args)
        sys.stdout.flush()  # a reader that went away (`guardian log | head`) shows up here
        return status
    except ConfigError as exc:
        print(f"guardian: {exc}", file=sys.stderr)
        return 2
    except cli_args.UsageError as exc:
        print(f"guardian {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return _reader_gone()


def _reader_gone() -> int:
    """The reader of our output closed the pipe: stop quietly, as other Unix tools do."""
    # Point stdout at /dev/null so the interpreter's final flush does not fail again.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 128 + signal.SIGPIPE  # the status a shell reports for a tool killed by SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
