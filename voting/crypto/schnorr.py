"""Schnorr proof of knowledge of a trustee secret key (docs/SPEC.md §3.7, §3.10).

Statement K_j = s_j·G.  Proof (c, z): A = z·G − c·K_j, accept iff
c = challenge("gongjue/v1/key", context, j, K_j, A), context = the UTF-8 ceremony id
(e.g. "<origin>/<round id>").  The prover draws w, sets A = w·G and z = w + c·s_j.

A k-of-n dealer's proof (§3.10) also covers its Ed25519 signing key and X25519 transport key:
c = challenge("gongjue/v1/dkg-dealer", context, i, signing key, transport key, C_{i,0}, A).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from voting.crypto import group
from voting.crypto.chaum_pedersen import ProofError
from voting.crypto.group import L, GroupError, Point
from voting.crypto.transcript import DEALER_TAG, KEY_TAG, challenge


@dataclass(frozen=True, slots=True)
class KeyProof:
    """(c, z)."""

    c: int
    z: int

    def to_json(self) -> dict:
        return {"c": group.scalar_to_hex(self.c), "z": group.scalar_to_hex(self.z)}

    @classmethod
    def from_json(cls, obj: object) -> "KeyProof":
        if not isinstance(obj, dict) or set(obj) != {"c", "z"}:
            raise ProofError("key proof: expected an object with exactly c and z")
        try:
            return cls(group.scalar_from_hex(obj["c"], what="key proof c"),
                       group.scalar_from_hex(obj["z"], what="key proof z"))
        except GroupError as e:
            raise ProofError(str(e)) from None


def key_challenge(context: str, j: int, key: Point, a: Point) -> int:
    """c = challenge("gongjue/v1/key", context, j, K_j, A)."""
    return challenge(KEY_TAG, context, j, key, a)


def prove_key(secret: int, j: int, key: Point, *, context: str, rand: Callable[[], int]) -> KeyProof:
    """Prove knowledge of s_j with K_j = s_j·G.  Draws w."""
    w = rand()
    c = key_challenge(context, j, key, group.base_mul(w))
    return KeyProof(c, (w + c * secret) % L)


def verify_key(proof: KeyProof, j: int, key: Point, *, context: str) -> None:
    """Raise ProofError unless the proof verifies; K_j must already be a valid point."""
    group.check_point(key, what=f"public key of trustee {j}")
    a = group.sub(group.base_mul(proof.z), group.mul(proof.c, key))
    if key_challenge(context, j, key, a) != proof.c:
        raise ProofError(f"key possession proof of trustee {j} does not verify")


def dealer_challenge(context: str, i: int, signing_key: bytes, transport: bytes, key: Point, a: Point) -> int:
    """c = challenge("gongjue/v1/dkg-dealer", context, i, signing key, transport key, C_{i,0}, A)."""
    return challenge(DEALER_TAG, context, i, signing_key, transport, key, a)


def prove_dealer(secret: int, i: int, key: Point, *, context: str, signing_key: bytes, transport: bytes,
                 rand: Callable[[], int]) -> KeyProof:
    """Prove knowledge of a_{i,0} with C_{i,0} = a_{i,0}·G, binding the dealer's two public keys.  Draws w."""
    w = rand()
    c = dealer_challenge(context, i, signing_key, transport, key, group.base_mul(w))
    return KeyProof(c, (w + c * secret) % L)


def verify_dealer(proof: KeyProof, i: int, key: Point, *, context: str, signing_key: bytes, transport: bytes) -> None:
    """Raise ProofError unless the dealer's proof verifies; C_{i,0} must be a valid point."""
    group.check_point(key, what=f"commitment 0 of trustee {i}")
    a = group.sub(group.base_mul(proof.z), group.mul(proof.c, key))
    if dealer_challenge(context, i, signing_key, transport, key, a) != proof.c:
        raise ProofError(f"key possession proof of trustee {i} does not verify")
