"""Key holders' files: passphrases, argon2id-sealed secrets, JSON in and out (docs/SPEC.md §3.7).

Shared by ``gongjue trustee`` (web.cli.trustee) and its k-of-n ceremony (web.cli.dkg).  Sealed
files: {"v": 1, "kind", ..., "kdf": {"alg": "argon2id", "salt", "opslimit", "memlimit"}, "box"};
the box is a NaCl SecretBox (XSalsa20-Poly1305, nonce prepended) of the JSON secret under the
argon2id key of the passphrase.  The passphrase comes from GONGJUE_TRUSTEE_PASSPHRASE (tests)
or a prompt.  ``Refused`` carries a message for the user; ``run`` turns it into exit status 2.
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


class Refused(Exception):
    """Input refused; the message is shown to the user."""


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


def read_json(path: str) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise Refused(f"{path}: 文件不存在 / no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise Refused(f"{path}: 不是有效的 JSON / not valid JSON ({e})") from None


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


def load_key(path: str) -> tuple[int, int]:
    """(trustee number, secret) from a decryption key file."""
    obj = read_json(path)
    if obj.get("kind") != "gongjue/trustee-key":
        raise Refused(f"{path}: 不是监票人密钥文件 / not a trustee key file")
    secret = open_secret(obj, ask_passphrase(confirm=False))
    try:
        s = group.scalar_from_hex(secret["secret"])
    except (KeyError, group.GroupError):
        raise Refused(f"{path}: 密钥内容无效 / key content invalid") from None
    if group.base_mul(s).hex() != obj["key"]:
        raise Refused(f"{path}: 私钥与公钥不符 / private key does not match the public key")
    return obj["trustee"], s


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
