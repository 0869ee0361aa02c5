"""The prime-order group ristretto255 (RFC 9496) over Curve25519, through libsodium (docs/SPEC.md §3.1).

ristretto255 is the prime-order group of Ed25519 (order ℓ, generator the RFC 8032 base point)
with its own 32-byte encoding: every canonical encoding decodes to an element of the group, so
there is no subgroup or small-order check to make (or to forget), and libsodium's
``crypto_scalarmult_ristretto255`` costs about half of ``crypto_scalarmult_ed25519_noclamp``,
which spends ~43 µs of its ~90 µs on an ℓ·P check of its input (SPEC §3.11).

Points are kept as their 32-byte encoding (``bytes``); scalars as Python ``int`` in [0, ℓ).
Every operation goes through libsodium's ``crypto_core_ristretto255_*`` and
``crypto_scalarmult_ristretto255*``, from the libsodium build that the ``rbcl`` package ships
(PyNaCl does not bind the ristretto255 functions), called through ctypes directly.

libsodium behaviour this module absorbs (SPEC §3.1):

- ``crypto_scalarmult_ristretto255`` and ``..._base`` fail on an identity result (a zero scalar
  or the identity as input) and on an invalid encoding.  ``mul`` and ``base_mul`` return
  ``IDENTITY`` for a zero scalar or an identity input, so g⁰ (encrypting 0, zero tallies,
  discrete-log tables) is representable; a non-canonical or non-decodable input raises
  ``GroupError``.
- ``crypto_core_ristretto255_is_valid_point`` accepts the identity (32 zero bytes); ``is_valid``
  refuses it unless the caller says the format allows it.

Credential and signature keys are Ed25519 (RFC 8032 encodings) and never go through this module:
see ``voting.crypto.ed25519``.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import sys

import rbcl  # noqa: F401  (loads its libsodium build)

_lib = sys.modules["rbcl._sodium"]._sodium
try:  # rbcl writes its libsodium to a temporary file and never removes it; the mapping stays valid
    os.unlink(sys.modules["rbcl._sodium"].lib_path)
except (AttributeError, OSError):
    pass

_smul = _lib.crypto_scalarmult_ristretto255
_smul_base = _lib.crypto_scalarmult_ristretto255_base
_add = _lib.crypto_core_ristretto255_add
_sub = _lib.crypto_core_ristretto255_sub
_valid = _lib.crypto_core_ristretto255_is_valid_point
_from_hash = _lib.crypto_core_ristretto255_from_hash
_B32 = ctypes.c_char * 32  # an output buffer for one point (faster to make than create_string_buffer)

L = 2**252 + 27742317777372353535851937790883648493
"""ℓ, the order of the group and of the base point G."""

Point = bytes
"""A group element as its 32-byte ristretto255 encoding."""

IDENTITY: Point = bytes(32)
"""O, the neutral element (encoded as 32 zero bytes)."""


class GroupError(ValueError):
    """A point or scalar that is not a valid group element / scalar."""


def _scalar_bytes(k: int) -> bytes:
    return k.to_bytes(32, "little")


def base_mul(k: int) -> Point:
    """k·G for any integer k (reduced mod ℓ); 0·G = O."""
    k %= L
    if k == 0:
        return IDENTITY
    out = _B32()
    if _smul_base(out, k.to_bytes(32, "little")) != 0:
        raise GroupError("base multiplication failed")
    return out.raw


G: Point = base_mul(1)
"""The generator (the RFC 8032 base point as a ristretto255 element)."""


def mul(k: int, p: Point) -> Point:
    """k·P for any integer k; O when k ≡ 0 or P = O.

    Raises GroupError if P is not a canonical ristretto255 encoding (libsodium checks it).
    """
    k %= L
    if k == 0 or p == IDENTITY:
        return IDENTITY
    out = _B32()
    if _smul(out, k.to_bytes(32, "little"), p) != 0:
        raise GroupError("point is not a valid group element")
    return out.raw


def add(p: Point, q: Point) -> Point:
    """P + Q (either may be O)."""
    out = _B32()
    if _add(out, p, q) != 0:
        raise GroupError("point addition on an invalid encoding")
    return out.raw


def sub(p: Point, q: Point) -> Point:
    """P − Q (either may be O)."""
    out = _B32()
    if _sub(out, p, q) != 0:
        raise GroupError("point subtraction on an invalid encoding")
    return out.raw


def neg(p: Point) -> Point:
    """−P."""
    return sub(IDENTITY, p)


def add_all(points) -> Point:
    """Σ P_i (O for an empty sum)."""
    out = _B32()
    acc = IDENTITY
    for p in points:
        if _add(out, acc, p) != 0:
            raise GroupError("point addition on an invalid encoding")
        acc = out.raw
    return acc


def is_valid(p: bytes, *, allow_identity: bool = False) -> bool:
    """SPEC §3.1 validity: a canonical ristretto255 encoding (every one is a group element).

    The identity is valid only when ``allow_identity`` (and only as its one encoding, 32 zero bytes).
    """
    if type(p) is not bytes:
        if not isinstance(p, (bytes, bytearray)):
            return False
        p = bytes(p)
    if len(p) != 32:
        return False
    if p == IDENTITY:
        return allow_identity
    return _valid(p) == 1


def check_point(p: bytes, *, allow_identity: bool = False, what: str = "point") -> Point:
    """Return p if valid (see ``is_valid``), else raise GroupError naming ``what``."""
    if not is_valid(p, allow_identity=allow_identity):
        raise GroupError(f"{what}: not a valid group element")
    return bytes(p)


def point_from_hex(s: object, *, allow_identity: bool = False, what: str = "point") -> Point:
    """Decode and validate a point given as 64 lowercase hex characters."""
    if not isinstance(s, str) or len(s) != 64 or s != s.lower():
        raise GroupError(f"{what}: expected 64 lowercase hex characters")
    try:
        raw = bytes.fromhex(s)
    except ValueError:
        raise GroupError(f"{what}: expected 64 lowercase hex characters") from None
    return check_point(raw, allow_identity=allow_identity, what=what)


def point_to_hex(p: Point) -> str:
    """The 64-character lowercase hex encoding of a point."""
    return p.hex()


def scalar_from_hex(s: object, *, what: str = "scalar") -> int:
    """Decode a scalar: 32 bytes little-endian as 64 lowercase hex characters, value < ℓ."""
    if not isinstance(s, str) or len(s) != 64 or s != s.lower():
        raise GroupError(f"{what}: expected 64 lowercase hex characters")
    try:
        k = int.from_bytes(bytes.fromhex(s), "little")
    except ValueError:
        raise GroupError(f"{what}: expected 64 lowercase hex characters") from None
    if k >= L:
        raise GroupError(f"{what}: not reduced modulo ℓ")
    return k


def scalar_to_hex(k: int) -> str:
    """The 64-character lowercase hex encoding of a scalar in [0, ℓ)."""
    return _scalar_bytes(k % L).hex()


def scalar_to_bytes(k: int) -> bytes:
    """The 32-byte little-endian encoding of a scalar in [0, ℓ)."""
    return _scalar_bytes(k % L)


def random_scalar() -> int:
    """Production randomness: 64 bytes from the OS CSPRNG reduced mod ℓ, never 0."""
    while True:
        k = int.from_bytes(os.urandom(64), "little") % L
        if k:
            return k


def generator(label: str) -> Point:
    """An extra generator with unknown discrete log to G: RFC 9496 from_uniform(SHA-512(label))."""
    seed = hashlib.sha512(b"gongjue/v1/generator\x00" + label.encode()).digest()
    out = _B32()
    if _from_hash(out, seed) != 0:
        raise GroupError("from_hash failed")
    return out.raw
