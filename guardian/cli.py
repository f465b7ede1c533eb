"""`guardian <command>`: the command line.

Every command takes `--config PATH` and finds the file the same way as `guardian serve`
(`--config`, $GUARDIAN_CONFIG, ./guardian.toml, /etc/guardian/guardian.toml, else the
embedded defaults), so the command line always acts on the running installation.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from guardian import __version__
from guardian.config import ConfigError, describe, load_config, parse_address


def _address(value: str):
    try:
        return parse_address(value, "address")
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _serve(args: argparse.Namespace) -> int:
    from guardian.service import Guardian, Overrides

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    overrides = Overrides(listen=args.listen, web_listen=args.web_listen,
                          data_dir=Path(args.data_dir) if args.data_dir else None)
    try:
        guardian = Guardian(args.config, overrides)
    except ConfigError as exc:
        print(f"guardian: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"guardian: cannot start: {exc}", file=sys.stderr)
        return 1
    return guardian.run_forever()


def _config_check(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    print(describe(config), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a subcommand's own --config must not reset one given before the subcommand
    common.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS,
                        help="configuration file (default: $GUARDIAN_CONFIG, ./guardian.toml, "
                        "/etc/guardian/guardian.toml, else built-in defaults)")

    parser = argparse.ArgumentParser(prog="guardian", description="A household filtering web proxy.",
                                     parents=[common])
    parser.add_argument("--version", action="version", version=f"guardian {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", parents=[common], help="run the proxy and the settings page")
    serve.add_argument("--listen", type=_address, metavar="HOST:PORT", help="proxy address (overrides proxy.listen)")
    serve.add_argument("--web-listen", type=_address, metavar="HOST:PORT",
                       help="settings page address (overrides web.listen)")
    serve.add_argument("--data-dir", metavar="DIR", help="where Guardian keeps its data (overrides data_dir)")
    serve.set_defaults(func=_serve)

    config = commands.add_parser("config", parents=[common], help="configuration commands")
    config_commands = config.add_subparsers(dest="config_command", required=True, metavar="COMMAND")
    check = config_commands.add_parser("check", parents=[common], help="validate and print the effective configuration")
    check.set_defaults(func=_config_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.config = getattr(args, "config", None)
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"guardian: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
