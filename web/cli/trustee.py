"""``gongjue trustee …``: scrutineers' (trustees') keys and decryption (docs/SPEC.md §3.7–§3.8).

Commands (all files JSON):

- ``keygen --trustee J --context CTX --out KEY [--public PUB]``: n-of-n key for trustee J; the
  private key file is encrypted under the passphrase (web.cli.keyfiles); the public key (with
  its Schnorr proof) is written to PUB or printed.
- ``decrypt --key KEY --aggregates AGG --out SHARES``: decryption shares with proofs for every
  aggregate ciphertext.
- ``dkg-start``, ``dkg-deal``, ``dkg-finish``: the k-of-n ceremony (web.cli.dkg).

Exit status: 0 ok, 2 refused input, 1 failure.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from voting.crypto import trustee
from voting.crypto.tally import Aggregates, TallyError
from web.cli.keyfiles import Refused, ask_passphrase, key_file, load_key, read_json, run, write_json


def cmd_keygen(args) -> int:  # noqa: ANN001
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


def cmd_decrypt(args) -> int:  # noqa: ANN001
    j, secret = load_key(args.key)
    try:
        aggregates = Aggregates.from_json(read_json(args.aggregates))
    except TallyError as e:
        raise Refused(f"{args.aggregates}: {e}") from None
    write_json(args.out, trustee.compute_shares(secret, j, aggregates))
    print(f"监票人 {j} 的解密份额已写入 / decryption shares of trustee {j} written to {args.out}", file=sys.stderr)
    return 0


def register(sub) -> None:  # noqa: ANN001
    """Add ``gongjue trustee …`` to the ``gongjue`` parser."""
    p = sub.add_parser("trustee", help="监票人密钥与解密 / trustee keys and decryption")
    tsub = p.add_subparsers(dest="trustee_command", required=True, metavar="ACTION")

    k = tsub.add_parser("keygen", help="生成 n-of-n 密钥 / generate an n-of-n trustee key")
    k.add_argument("--trustee", type=int, required=True, help="监票人编号 (1..n) / trustee number")
    k.add_argument("--context", required=True, help="仪式标识 / ceremony id, e.g. <origin>/<round id>")
    k.add_argument("--out", required=True, help="私钥文件 / private key file (encrypted)")
    k.add_argument("--public", help="公钥文件 / public key file (default: stdout)")
    k.set_defaults(handler=run(cmd_keygen))

    d = tsub.add_parser("decrypt", help="计算解密份额 / compute decryption shares")
    d.add_argument("--key", required=True)
    d.add_argument("--aggregates", required=True)
    d.add_argument("--out", required=True)
    d.set_defaults(handler=run(cmd_decrypt))
    return tsub
