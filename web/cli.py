"""The ``gongjue`` console command.

Each capability registers its own subcommands from a small module beside this one
(``cli_roll``, ``cli_tally``, ``cli_ledger``, ``cli_trustee``, ``cli_credentials``,
``cli_serve``); this file only assembles them.  A subcommand's handler returns the process exit
status: 0 success, 2 refused input (with ``file:line: message`` lines on stderr), 1 failure.
"""

from __future__ import annotations

import argparse
import sys

from web import cli_credentials, cli_ledger, cli_roll, cli_serve, cli_tally, cli_trustee

MODULES = (cli_serve, cli_roll, cli_tally, cli_ledger, cli_credentials, cli_trustee)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gongjue", description="共决 Gongjue — owners' assembly voting")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in MODULES:
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        status = args.handler(args)
    except KeyboardInterrupt:
        return 130
    return int(status or 0)


if __name__ == "__main__":
    sys.exit(main())
