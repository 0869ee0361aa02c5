"""``gongjue trustee …``: scrutineers' (trustees') key ceremony and decryption (docs/SPEC.md §3.7–§3.10).

Commands (all files JSON):

- ``keygen --trustee J --context CTX --out KEY [--public PUB]``: n-of-n key for trustee J; the
  private key file is encrypted under the passphrase; the public key (with its Schnorr proof)
  is written to PUB or printed.
- ``decrypt --key KEY --aggregates AGG --out SHARES``: decryption shares with proofs for every
  aggregate ciphertext.
- ``dkg-start --trustee I --trustees N --threshold K --context CTX --out STATE --public PUB``:
  k-of-n step 1: polynomial and transport key (STATE, encrypted), commitments and transport
  public key (PUB).
- ``dkg-deal --state STATE --publics PUB… --out SEALED``: step 2: a sealed share for every
  other trustee.
- ``dkg-finish --state STATE --publics PUB… --sealed SEALED… --out KEY``: step 3: check every
  share against its dealer's commitments and write the trustee's decryption key file (usable
  by ``decrypt``).

The passphrase comes from the GONGJUE_TRUSTEE_PASSPHRASE environment variable (tests) or a
prompt.  Key files: {"v": 1, "kind", "trustee", "context", "public", "kdf": {"alg": "argon2id",
"salt", "opslimit", "memlimit"}, "box"}; the box is a NaCl SecretBox (XSalsa20-Poly1305) of the
JSON secret under the argon2id-derived key.  Exit status: 0 ok, 2 refused input, 1 failure.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from pathlib import Path

import nacl.exceptions
import nacl.public
import nacl.pwhash
import nacl.secret
import nacl.utils

from voting.crypto import dkg, group, trustee
from voting.crypto.tally import Aggregates, TallyError

PASSPHRASE_ENV = "GONGJUE_TRUSTEE_PASSPHRASE"
OPSLIMIT = nacl.pwhash.argon2id.OPSLIMIT_MODERATE
MEMLIMIT = nacl.pwhash.argon2id.MEMLIMIT_MODERATE


class Refused(Exception):
    """Input refused; the message is shown to the user."""


# --- passphrase-protected files ------------------------------------------------------------


def _passphrase(confirm: bool) -> bytes:
    env = os.environ.get(PASSPHRASE_ENV)
    if env is not None:
        value = env
    else:
        value = getpass.getpass("口令 Passphrase: ")
        if confirm and getpass.getpass("再次输入口令 Repeat passphrase: ") != value:
            raise Refused("两次输入的口令不一致 / passphrases do not match")
    if len(value) < 8:
        raise Refused("口令至少 8 个字符 / passphrase must have at least 8 characters")
    return value.encode("utf-8")


def seal_secret(secret: dict, passphrase: bytes, *, header: dict) -> dict:
    """Encrypt a JSON secret under argon2id(passphrase) with SecretBox; header fields stay in clear."""
    salt = nacl.utils.random(nacl.pwhash.argon2id.SALTBYTES)
    key = nacl.pwhash.argon2id.kdf(nacl.secret.SecretBox.KEY_SIZE, passphrase, salt, opslimit=OPSLIMIT, memlimit=MEMLIMIT)
    box = nacl.secret.SecretBox(key).encrypt(json.dumps(secret, sort_keys=True).encode())
    return {**header, "kdf": {"alg": "argon2id", "salt": salt.hex(), "opslimit": OPSLIMIT, "memlimit": MEMLIMIT},
            "box": bytes(box).hex()}


def open_secret(obj: dict, passphrase: bytes) -> dict:
    """Decrypt a file written by ``seal_secret``; Refused on a wrong passphrase or damaged file."""
    try:
        kdf = obj["kdf"]
        if kdf["alg"] != "argon2id" or not 1 <= kdf["opslimit"] <= 2**10 or not 2**13 <= kdf["memlimit"] <= 2**32:
            raise Refused("密钥文件参数无效 / key file: unsupported key-derivation parameters")
        key = nacl.pwhash.argon2id.kdf(nacl.secret.SecretBox.KEY_SIZE, passphrase, bytes.fromhex(kdf["salt"]),
                                       opslimit=kdf["opslimit"], memlimit=kdf["memlimit"])
        return json.loads(nacl.secret.SecretBox(key).decrypt(bytes.fromhex(obj["box"])))
    except nacl.exceptions.CryptoError:
        raise Refused("口令错误或密钥文件已损坏 / wrong passphrase or damaged key file") from None
    except (KeyError, TypeError, ValueError):
        raise Refused("不是有效的密钥文件 / not a valid key file") from None


def _read_json(path: str) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise Refused(f"{path}: 文件不存在 / no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise Refused(f"{path}: 不是有效的 JSON / not valid JSON ({e})") from None


def _write_json(path: str, obj: dict, *, private: bool = False) -> None:
    data = json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    p = Path(path)
    if private:
        if p.exists():
            raise Refused(f"{path}: 文件已存在，不覆盖密钥 / file exists, a key is never overwritten")
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(data)
    else:
        tmp = p.with_name(p.name + ".tmp")
        tmp.write_text(data, encoding="utf-8")
        tmp.replace(p)


def _load_key(path: str) -> tuple[int, int]:
    """(trustee number, secret) from a decryption key file."""
    obj = _read_json(path)
    if obj.get("kind") != "gongjue/trustee-key":
        raise Refused(f"{path}: 不是监票人密钥文件 / not a trustee key file")
    secret = open_secret(obj, _passphrase(confirm=False))
    try:
        s = group.scalar_from_hex(secret["secret"])
    except (KeyError, group.GroupError):
        raise Refused(f"{path}: 密钥内容无效 / key content invalid") from None
    if group.base_mul(s).hex() != obj["key"]:
        raise Refused(f"{path}: 私钥与公钥不符 / private key does not match the public key")
    return obj["trustee"], s


def _key_file(j: int, context: str, secret: int, threshold: int | None, passphrase: bytes) -> dict:
    header = {"v": 1, "kind": "gongjue/trustee-key", "trustee": j, "context": context, "threshold": threshold,
              "key": group.base_mul(secret).hex()}
    return seal_secret({"secret": group.scalar_to_hex(secret)}, passphrase, header=header)


# --- commands ------------------------------------------------------------------------------


def cmd_keygen(args) -> int:  # noqa: ANN001
    if Path(args.out).exists():
        raise Refused(f"{args.out}: 文件已存在，不覆盖密钥 / file exists, a key is never overwritten")
    passphrase = _passphrase(confirm=True)
    secret, public = trustee.generate_key(args.trustee, context=args.context)
    _write_json(args.out, _key_file(args.trustee, args.context, secret, None, passphrase), private=True)
    if args.public:
        _write_json(args.public, public)
    else:
        print(json.dumps(public, ensure_ascii=False, indent=2, sort_keys=True))
    print(f"已生成监票人 {args.trustee} 的密钥 / key of trustee {args.trustee} written to {args.out}", file=sys.stderr)
    return 0


def cmd_decrypt(args) -> int:  # noqa: ANN001
    j, secret = _load_key(args.key)
    try:
        aggregates = Aggregates.from_json(_read_json(args.aggregates))
    except TallyError as e:
        raise Refused(f"{args.aggregates}: {e}") from None
    _write_json(args.out, trustee.compute_shares(secret, j, aggregates))
    print(f"监票人 {j} 的解密份额已写入 / decryption shares of trustee {j} written to {args.out}", file=sys.stderr)
    return 0


def cmd_dkg_start(args) -> int:  # noqa: ANN001
    if not 1 <= args.threshold <= args.trustees or not 1 <= args.trustee <= args.trustees:
        raise Refused("需要 1 ≤ 门限 ≤ 人数, 1 ≤ 编号 ≤ 人数 / need 1 ≤ threshold ≤ trustees and 1 ≤ trustee ≤ trustees")
    if Path(args.out).exists():
        raise Refused(f"{args.out}: 文件已存在 / file exists")
    passphrase = _passphrase(confirm=True)
    poly = dkg.new_polynomial(args.threshold)
    transport = nacl.public.PrivateKey.generate()
    public = {"commitments": dkg.commitments_json(poly, args.trustee, context=args.context),
              "transport": bytes(transport.public_key).hex(), "trustees": args.trustees}
    secret = {"coefficients": [group.scalar_to_hex(a) for a in poly.coefficients], "transport": bytes(transport).hex()}
    header = {"v": 1, "kind": "gongjue/dkg-state", "trustee": args.trustee, "context": args.context,
              "threshold": args.threshold, "trustees": args.trustees}
    _write_json(args.out, seal_secret(secret, passphrase, header=header), private=True)
    _write_json(args.public, public)
    return 0


def _load_state(path: str) -> tuple[dict, dkg.Polynomial, nacl.public.PrivateKey]:
    obj = _read_json(path)
    if obj.get("kind") != "gongjue/dkg-state":
        raise Refused(f"{path}: 不是密钥仪式状态文件 / not a DKG state file")
    secret = open_secret(obj, _passphrase(confirm=False))
    poly = dkg.Polynomial(tuple(group.scalar_from_hex(a) for a in secret["coefficients"]))
    return obj, poly, nacl.public.PrivateKey(bytes.fromhex(secret["transport"]))


def _load_publics(paths: list[str], state: dict) -> dict[int, tuple[dkg.VerifiedCommitments, nacl.public.PublicKey]]:
    out = {}
    for path in paths:
        obj = _read_json(path)
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
    _write_json(args.out, sealed)
    return 0


def cmd_dkg_finish(args) -> int:  # noqa: ANN001
    state, poly, transport = _load_state(args.state)
    publics = _load_publics(args.publics, state)
    j = state["trustee"]
    shares: dict[int, int] = {}
    for path in args.sealed:
        obj = _read_json(path)
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
    passphrase = _passphrase(confirm=True)
    _write_json(args.out, _key_file(j, state["context"], secret, state["threshold"], passphrase), private=True)
    print(json.dumps({"joint_key": ts.joint_key.hex(), "threshold": ts.threshold,
                      "keys": {str(k): v.hex() for k, v in sorted(ts.keys.items())}}, indent=2))
    return 0


def _run(handler):
    def wrapped(args) -> int:  # noqa: ANN001
        try:
            return handler(args)
        except Refused as e:
            print(f"gongjue trustee: {e}", file=sys.stderr)
            return 2
    return wrapped


def register(sub) -> None:  # noqa: ANN001
    """Add ``gongjue trustee …`` to the ``gongjue`` parser."""
    p = sub.add_parser("trustee", help="监票人密钥与解密 / trustee keys and decryption")
    tsub = p.add_subparsers(dest="trustee_command", required=True, metavar="ACTION")

    k = tsub.add_parser("keygen", help="生成 n-of-n 密钥 / generate an n-of-n trustee key")
    k.add_argument("--trustee", type=int, required=True, help="监票人编号 (1..n) / trustee number")
    k.add_argument("--context", required=True, help="仪式标识 / ceremony id, e.g. <origin>/<round id>")
    k.add_argument("--out", required=True, help="私钥文件 / private key file (encrypted)")
    k.add_argument("--public", help="公钥文件 / public key file (default: stdout)")
    k.set_defaults(handler=_run(cmd_keygen))

    d = tsub.add_parser("decrypt", help="计算解密份额 / compute decryption shares")
    d.add_argument("--key", required=True)
    d.add_argument("--aggregates", required=True)
    d.add_argument("--out", required=True)
    d.set_defaults(handler=_run(cmd_decrypt))

    s = tsub.add_parser("dkg-start", help="k-of-n 仪式第一步 / k-of-n ceremony step 1")
    s.add_argument("--trustee", type=int, required=True)
    s.add_argument("--trustees", type=int, required=True)
    s.add_argument("--threshold", type=int, required=True)
    s.add_argument("--context", required=True)
    s.add_argument("--out", required=True, help="状态文件 / state file (encrypted)")
    s.add_argument("--public", required=True, help="公开文件 / public file")
    s.set_defaults(handler=_run(cmd_dkg_start))

    dl = tsub.add_parser("dkg-deal", help="k-of-n 仪式第二步 / step 2: sealed shares")
    dl.add_argument("--state", required=True)
    dl.add_argument("--publics", nargs="+", required=True)
    dl.add_argument("--out", required=True)
    dl.set_defaults(handler=_run(cmd_dkg_deal))

    f = tsub.add_parser("dkg-finish", help="k-of-n 仪式第三步 / step 3: check shares, write key")
    f.add_argument("--state", required=True)
    f.add_argument("--publics", nargs="+", required=True)
    f.add_argument("--sealed", nargs="+", required=True)
    f.add_argument("--out", required=True)
    f.set_defaults(handler=_run(cmd_dkg_finish))
