"""``gongjue credentials generate``: issue credential letters for an estate's roll (SPEC §4).

Runs outside the server: it reads the estate's current roll from the database, draws a fresh
code for every voter, and writes ``letters.html`` (print and deliver; mode 0600) and
``public_keys.json`` (upload; the server stores only public keys) into ``--out``.  Codes are
never printed on the terminal or logged.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from identity.letters import LetterError, write_credentials
from identity.store import current_roll
from ledger.db import migrated_engine, transaction


def register(sub) -> None:  # noqa: ANN001
    """Add ``credentials generate`` to the ``gongjue`` parser."""
    parser = sub.add_parser("credentials", help="凭证信 / credential letters")
    inner = parser.add_subparsers(dest="credentials_command", required=True, metavar="ACTION")
    gen = inner.add_parser("generate", help="为名册中的每位表决权人生成凭证信 / issue a letter per voter")
    gen.add_argument("--estate", required=True, metavar="SLUG", help="小区代号 / estate slug")
    gen.add_argument("--out", required=True, type=Path, metavar="DIR", help="输出目录 / output directory")
    gen.add_argument("--base-url", default=None, metavar="URL",
                     help="投票页地址前缀，二维码为 <URL>/vote#c=<码> / booth base URL (default https://<site>/estates/<slug>)")
    gen.set_defaults(handler=generate)


def generate(args: argparse.Namespace) -> int:
    """Handler of ``credentials generate``: 0 written, 2 refused."""
    engine = migrated_engine()
    try:
        with transaction(engine) as session:
            view = current_roll(session, args.estate)
    finally:
        engine.dispose()
    if view is None:
        print(f"gongjue: 小区 '{args.estate}' 不存在或尚未导入名册 / estate '{args.estate}' has no roll; "
              f"import one with `gongjue import-roll` first", file=sys.stderr)
        return 2
    try:
        files = write_credentials(args.out, view.estate_name, view.origin, list(view.voters), args.base_url)
    except LetterError as e:
        print(f"gongjue: {e}", file=sys.stderr)
        return 2
    print(f"已为 {view.estate_name}（名册第 {view.version} 版）生成 {files.count} 份凭证信 / "
          f"{files.count} credential letters for {view.origin} (roll version {view.version})")
    print(f"  打印并分发 / print and deliver: {files.letters}  (仅本人可读 / mode 0600)")
    print(f"  上传公钥 / upload: {files.public_keys}")
    return 0
