"""``gongjue trustee dkg-start|dkg-deal|dkg-finish``: the k-of-n key ceremony (docs/SPEC.md §3.10).

- ``dkg-start --trustee I --trustees N --threshold K --context CTX --out STATE --public PUB``:
  step 1: polynomial, Ed25519 signing key and X25519 transport key (STATE, encrypted); the
  commitments with both public keys and the proof covering them (PUB:
  ``{"v": 1, "kind": "gongjue/dkg-public", "trustees": N, "commitments": {…}}``).
- ``dkg-deal --state STATE --publics PUB… --out SEALED``: step 2: a sealed share for every
  trustee, each signed with the dealer's signing key
  (``{"v": 1, "kind": "gongjue/dkg-shares", "context", "from": I, "shares": {"J": {"sealed", "sig"}}}``).
- ``dkg-finish --state STATE --publics PUB… --sealed SEALED… --out KEY``: step 3: check every
  share's signature against its dealer's signing key, then the share against the dealer's
  commitments, and write the trustee's decryption key file (usable by ``gongjue trustee decrypt``).
  A share not signed by the dealer it names is refused as forged and blames nobody; a dealer
  whose signed share is bad is named for exclusion.
"""

from __future__ import annotations

import json
from pathlib import Path

import nacl.public
import nacl.signing

from voting.crypto import dkg, group
from web.cli.keyfiles import (
    Refused, ask_passphrase, field, hex_bytes, key_file, open_secret, read_json, run, seal_secret, write_json,
)

Publics = dict[int, dkg.VerifiedCommitments]


def cmd_dkg_start(args) -> int:  # noqa: ANN001
    if not 1 <= args.threshold <= args.trustees or not 1 <= args.trustee <= args.trustees:
        raise Refused("需要 1 ≤ 门限 ≤ 人数, 1 ≤ 编号 ≤ 人数 / need 1 ≤ threshold ≤ trustees and 1 ≤ trustee ≤ trustees")
    if Path(args.out).exists():
        raise Refused(f"{args.out}: 文件已存在 / file exists")
    passphrase = ask_passphrase(confirm=True)
    poly = dkg.new_polynomial(args.threshold)
    transport = nacl.public.PrivateKey.generate()
    signing = nacl.signing.SigningKey.generate()
    commitments = dkg.commitments_json(poly, args.trustee, context=args.context, signing_key=signing.verify_key,
                                       transport=transport.public_key)
    public = {"v": 1, "kind": "gongjue/dkg-public", "trustees": args.trustees, "commitments": commitments}
    secret = {"coefficients": [group.scalar_to_hex(a) for a in poly.coefficients], "transport": bytes(transport).hex(),
              "signing": bytes(signing).hex()}
    header = {"v": 1, "kind": "gongjue/dkg-state", "trustee": args.trustee, "context": args.context,
              "threshold": args.threshold, "trustees": args.trustees}
    write_json(args.out, seal_secret(secret, passphrase, header=header), private=True)
    write_json(args.public, public)
    return 0


def _load_state(path: str) -> tuple[dict, dkg.Polynomial, nacl.public.PrivateKey, nacl.signing.SigningKey]:
    obj = read_json(path)
    if not isinstance(obj, dict) or obj.get("kind") != "gongjue/dkg-state":
        raise Refused(f"{path}: 不是密钥仪式状态文件 / not a DKG state file")
    trustees = field(obj, "trustees", int, path, lo=1, hi=2**16 - 1)
    field(obj, "trustee", int, path, lo=1, hi=trustees)
    field(obj, "threshold", int, path, lo=1, hi=trustees)
    field(obj, "context", str, path)
    secret = open_secret(obj, ask_passphrase(confirm=False), path=path)
    try:
        coefficients = field(secret, "coefficients", list, path)
        poly = dkg.Polynomial(tuple(group.scalar_from_hex(a) for a in coefficients))
        if len(poly.coefficients) != obj["threshold"] or poly.coefficients[0] == 0:
            raise ValueError
        transport = nacl.public.PrivateKey(hex_bytes(secret, "transport", 32, path))
        signing = nacl.signing.SigningKey(hex_bytes(secret, "signing", 32, path))
    except (group.GroupError, ValueError, TypeError):
        raise Refused(f"{path}: 状态文件内容无效 / state file content invalid") from None
    return obj, poly, transport, signing


