"""Key holders' files: passphrases, argon2id-sealed secrets, JSON in and out (docs/SPEC.md §3.7, §3.10).

Shared by ``gongjue trustee`` (web.cli.trustee) and its k-of-n ceremony (web.cli.dkg).  Sealed
files: {"v": 1, "kind", ..., "kdf": {"alg": "argon2id", "salt", "opslimit", "memlimit"}, "box"};
the box is a NaCl SecretBox (XSalsa20-Poly1305, nonce prepended) of the JSON secret under the
argon2id key of the passphrase.  The passphrase comes from GONGJUE_TRUSTEE_PASSPHRASE (tests)
or a prompt.

Every field read from a file is checked (type, range, encoding) before use, and the KDF
parameters are bounded before the KDF runs (SPEC §3.7), so a malformed or hostile file is
refused with a message, never a traceback or a 4 GiB allocation.  ``Refused`` carries a message
for the user; ``run`` turns it into exit status 2.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from pathlib import Path

import nacl.exceptions
import nacl.pwhash
import nacl.secret
import nacl.utils

from voting.crypto import group

PASSPHRASE_ENV = "GONGJUE_TRUSTEE_PASSPHRASE"
OPSLIMIT = nacl.pwhash.argon2id.OPSLIMIT_MODERATE
MEMLIMIT = nacl.pwhash.argon2id.MEMLIMIT_MODERATE
OPSLIMIT_RANGE = (nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE, 16)
"""Accepted argon2id opslimit (SPEC §3.7): 2 … 16."""
MEMLIMIT_RANGE = (nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE, nacl.pwhash.argon2id.MEMLIMIT_SENSITIVE)
"""Accepted argon2id memlimit in bytes (SPEC §3.7): 64 MiB … 1 GiB."""
SALT_BYTES = nacl.pwhash.argon2id.SALTBYTES
_MISSING = object()


class Refused(Exception):
    """Input refused; the message is shown to the user."""


# --- checked fields ------------------------------------------------------------------------


def field(obj: object, name: str, typ: type, path: str, *, lo: int | None = None, hi: int | None = None):
    """obj[name], checked to be of ``typ`` (an int never a bool; within lo..hi), else Refused naming it."""
    value = obj.get(name, _MISSING) if isinstance(obj, dict) else _MISSING
    if value is _MISSING:
        raise Refused(f"{path}: 缺少字段 {name} / field {name!r} is missing")
    ok = type(value) is int if typ is int else isinstance(value, typ)
    if ok and typ is int and ((lo is not None and value < lo) or (hi is not None and value > hi)):
        ok = False
    if ok and typ is str and not value:
        ok = False
    if not ok:
        expected = {int: "an integer", str: "a non-empty string", list: "a list", dict: "an object"}.get(typ, typ.__name__)
        bounds = f" in {lo}..{hi}" if typ is int and (lo is not None or hi is not None) else ""
        raise Refused(f"{path}: 字段 {name} 无效 / field {name!r} must be {expected}{bounds}")
    return value


def hex_bytes(obj: object, name: str, n: int | None, path: str, *, label: str | None = None) -> bytes:
    """obj[name] as bytes from lowercase hex (exactly n bytes when n is given), else Refused naming ``label``."""
    value = field(obj, name, str, path)
    name = label or name
    try:
        if value != value.lower():
            raise ValueError
        raw = bytes.fromhex(value)
    except ValueError:
        raw = None
    if raw is None or (n is not None and len(raw) != n):
        size = f"{2 * n} " if n is not None else ""
        raise Refused(f"{path}: 字段 {name} 无效 / field {name!r} must be {size}lowercase hex characters")
    return raw


# --- passphrase-protected files ------------------------------------------------------------


def ask_passphrase(confirm: bool) -> bytes:
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
    salt = nacl.utils.random(SALT_BYTES)
    key = nacl.pwhash.argon2id.kdf(nacl.secret.SecretBox.KEY_SIZE, passphrase, salt, opslimit=OPSLIMIT, memlimit=MEMLIMIT)
    box = nacl.secret.SecretBox(key).encrypt(json.dumps(secret, sort_keys=True).encode())
    return {**header, "kdf": {"alg": "argon2id", "salt": salt.hex(), "opslimit": OPSLIMIT, "memlimit": MEMLIMIT},
            "box": bytes(box).hex()}


def kdf_params(obj: object, path: str) -> tuple[bytes, int, int]:
    """(salt, opslimit, memlimit) of a sealed file, checked and bounded before any KDF runs."""
    kdf = field(obj, "kdf", dict, path)
    if set(kdf) != {"alg", "salt", "opslimit", "memlimit"} or kdf["alg"] != "argon2id":
        raise Refused(f"{path}: 密钥派生参数无效 / key file: expected kdf {{alg: argon2id, salt, opslimit, memlimit}}")
    salt = hex_bytes(kdf, "salt", SALT_BYTES, path, label="kdf.salt")
    ops, mem = kdf["opslimit"], kdf["memlimit"]
    if (type(ops) is not int or type(mem) is not int or not OPSLIMIT_RANGE[0] <= ops <= OPSLIMIT_RANGE[1]
            or not MEMLIMIT_RANGE[0] <= mem <= MEMLIMIT_RANGE[1]):
        raise Refused(f"{path}: 密钥派生参数超出范围 / key file: unsupported key-derivation parameters "
                      f"(opslimit {OPSLIMIT_RANGE[0]}..{OPSLIMIT_RANGE[1]}, memlimit {MEMLIMIT_RANGE[0]}.."
                      f"{MEMLIMIT_RANGE[1]} bytes)")
    return salt, ops, mem


def open_secret(obj: dict, passphrase: bytes, *, path: str = "key file") -> dict:
    """Decrypt a file written by ``seal_secret``; Refused on bad parameters, a wrong passphrase or damage."""
    salt, ops, mem = kdf_params(obj, path)
    box = hex_bytes(obj, "box", None, path)
    try:
        key = nacl.pwhash.argon2id.kdf(nacl.secret.SecretBox.KEY_SIZE, passphrase, salt, opslimit=ops, memlimit=mem)
        secret = json.loads(nacl.secret.SecretBox(key).decrypt(box))
    except nacl.exceptions.CryptoError:
        raise Refused(f"{path}: 口令错误或密钥文件已损坏 / wrong passphrase or damaged key file") from None
    except (ValueError, TypeError):
        raise Refused(f"{path}: 不是有效的密钥文件 / not a valid key file") from None
    if not isinstance(secret, dict):
        raise Refused(f"{path}: 不是有效的密钥文件 / not a valid key file")
    return secret


def read_json(path: str) -> dict:
    """A JSON object from a file; Refused if missing, unreadable, not JSON or not an object."""
    try:
        obj = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise Refused(f"{path}: 文件不存在 / no such file") from None
    except IsADirectoryError:
        raise Refused(f"{path}: 是目录，不是文件 / is a directory, not a file") from None
    except OSError as e:
        raise Refused(f"{path}: 无法读取 / cannot read ({e.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        raise Refused(f"{path}: 不是有效的 JSON / not valid JSON ({e})") from None
    if not isinstance(obj, dict):
        raise Refused(f"{path}: 应为 JSON 对象 / expected a JSON object")
    return obj


def write_json(path: str, obj: dict, *, private: bool = False) -> None:
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


# --- trustee decryption keys (SPEC §3.7) ---------------------------------------------------

KEY_FIELDS = {"v", "kind", "trustee", "context", "threshold", "key", "kdf", "box"}


def load_key(path: str, *, context: str | None = None) -> tuple[int, int]:
    """(trustee number, secret) from a decryption key file, every field checked (SPEC §3.7).

    Refused (exit 2 through ``run``) for a missing or malformed field, KDF parameters out of
    bounds, a wrong passphrase, a secret that does not match the file's public key, or (when
    ``context`` is given) a key made for another ceremony.
    """
    obj = read_json(path)
    if obj.get("kind") != "gongjue/trustee-key":
        raise Refused(f"{path}: 不是监票人密钥文件 / not a trustee key file")
    missing = sorted(KEY_FIELDS - set(obj))
    if missing:
        raise Refused(f"{path}: 缺少字段 {', '.join(missing)} / key file: missing field(s) {', '.join(missing)}")
    if obj["v"] != 1 or type(obj["v"]) is not int:
        raise Refused(f"{path}: 不支持的版本 / key file: unsupported version (expected v = 1)")
    j = field(obj, "trustee", int, path, lo=1, hi=2**16 - 1)
    ctx = field(obj, "context", str, path)
    if obj["threshold"] is not None:
        field(obj, "threshold", int, path, lo=1, hi=2**16 - 1)
    if context is not None and ctx != context:
        raise Refused(f"{path}: 密钥属于另一次仪式 / key made for ceremony {ctx!r}, not {context!r}")
    try:
        public = group.point_from_hex(obj["key"], what="key")
    except group.GroupError:
        raise Refused(f"{path}: 字段 key 无效 / field 'key' must be a valid group element (64 lowercase hex)") from None
    secret = open_secret(obj, ask_passphrase(confirm=False), path=path)
    try:
        s = group.scalar_from_hex(secret.get("secret"))
    except group.GroupError:
        raise Refused(f"{path}: 密钥内容无效 / key content invalid") from None
    if s == 0 or group.base_mul(s) != public:
        raise Refused(f"{path}: 私钥与公钥不符 / private key does not match the public key")
    return j, s


def key_file(j: int, context: str, secret: int, threshold: int | None, passphrase: bytes) -> dict:
    header = {"v": 1, "kind": "gongjue/trustee-key", "trustee": j, "context": context, "threshold": threshold,
              "key": group.base_mul(secret).hex()}
    return seal_secret({"secret": group.scalar_to_hex(secret)}, passphrase, header=header)


def run(handler):
    def wrapped(args) -> int:  # noqa: ANN001
        try:
            return handler(args)
        except Refused as e:
            print(f"gongjue trustee: {e}", file=sys.stderr)
            return 2
    return wrapped
