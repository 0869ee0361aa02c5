"""Exponential ElGamal under a joint public key (docs/SPEC.md §3.3).

Encrypt m with nonce r under K: (α, β) = (r·G, m·G + r·K).  Ciphertexts add component-wise,
so Σ Enc(m_i) = Enc(Σ m_i).  A ciphertext inside a ballot never has an identity component
(r ≠ 0); aggregates and zero tallies may (``Ciphertext.from_json(..., allow_identity=True)``).
"""

from __future__ import annotations

from dataclasses import dataclass

from voting.crypto import group
from voting.crypto.group import IDENTITY, Point


@dataclass(frozen=True, slots=True)
class Ciphertext:
    """(α, β) as compressed points."""

    alpha: Point
    beta: Point

    def __add__(self, other: "Ciphertext") -> "Ciphertext":
        return Ciphertext(group.add(self.alpha, other.alpha), group.add(self.beta, other.beta))

    def to_json(self) -> dict:
        """{"alpha": hex, "beta": hex}."""
        return {"alpha": self.alpha.hex(), "beta": self.beta.hex()}

    @classmethod
    def from_json(cls, obj: object, *, allow_identity: bool = False, what: str = "ciphertext") -> "Ciphertext":
        """Parse and validate {"alpha", "beta"} (SPEC §3.1 point checks)."""
        if not isinstance(obj, dict) or set(obj) != {"alpha", "beta"}:
            raise group.GroupError(f"{what}: expected an object with exactly alpha and beta")
        return cls(
            group.point_from_hex(obj["alpha"], allow_identity=allow_identity, what=f"{what}.alpha"),
            group.point_from_hex(obj["beta"], allow_identity=allow_identity, what=f"{what}.beta"),
        )


ZERO = Ciphertext(IDENTITY, IDENTITY)
"""The trivial encryption of 0 with nonce 0: the neutral element of ciphertext addition."""


def encrypt(m: int, r: int, joint_key: Point) -> Ciphertext:
    """Enc_K(m; r) = (r·G, m·G + r·K)."""
    return Ciphertext(group.base_mul(r), group.add(group.base_mul(m), group.mul(r, joint_key)))


def add_all(cts) -> Ciphertext:
    """Σ (α_i, β_i); ZERO for an empty sum."""
    cts = list(cts)
    return Ciphertext(group.add_all(c.alpha for c in cts), group.add_all(c.beta for c in cts))
