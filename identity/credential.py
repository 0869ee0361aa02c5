"""Voter credentials: the printed code and the Ed25519 key derived from it (SPEC §4).

A credential code is 23 uniformly random symbols from a 31-symbol alphabet that survives
handwriting and reading aloud (no 0/O, 1/I/L), followed by one check symbol; it is printed in
six groups of four joined by "-" (23·log2(31) ≈ 113.9 bits of entropy).  The voter's Ed25519
seed is HKDF-SHA256 (RFC 5869) of the 24 symbols, salted with the estate's origin, so the same
code gives unrelated keys in different estates.  The public key (RFC 8032) is all the server
ever stores.

Pure functions, no database.  The browser module ``web/static/booth/gongjue-crypto.js``
implements ``normalise_code`` and ``derive_seed`` identically (tests/vectors/crypto).
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable

import nacl.signing
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
"""The 31 code symbols; a symbol's value is its index here."""

RANDOM_SYMBOLS = 23
"""Number of random symbols in a code (v_0 … v_22)."""

CODE_LENGTH = RANDOM_SYMBOLS + 1
"""Symbols in a code, check symbol included."""

GROUP_SIZE = 4
"""Symbols per printed group."""

ENTROPY_BITS = RANDOM_SYMBOLS * math.log2(len(ALPHABET))
"""Entropy of a generated code in bits (≈ 113.94)."""

HKDF_INFO = b"gongjue/v1/credential"
"""HKDF ``info`` for the credential seed."""

SEPARATORS = frozenset(" \t\r\n\u3000-")
"""Characters dropped from typed input: space, tab, CR, LF, ideographic space, hyphen-minus."""

_VALUE = {symbol: value for value, symbol in enumerate(ALPHABET)}
_REJECT_FROM = 256 - 256 % len(ALPHABET)  # 248: bytes ≥ this are redrawn so symbols stay uniform
_CONFUSABLE = {"0": "O/0", "O": "O/0", "1": "1/I/L", "I": "1/I/L", "L": "1/I/L"}


class CodeError(ValueError):
    """Typed input that is not a valid credential code.

    ``kind`` is one of ``"character"``, ``"length"``, ``"check"``; the message is Chinese first,
    then English, and names the offending character where there is one.
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def check_symbol(symbols: str) -> str:
    """The check symbol for the 23 random symbols: ALPHABET[(Σ (i+1)·v_i) mod 31]."""
    if len(symbols) != RANDOM_SYMBOLS or any(s not in _VALUE for s in symbols):
        raise ValueError("check_symbol needs exactly 23 alphabet symbols")
    total = sum((i + 1) * _VALUE[s] for i, s in enumerate(symbols))
    return ALPHABET[total % len(ALPHABET)]


def random_symbol(random_bytes: Callable[[int], bytes] = secrets.token_bytes) -> str:
    """One uniformly random symbol: draw a byte, redraw if ≥ 248, take it mod 31."""
    while True:
        byte = random_bytes(1)[0]
        if byte < _REJECT_FROM:
            return ALPHABET[byte % len(ALPHABET)]


def generate_code(random_bytes: Callable[[int], bytes] = secrets.token_bytes) -> str:
    """A fresh code: 23 random symbols and their check symbol, without separators."""
    symbols = "".join(random_symbol(random_bytes) for _ in range(RANDOM_SYMBOLS))
    return symbols + check_symbol(symbols)


def format_code(code: str) -> str:
    """The printed form: six groups of four joined by "-", e.g. ``ABCD-EFGH-…``."""
    code = normalise_code(code)
    return "-".join(code[i:i + GROUP_SIZE] for i in range(0, CODE_LENGTH, GROUP_SIZE))


def normalise_code(text: str) -> str:
    """The 24 symbols of typed input, or ``CodeError``.

    ASCII letters are upper-cased; separators (``SEPARATORS``) are dropped; any other character
    outside the alphabet is refused by name; then the length and the check symbol are checked.
    """
    symbols: list[str] = []
    for char in text:
        if char in SEPARATORS:
            continue
        upper = char.upper() if "a" <= char <= "z" else char
        if upper not in _VALUE:
            raise CodeError("character", _character_message(char))
        symbols.append(upper)
    if len(symbols) != CODE_LENGTH:
        raise CodeError("length", f"凭证码应为 24 个字符，您输入了 {len(symbols)} 个，请核对信上的号码 / "
                                  f"a credential code has 24 characters, you entered {len(symbols)}")
    code = "".join(symbols)
    if check_symbol(code[:RANDOM_SYMBOLS]) != code[RANDOM_SYMBOLS]:
        raise CodeError("check", "凭证码有误（可能抄错了一个字符），请逐字核对 / "
                                 "code mistyped: a character is wrong, please check it against the letter")
    return code


def _character_message(char: str) -> str:
    shown = char if char.isprintable() else f"U+{ord(char):04X}"
    if char.upper() in _CONFUSABLE:
        return (f"凭证码中没有字符 “{shown}”（码中不使用 0、O、1、I、L），请核对信上的号码 / "
                f"credential codes never contain '{shown}' (no 0, O, 1, I or L are used)")
    return (f"凭证码中不能有字符 “{shown}”，只用数字 2–9 和大写字母 / "
            f"character '{shown}' is not allowed: codes use only digits 2-9 and letters")


def derive_seed(code: str, origin: str) -> bytes:
    """The 32-byte Ed25519 seed: HKDF-SHA256(ikm = code, salt = origin, info = HKDF_INFO)."""
    code = normalise_code(code)
    hkdf = HKDF(algorithm=SHA256(), length=32, salt=origin.encode("utf-8"), info=HKDF_INFO)
    return hkdf.derive(code.encode("ascii"))


def signing_key(code: str, origin: str) -> nacl.signing.SigningKey:
    """The voter's Ed25519 signing key (RFC 8032) for ``code`` in the estate ``origin``."""
    return nacl.signing.SigningKey(derive_seed(code, origin))


def public_key_hex(code: str, origin: str) -> str:
    """The voter's Ed25519 public key, 64 lowercase hex characters."""
    return signing_key(code, origin).verify_key.encode().hex()
