"""The one Ed25519 rule for credential keys and ballot signatures (docs/SPEC.md §3.6).

RFC 8032 leaves implementations free on small-order and mixed-order points and on the
cofactor, and real libraries disagree (libsodium checks R and A for small order only and uses
the cofactorless equation; @noble/curves uses the cofactored one).  Gongjue fixes one strict
rule, identical in Python and in the browser module (``verifySignature`` in
web/static/booth/gongjue-crypto.js):

- the public key A and the signature's R are canonical encodings of points of the prime-order
  subgroup, not the identity and not of small order (``group.is_valid``: the §3.1 point rule);
- the signature's S is a canonical scalar, S < ℓ;
- the cofactorless equation holds: S·G = R + k·A with k = int_le(SHA-512(R ‖ A ‖ M)) mod ℓ.

Given the first two checks, libsodium's ``crypto_sign_open`` computes exactly the cofactorless
equation (it re-encodes S·G − k·A and compares the bytes with R), so it is used for the last.
"""

from __future__ import annotations

import nacl.bindings
import nacl.exceptions

from voting.crypto import group
from voting.crypto.group import L


class SignatureError(ValueError):
    """A public key or signature refused by the rule of SPEC §3.6."""


def is_valid_public_key(public_key: bytes) -> bool:
    """A is a canonical prime-order-subgroup point, not the identity, not of small order."""
    return isinstance(public_key, (bytes, bytearray)) and group.is_valid(bytes(public_key))


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
    if not group.is_valid(r):
        raise SignatureError("signature: R is not a point of the prime-order subgroup")
    if s >= L:
        raise SignatureError("signature: S is not reduced modulo ℓ")
    try:
        nacl.bindings.crypto_sign_open(bytes(signature) + bytes(message), bytes(public_key))
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.CryptoError, ValueError):
        raise SignatureError("signature does not verify") from None
