"""The prime-order subgroup of Ed25519, through libsodium (docs/SPEC.md §3.1).

Points are kept as their 32-byte RFC 8032 compressed encoding (``bytes``); scalars as Python
``int`` in [0, ℓ).  Every operation goes through PyNaCl's libsodium bindings
(``crypto_core_ed25519_*``, ``crypto_scalarmult_ed25519_*noclamp``), called through the cffi
``lib`` object directly to avoid per-call argument re-validation on the hot path.

libsodium behaviour this module absorbs (SPEC §3.1):

- ``crypto_scalarmult_ed25519_noclamp`` and ``..._base_noclamp`` fail on a zero scalar, on an
  identity, small-order or mixed-order input and on an identity result.  ``mul`` and
  ``base_mul`` return the identity ``IDENTITY`` for a zero scalar or an identity input, so g⁰
  (encrypting 0, zero tallies, discrete-log tables) is representable.  A variable-base
  multiplication of a point outside the prime-order subgroup raises ``GroupError``: libsodium
  checks canonical encoding, curve membership, small order and ℓ·P = O on every input.
- ``crypto_core_ed25519_is_valid_point`` returns False for the identity; ``add``/``sub``
  accept and return the identity.

Received points go through ``point_from_hex`` (or ``check_point``), which refuses anything
that is not canonical, not on the curve, not in the prime-order subgroup, or of small order; the
identity only where the caller says the format allows it.
"""

from __future__ import annotations

import hashlib
import os

from nacl._sodium import ffi, lib

L = 2**252 + 27742317777372353535851937790883648493
"""ℓ, the order of the prime-order subgroup and of the base point G."""

Point = bytes
"""A group element as its 32-byte compressed encoding."""

IDENTITY: Point = b"\x01" + bytes(31)
"""O, the neutral element (the curve point (0, 1))."""


class GroupError(ValueError):
    """A point or scalar that is not a valid group element / scalar."""


def _scalar_bytes(k: int) -> bytes:
    return k.to_bytes(32, "little")


def base_mul(k: int) -> Point:
    """k·G for any integer k (reduced mod ℓ); 0·G = O."""
    k %= L
    if k == 0:
        return IDENTITY
    out = ffi.new("unsigned char[32]")
    if lib.crypto_scalarmult_ed25519_base_noclamp(out, _scalar_bytes(k)) != 0:
        raise GroupError("base multiplication failed")
    return bytes(out)


G: Point = base_mul(1)
"""The RFC 8032 base point."""


def mul(k: int, p: Point) -> Point:
    """k·P for any integer k; O when k ≡ 0 or P = O.

    Raises GroupError if P is not a prime-order-subgroup point (libsodium checks it).
    """
    k %= L
    if k == 0 or p == IDENTITY:
        return IDENTITY
    out = ffi.new("unsigned char[32]")
    if lib.crypto_scalarmult_ed25519_noclamp(out, _scalar_bytes(k), p) != 0:
        raise GroupError("point is not a valid prime-order group element")
    return bytes(out)


def add(p: Point, q: Point) -> Point:
    """P + Q (either may be O)."""
    out = ffi.new("unsigned char[32]")
    if lib.crypto_core_ed25519_add(out, p, q) != 0:
        raise GroupError("point addition on an invalid encoding")
    return bytes(out)


def sub(p: Point, q: Point) -> Point:
    """P − Q (either may be O)."""
    out = ffi.new("unsigned char[32]")
    if lib.crypto_core_ed25519_sub(out, p, q) != 0:
        raise GroupError("point subtraction on an invalid encoding")
    return bytes(out)


def neg(p: Point) -> Point:
    """−P."""
    return sub(IDENTITY, p)


def add_all(points) -> Point:
    """Σ P_i (O for an empty sum)."""
    out = ffi.new("unsigned char[32]")
    acc = IDENTITY
    for p in points:
        if lib.crypto_core_ed25519_add(out, acc, p) != 0:
            raise GroupError("point addition on an invalid encoding")
        acc = bytes(out)
    return acc


def is_valid(p: bytes, *, allow_identity: bool = False) -> bool:
    """SPEC §3.1 validity: canonical, on the curve, in the prime-order subgroup, not small order.

    The identity is valid only when ``allow_identity`` (and only as the exact encoding 01 00…00).
    """
    if len(p) != 32:
        return False
    if p == IDENTITY:
        return allow_identity
    return lib.crypto_core_ed25519_is_valid_point(p) == 1


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
    """An extra generator with unknown discrete log to G: from_uniform(SHA-512(label)[:32])."""
    seed = hashlib.sha512(b"gongjue/v1/generator\x00" + label.encode()).digest()[:32]
    out = ffi.new("unsigned char[32]")
    if lib.crypto_core_ed25519_from_uniform(out, seed) != 0:
        raise GroupError("from_uniform failed")
    return bytes(out)
