"""The ``gongjue`` console command.

Each capability registers its own subcommands from a small module of this package (``serve``,
``roll``, ``tally``, ``ledger``, ``credentials``, ``trustee`` with its k-of-n ceremony in
``dkg``); this file only assembles them.  A subcommand's handler returns the process exit
status: 0 success, 2 refused input (with ``file:line: message`` lines on stderr), 1 failure.
"""

from __future__ import annotations

import argparse

from web.cli import credentials, dkg, ledger, roll, serve, simulate, staff, tally, trustee
from web.cli import round as round_cli

MODULES = (serve, staff, roll, tally, ledger, credentials, simulate)
MODULES += (round_cli,)  # gongjue round (voting.rounds)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gongjue", description="共决 Gongjue — owners' assembly voting")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in MODULES:
        module.register(sub)
    dkg.register(trustee.register(sub))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        status = args.handler(args)
    except KeyboardInterrupt:
        return 130
    return int(status or 0)
