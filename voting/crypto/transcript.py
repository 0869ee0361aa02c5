"""Fiat–Shamir challenges (docs/SPEC.md §3.2).

``challenge(tag, f1, f2, …)`` = int_le(SHA-512(enc(tag) ‖ enc(f1) ‖ …)) mod ℓ with
enc(b) = 4-byte big-endian length ‖ b.  Field types map to bytes as the spec says:

- ``str``: UTF-8 text (tags, item ids, ceremony contexts);
- ``bytes``: raw bytes as given (32-byte points, the fingerprint, the voter key);
- ``int``: a 4-byte big-endian unsigned integer (indices, lo, hi, trustee numbers).

Scalars are passed as their 32 bytes (``group.scalar_to_bytes``), never as ``int``.
"""

from __future__ import annotations

import functools
import hashlib

from voting.crypto.group import L

BIT_TAG = "gongjue/v1/bit"
COUNT_TAG = "gongjue/v1/count"
SHARE_TAG = "gongjue/v1/share"
KEY_TAG = "gongjue/v1/key"
DEALER_TAG = "gongjue/v1/dkg-dealer"


def encode_field(f: bytes | str | int) -> bytes:
    """enc(f): the length-prefixed canonical encoding of one transcript field."""
    if isinstance(f, bool):
        raise TypeError("booleans are not transcript fields")
    if isinstance(f, int):
        if not 0 <= f < 2**32:
            raise ValueError("integer transcript field out of range [0, 2^32)")
        b = f.to_bytes(4, "big")
    elif isinstance(f, str):
        b = f.encode("utf-8")
    elif isinstance(f, (bytes, bytearray)):
        b = bytes(f)
    else:
        raise TypeError(f"unsupported transcript field {type(f).__name__}")
    return len(b).to_bytes(4, "big") + b


_LEN32 = (32).to_bytes(4, "big")
_LEN4 = (4).to_bytes(4, "big")


@functools.lru_cache(maxsize=4096)
def _enc_text(s: str) -> bytes:
    """enc(s) for a text field (tags and item ids repeat in every proof of an audit: cached)."""
    b = s.encode("utf-8")
    return len(b).to_bytes(4, "big") + b


def challenge(tag: str, *fields: bytes | str | int) -> int:
    """c = int_le(SHA-512(enc(tag) ‖ enc(f1) ‖ …)) mod ℓ."""
    parts = [_enc_text(tag) if type(tag) is str else encode_field(tag)]
    append = parts.append
    for f in fields:
        t = type(f)
        if t is bytes and len(f) == 32:  # points, fingerprints, keys: the hot path
            append(_LEN32)
            append(f)
        elif t is str:
            append(_enc_text(f))
        elif t is int and 0 <= f < 2**32:
            append(_LEN4)
            append(f.to_bytes(4, "big"))
        else:
            append(encode_field(f))
    return int.from_bytes(hashlib.sha512(b"".join(parts)).digest(), "little") % L
