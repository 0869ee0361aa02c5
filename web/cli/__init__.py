"""The ``gongjue`` console command.

Each capability registers its own subcommands from a small module of this package (``serve``,
``roll``, ``tally``, ``ledger``, ``credentials``, ``trustee`` with its k-of-n ceremony in
``dkg``); this file only assembles them.  A subcommand's handler returns the process exit
status: 0 success, 2 refused input (with ``file:line: message`` lines on stderr), 1 failure.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

from ledger.db import SchemaBehind
from web.cli import credentials, dkg, ledger, roll, serve, simulate, staff, tally, trustee
from web.cli import delivery as delivery_cli
from web.cli import round as round_cli
from web.cli import witness as witness_cli

MODULES = (serve, staff, roll, tally, ledger, credentials, simulate)
MODULES += (round_cli,)  # gongjue round (voting.rounds)
MODULES += (witness_cli,)  # gongjue anchor (ledger.anchor: timestamps, witness cosignatures)
MODULES += (delivery_cli,)  # gongjue delivery (voting.delivery)
MODULES += (__import__("web.cli.db", fromlist=["register"]),)  # gongjue db grant|check (ledger.roles)
MODULES += (__import__("web.cli.petition", fromlist=["register"]),)  # gongjue petition list|show (voting.petition)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gongjue", description="共决 Gongjue — owners' assembly voting")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in MODULES:
        module.register(sub)
    dkg.register(trustee.register(sub))
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        try:
            args = build_parser().parse_args(argv)
            status = args.handler(args)
        finally:
            sys.stdout.flush()  # a reader that went away (``| head``) shows here, inside the try
    except KeyboardInterrupt:
        return 130
    except SchemaBehind as exc:  # the app role after an upgrade: say what to run, not a traceback
        print(exc, file=sys.stderr)
        return 2
    except BrokenPipeError:  # ``gongjue … | head``: stop quietly, as a shell command would
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing left to flush at exit
        return 128 + signal.SIGPIPE
    return int(status or 0)
