"""``gongjue trustee dkg-start|dkg-deal|dkg-finish``: the k-of-n key ceremony (docs/SPEC.md §3.10).

- ``dkg-start --trustee I --trustees N --threshold K --context CTX --out STATE --public PUB``:
  step 1: polynomial and transport key (STATE, encrypted), commitments and transport public
  key (PUB).
- ``dkg-deal --state STATE --publics PUB… --out SEALED``: step 2: a sealed share for every
  other trustee.
- ``dkg-finish --state STATE --publics PUB… --sealed SEALED… --out KEY``: step 3: check every
  share against its dealer's commitments and write the trustee's decryption key file (usable
  by ``gongjue trustee decrypt``).
"""

from __future__ import annotations

import json
from pathlib import Path

import nacl.public

from voting.crypto import dkg, group
from web.cli.keyfiles import Refused, ask_passphrase, key_file, open_secret, read_json, run, seal_secret, write_json


def cmd_dkg_start(args) -> int:  # noqa: ANN001
    if not 1 <= args.threshold <= args.trustees or not 1 <= args.trustee <= args.trustees:
        raise Refused("需要 1 ≤ 门限 ≤ 人数, 1 ≤ 编号 ≤ 人数 / need 1 ≤ threshold ≤ trustees and 1 ≤ trustee ≤ trustees")
    if Path(args.out).exists():
        raise Refused(f"{args.out}: 文件已存在 / file exists")
    passphrase = ask_passphrase(confirm=True)
    poly = dkg.new_polynomial(args.threshold)
    transport = nacl.public.PrivateKey.generate()
    public = {"commitments": dkg.commitments_json(poly, args.trustee, context=args.context),
              "transport": bytes(transport.public_key).hex(), "trustees": args.trustees}
    secret = {"coefficients": [group.scalar_to_hex(a) for a in poly.coefficients], "transport": bytes(transport).hex()}
    header = {"v": 1, "kind": "gongjue/dkg-state", "trustee": args.trustee, "context": args.context,
              "threshold": args.threshold, "trustees": args.trustees}
    write_json(args.out, seal_secret(secret, passphrase, header=header), private=True)
    write_json(args.public, public)
    return 0


def _load_state(path: str) -> tuple[dict, dkg.Polynomial, nacl.public.PrivateKey]:
    obj = read_json(path)
    if obj.get("kind") != "gongjue/dkg-state":
        raise Refused(f"{path}: 不是密钥仪式状态文件 / not a DKG state file")
    secret = open_secret(obj, ask_passphrase(confirm=False))
    poly = dkg.Polynomial(tuple(group.scalar_from_hex(a) for a in secret["coefficients"]))
    return obj, poly, nacl.public.PrivateKey(bytes.fromhex(secret["transport"]))


def _load_publics(paths: list[str], state: dict) -> dict[int, tuple[dkg.VerifiedCommitments, nacl.public.PublicKey]]:
    out = {}
    for path in paths:
        obj = read_json(path)
        try:
            vc = dkg.verify_commitments(obj["commitments"], context=state["context"], threshold=state["threshold"],
                                        trustees=state["trustees"])
            tk = nacl.public.PublicKey(bytes.fromhex(obj["transport"]))
        except (dkg.DKGError, KeyError, TypeError, ValueError) as e:
            raise Refused(f"{path}: {e}") from None
        if vc.trustee in out:
            raise Refused(f"{path}: 监票人 {vc.trustee} 重复 / trustee {vc.trustee} given twice")
        out[vc.trustee] = (vc, tk)
    if sorted(out) != list(range(1, state["trustees"] + 1)):
        raise Refused(f"需要监票人 1..{state['trustees']} 的公开文件 / need the public files of trustees 1..{state['trustees']}")
    return out


def cmd_dkg_deal(args) -> int:  # noqa: ANN001
    state, poly, _ = _load_state(args.state)
    publics = _load_publics(args.publics, state)
    i = state["trustee"]
    sealed = {"v": 1, "kind": "gongjue/dkg-shares", "context": state["context"], "from": i,
              "shares": {str(j): dkg.seal_share(poly.at(j), tk) for j, (_, tk) in sorted(publics.items())}}
    write_json(args.out, sealed)
    return 0


def cmd_dkg_finish(args) -> int:  # noqa: ANN001
    state, poly, transport = _load_state(args.state)
    publics = _load_publics(args.publics, state)
    j = state["trustee"]
    shares: dict[int, int] = {}
    for path in args.sealed:
        obj = read_json(path)
        if obj.get("kind") != "gongjue/dkg-shares" or obj.get("context") != state["context"]:
            raise Refused(f"{path}: 不是本次仪式的份额文件 / not a share file of this ceremony")
        try:
            shares[obj["from"]] = dkg.open_share(obj["shares"][str(j)], transport)
        except (dkg.DKGError, KeyError) as e:
            raise Refused(f"{path}: {e}") from None
    try:
        secret = dkg.combine_secret(j, shares, [vc for vc, _ in publics.values()])
        ts = dkg.trustee_set([vc for vc, _ in publics.values()], trustees=state["trustees"])
    except dkg.DKGError as e:
        raise Refused(str(e)) from None
    passphrase = ask_passphrase(confirm=True)
    write_json(args.out, key_file(j, state["context"], secret, state["threshold"], passphrase), private=True)
    print(json.dumps({"joint_key": ts.joint_key.hex(), "threshold": ts.threshold,
                      "keys": {str(k): v.hex() for k, v in sorted(ts.keys.items())}}, indent=2))
    return 0


def register(tsub) -> None:  # noqa: ANN001
    """Add the ceremony's steps to ``gongjue trustee`` (``tsub``: its subparsers)."""
    s = tsub.add_parser("dkg-start", help="k-of-n 仪式第一步 / k-of-n ceremony step 1")
    s.add_argument("--trustee", type=int, required=True)
    s.add_argument("--trustees", type=int, required=True)
    s.add_argument("--threshold", type=int, required=True)
    s.add_argument("--context", required=True)
    s.add_argument("--out", required=True, help="状态文件 / state file (encrypted)")
    s.add_argument("--public", required=True, help="公开文件 / public file")
    s.set_defaults(handler=run(cmd_dkg_start))

    dl = tsub.add_parser("dkg-deal", help="k-of-n 仪式第二步 / step 2: sealed shares")
    dl.add_argument("--state", required=True)
    dl.add_argument("--publics", nargs="+", required=True)
    dl.add_argument("--out", required=True)
    dl.set_defaults(handler=run(cmd_dkg_deal))

    f = tsub.add_parser("dkg-finish", help="k-of-n 仪式第三步 / step 3: check shares, write key")
    f.add_argument("--state", required=True)
    f.add_argument("--publics", nargs="+", required=True)
    f.add_argument("--sealed", nargs="+", required=True)
    f.add_argument("--out", required=True)
    f.set_defaults(handler=run(cmd_dkg_finish))
