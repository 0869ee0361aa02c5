"""``gongjue trustee …``: scrutineers' (trustees') keys and decryption (docs/SPEC.md §3.7–§3.8).

Commands (all files JSON):

- ``keygen --trustee J --context CTX --out KEY [--public PUB]``: n-of-n key for trustee J; the
  private key file is encrypted under the passphrase (web.cli.keyfiles); the public key (with
  its Schnorr proof) is written to PUB or printed.
- ``decrypt --bundle DIR|ZIP --round ID --key KEY --out SHARES [--checkpoint OLD …] [--jobs N]``:
  verifies the estate's bundle, recomputes the closed round's aggregates from the recorded
  ballots and roll weights (voting.trustee_check, SPEC §7.5) and only then writes decryption
  shares with proofs for them.  There is no way to hand it aggregates: it decrypts only what it
  recomputed.
- ``dkg-start``, ``dkg-deal``, ``dkg-finish``: the k-of-n ceremony (web.cli.dkg).
- ``submit --estate SLUG --round ID SHARES``: on the server, record a trustee's shares file
  (``voting.count_round.submit_shares``: every proof checked against the trustee's recorded key
  and the recorded aggregates, SPEC §7.10); when the set is complete the result is decrypted,
  decided and published.  Trustees without server access upload the same file to
  ``POST /api/v1/estates/<slug>/rounds/<id>/shares`` (staff role scrutineer).

Exit status: 0 ok, 2 refused input, 1 failure.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from voting import trustee_check
from voting.crypto import trustee
from web.cli.keyfiles import (
    Refused,
    ask_passphrase,
    key_file,
    load_key,
    run,
    write_json,
)
from web.cli.ledger import content_checks


def cmd_keygen(args) -> int:
    if Path(args.out).exists():
        raise Refused(f"{args.out}: 文件已存在，不覆盖密钥 / file exists, a key is never overwritten")
    passphrase = ask_passphrase(confirm=True)
    secret, public = trustee.generate_key(args.trustee, context=args.context)
    write_json(args.out, key_file(args.trustee, args.context, secret, None, passphrase), private=True)
    if args.public:
        write_json(args.public, public)
    else:
        print(json.dumps(public, ensure_ascii=False, indent=2, sort_keys=True))
    print(f"已生成监票人 {args.trustee} 的密钥 / key of trustee {args.trustee} written to {args.out}", file=sys.stderr)
    return 0


def cmd_decrypt(args) -> int:
    if Path(args.out).exists():
        raise Refused(f"{args.out}: 文件已存在，不覆盖 / file exists, it is not overwritten")
    olds = []
    for path in args.checkpoint:
        try:
            olds.append((str(path), Path(path).read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as e:
            raise Refused(f"{path}: 无法读取检查点 / cannot read the checkpoint: {e}") from None
    if not Path(args.bundle).exists():
        raise Refused(f"{args.bundle}: 导出包不存在 / no such bundle")
    try:
        target = trustee_check.decryptable(Path(args.bundle), args.round, olds, checks=content_checks(),
                                           jobs=max(1, args.jobs))
        j, secret = load_key(args.key)
        shares = trustee_check.shares_for(target, j, secret)
    except trustee_check.DecryptRefused as e:
        raise Refused(str(e)) from None
    write_json(args.out, shares)
    print(f"已核验 {target.origin}（{target.size} 条，根 {target.root[:16]}…），重算轮次 {target.round_id} 的 "
          f"{target.ballots} 张选票；监票人 {j} 的解密份额已写入 {args.out} / verified {target.origin} "
          f"({target.size} entries), recomputed {target.ballots} ballot(s) of round {target.round_id}; "
          f"decryption shares of trustee {j} written to {args.out}", file=sys.stderr)
    return 0


def cmd_submit(args) -> int:
    from ledger.db import migrated_engine, transaction
    from voting import count_round

    try:
        shares = json.loads(Path(args.shares).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise Refused(f"{args.shares}: 无法读取解密份额 / cannot read the shares file: {e}") from None
    try:
        with transaction(migrated_engine()) as session:
            done = count_round.submit_shares(session, args.estate, args.round, shares)
    except count_round.CountError as e:
        raise Refused(f"[{e.code}] {e.message}") from None
    print(f"已记录监票人 {done.trustee} 的解密份额（条目 {done.shares.seq}），已有 {len(done.present)}/{done.needed} / "
          f"shares of trustee {done.trustee} recorded (entry {done.shares.seq}), {len(done.present)} of {done.needed} in",
          file=sys.stderr)
    if done.result is not None:
        print(f"计票结果已公布（条目 {done.result.seq}）/ the result is published (entry {done.result.seq})",
              file=sys.stderr)
    return 0


def register(sub) -> None:
    """Add ``gongjue trustee …`` to the ``gongjue`` parser."""
    p = sub.add_parser("trustee", help="监票人密钥与解密 / trustee keys and decryption")
    tsub = p.add_subparsers(dest="trustee_command", required=True, metavar="ACTION")

    k = tsub.add_parser("keygen", help="生成 n-of-n 密钥 / generate an n-of-n trustee key")
    k.add_argument("--trustee", type=int, required=True, help="监票人编号 (1..n) / trustee number")
    k.add_argument("--context", required=True, help="仪式标识 / ceremony id, e.g. <origin>/<round id>")
    k.add_argument("--out", required=True, help="私钥文件 / private key file (encrypted)")
    k.add_argument("--public", help="公钥文件 / public key file (default: stdout)")
    k.set_defaults(handler=run(cmd_keygen))

    d = tsub.add_parser("decrypt", help="核验并重算后计算解密份额 / verify, recompute, then compute decryption shares")
    d.add_argument("--bundle", required=True, help="小区账本导出包（目录或 zip）/ the estate's bundle (directory or zip)")
    d.add_argument("--round", required=True, help="轮次编号 / round id")
    d.add_argument("--key", required=True, help="监票人私钥文件 / trustee key file")
    d.add_argument("--out", required=True, help="解密份额文件 / shares file")
    d.add_argument("--checkpoint", action="append", default=[], metavar="OLD",
                   help="此前保存的检查点 / a checkpoint kept earlier (repeatable)")
    d.add_argument("--jobs", type=int, default=1, help="并行进程数 / worker processes for big rounds (default 1)")
    d.set_defaults(handler=run(cmd_decrypt))

    u = tsub.add_parser("submit", help="在服务器上登记解密份额 / record a trustee's shares on the server")
    u.add_argument("--estate", required=True, help="小区代号 / estate slug")
    u.add_argument("--round", required=True, help="轮次编号 / round id")
    u.add_argument("shares", help="gongjue trustee decrypt 写出的份额文件 / the shares file of gongjue trustee decrypt")
    u.set_defaults(handler=run(cmd_submit))
    return tsub