def _load_publics(paths: list[str], state: dict) -> Publics:
    out: Publics = {}
    for path in paths:
        obj = read_json(path)
        if not isinstance(obj, dict) or obj.get("kind") != "gongjue/dkg-public" or "commitments" not in obj:
            raise Refused(f"{path}: 不是密钥仪式公开文件 / not a DKG public file")
        if obj.get("trustees") != state["trustees"]:
            raise Refused(f"{path}: 人数与本次仪式不符 / made for a ceremony of {obj.get('trustees')!r} trustees, "
                          f"not {state['trustees']}")
        try:
            vc = dkg.verify_commitments(obj["commitments"], context=state["context"], threshold=state["threshold"],
                                        trustees=state["trustees"])
        except dkg.DKGError as e:
            raise Refused(f"{path}: 公开文件无效 / {e}") from None
        if vc.trustee in out:
            raise Refused(f"{path}: 监票人 {vc.trustee} 重复 / trustee {vc.trustee} given twice")
        out[vc.trustee] = vc
    if sorted(out) != list(range(1, state["trustees"] + 1)):
        raise Refused(f"需要监票人 1..{state['trustees']} 的公开文件 / need the public files of trustees 1..{state['trustees']}")
    return out


def _check_own(publics: Publics, state: dict, poly: dkg.Polynomial, transport: nacl.public.PrivateKey,
               signing: nacl.signing.SigningKey) -> None:
    own = publics[state["trustee"]]
    if (own.commitments[0] != group.base_mul(poly.coefficients[0]) or own.signing_key != bytes(signing.verify_key)
            or own.transport != bytes(transport.public_key)):
        raise Refused(f"监票人 {state['trustee']} 的公开文件与状态文件不符 / the public file of trustee "
                      f"{state['trustee']} is not this state's")


def cmd_dkg_deal(args) -> int:  # noqa: ANN001
    state, poly, transport, signing = _load_state(args.state)
    publics = _load_publics(args.publics, state)
    _check_own(publics, state, poly, transport, signing)
    i = state["trustee"]
    shares = {str(j): dkg.seal_share(poly.at(j), to=j, recipient=vc.transport, context=state["context"], dealer=i,
                                     signing_key=signing)
              for j, vc in sorted(publics.items())}
    write_json(args.out, {"v": 1, "kind": "gongjue/dkg-shares", "context": state["context"], "from": i,
                          "shares": shares})
    return 0


def _open_all(paths: list[str], state: dict, publics: Publics, transport: nacl.public.PrivateKey) -> dict[int, int]:
    j = state["trustee"]
    shares: dict[int, int] = {}
    for path in paths:
        obj = read_json(path)
        if (not isinstance(obj, dict) or obj.get("kind") != "gongjue/dkg-shares"
                or obj.get("context") != state["context"] or not isinstance(obj.get("shares"), dict)):
            raise Refused(f"{path}: 不是本次仪式的份额文件 / not a share file of this ceremony")
        i = obj.get("from")
        if type(i) is not int or i not in publics:
            raise Refused(f"{path}: 份额来自未知的监票人 / shares from an unknown trustee {i!r}")
        if i in shares:
            raise Refused(f"{path}: 监票人 {i} 的份额重复 / shares of trustee {i} given twice")
        if str(j) not in obj["shares"]:
            raise Refused(f"{path}: 没有给监票人 {j} 的份额 / no share for trustee {j}")
        try:
            shares[i] = dkg.open_share(obj["shares"][str(j)], transport, to=j, context=state["context"],
                                       dealer=publics[i])
        except dkg.DKGError as e:
            if e.dealer is None:
                raise Refused(f"{path}: 伪造的份额，已拒绝（不归咎于监票人 {i}） / {e}") from None
            raise Refused(f"{path}: 监票人 {e.dealer} 的份额无效，应将其排除 / {e}") from None
    return shares


def cmd_dkg_finish(args) -> int:  # noqa: ANN001
    state, poly, transport, signing = _load_state(args.state)
    publics = _load_publics(args.publics, state)
    _check_own(publics, state, poly, transport, signing)
    j = state["trustee"]
    shares = _open_all(args.sealed, state, publics, transport)
    missing = sorted(set(publics) - set(shares))
    if missing:
        raise Refused(f"缺少监票人 {missing} 的份额文件 / no share file from trustee(s) {missing}")
    try:
        secret = dkg.combine_secret(j, shares, list(publics.values()))
        ts = dkg.trustee_set(list(publics.values()), trustees=state["trustees"])
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
