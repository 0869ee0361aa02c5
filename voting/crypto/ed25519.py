"""The one Ed25519 rule for credential keys and ballot signatures (docs/SPEC.md §3.6).

RFC 8032 leaves implementations free on small-order and mixed-order points and on the
cofactor, and real libraries disagree (libsodium checks R and A for small order only and uses
the cofactorless equation; @noble/curves uses the cofactored one).  Gongjue fixes one strict
rule, identical in Python and in the browser module (``verifySignature`` in
web/static/booth/gongjue-crypto.js):

- the public key A and the signature's R are canonical RFC 8032 encodings of points of the
  prime-order subgroup of Ed25519, not the identity and not of small order (``is_valid_point``,
  libsodium's ``crypto_core_ed25519_is_valid_point``).  These are Ed25519 encodings, not the
  ristretto255 encodings of the ballot group (``voting.crypto.group``);
- the signature's S is a canonical scalar, S < ℓ;
- the cofactorless equation holds: S·G = R + k·A with k = int_le(SHA-512(R ‖ A ‖ M)) mod ℓ.

Given a valid A and S < ℓ, libsodium's ``crypto_sign_open`` computes exactly the cofactorless
equation (it re-encodes S·G − k·A and compares the bytes with R, and refuses a small-order R), so
it is used for the last; when the equation holds, R is then necessarily a valid point, and R's
own check (which costs an ℓ·R multiplication) runs only to name the failure of a refused
signature.
"""

from __future__ import annotations

import nacl.bindings
import nacl.exceptions

from nacl._sodium import lib as _nacl_lib

from voting.crypto.group import L

_ED_IDENTITY = b"\x01" + bytes(31)


class SignatureError(ValueError):
    """A public key or signature refused by the rule of SPEC §3.6."""


_VALID: set[bytes] = set()
"""Encodings this process found valid (the check is a pure function of the 32 bytes and costs an
ℓ·P multiplication; an audit meets each voter key twice per ballot).  Bounded: ``_VALID_MAX``."""
_VALID_MAX = 1 << 20


def is_valid_point(p: bytes) -> bool:
    """A canonical RFC 8032 encoding of an Ed25519 point of the prime-order subgroup, not of small order."""
    if type(p) is bytes and p in _VALID:
        return True
    if not isinstance(p, (bytes, bytearray)) or len(p) != 32:
        return False
    p = bytes(p)
    ok = p != _ED_IDENTITY and _nacl_lib.crypto_core_ed25519_is_valid_point(p) == 1
    if ok and len(_VALID) < _VALID_MAX:
        _VALID.add(p)
    return ok


def remember_valid(keys) -> None:  # noqa: ANN001
    """Add keys that libsodium's ``crypto_core_ed25519_is_valid_point`` accepted elsewhere in this
    process (``identity.authority``'s replay checks every registered key with it) to ``_VALID``:
    that check refuses every small-order encoding, the identity's among them, so it is this rule."""
    for k in keys:
        if type(k) is bytes and len(k) == 32 and len(_VALID) < _VALID_MAX:
            _VALID.add(k)


def is_valid_public_key(public_key: bytes) -> bool:
    """A is a canonical prime-order-subgroup point, not the identity, not of small order."""
    return is_valid_point(public_key)


def check_public_key(public_key: bytes, *, what: str = "public key") -> bytes:
    """Return A if valid, else raise SignatureError naming ``what``."""
    if not is_valid_public_key(public_key):
        raise SignatureError(f"{what}: not a valid Ed25519 key of the prime-order subgroup")
    return bytes(public_key)


def verify(public_key: bytes, message: bytes, signature: bytes) -> None:
    """Raise SignatureError unless ``signature`` is valid for ``message`` under A by the §3.6 rule."""
    check_public_key(public_key)
    if not isinstance(signature, (bytes, bytearray)) or len(signature) != 64:
        raise SignatureError("signature: expected 64 bytes")
    r, s = bytes(signature[:32]), int.from_bytes(signature[32:], "little")
    if s < L:
        try:
            nacl.bindings.crypto_sign_open(bytes(signature) + bytes(message), bytes(public_key))
            # The equation held: libsodium re-encoded S·G − k·A (a point of the prime-order
            # subgroup, A being valid) and found R's bytes, and it refuses a small-order R, so R
            # is a valid point; its own check (an ℓ·R multiplication) would repeat that.
            return
        except (nacl.exceptions.BadSignatureError, nacl.exceptions.CryptoError, ValueError):
            pass
    if not is_valid_point(r):
        raise SignatureError("signature: R is not a point of the prime-order subgroup")
    if s >= L:
        raise SignatureError("signature: S is not reduced modulo ℓ")
    raise SignatureError("signature does not verify")
