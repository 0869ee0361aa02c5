"""k-of-n trustee keys by Joint-Feldman distributed key generation (docs/SPEC.md §3.10).

Pedersen's DKG with Feldman verifiable secret sharing, as ElectionGuard 1.x and Belenios do.
Trustees are numbered i = 1..n; the threshold is k (1 ≤ k ≤ n).

1. Trustee i draws a polynomial f_i(x) = a_{i,0} + a_{i,1}·x + … + a_{i,k−1}·x^{k−1} (draw order:
   a_{i,0}, …, a_{i,k−1}, then the Schnorr proof's w) and publishes the commitments
   C_{i,t} = a_{i,t}·G with a Schnorr proof of knowledge of a_{i,0} for C_{i,0}
   (``schnorr``, context = ceremony id, j = i):
   {"v": 1, "context", "trustee": i, "threshold": k, "commitments": [C_{i,0}, …], "proof": {"c", "z"}}.
2. Trustee i sends s_{i→j} = f_i(j) to trustee j privately (``seal_share`` / ``open_share``:
   a libsodium sealed box to j's X25519 transport key).
3. Trustee j checks every received share: s_{i→j}·G = Σ_t j^t·C_{i,t}; a failing dealer is
   named (``DKGError``) and must be excluded by the ceremony before anyone proceeds.
4. Trustee j's decryption secret is x_j = Σ_i s_{i→j}; every verification key is public:
   X_j = Σ_i Σ_t j^t·C_{i,t}; the joint key is K = Σ_i C_{i,0}.

Decryption then works as in ``trustee`` with K_j := X_j and λ_j the Lagrange coefficients at 0
of any k present trustees: Σ_j λ_j·x_j = Σ_i f_i(0) = the joint secret.  A lost key is
therefore harmless as long as k trustees remain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import nacl.public

from voting.crypto import group
from voting.crypto.chaum_pedersen import ProofError
from voting.crypto.group import L, GroupError, Point
from voting.crypto.schnorr import KeyProof, prove_key, verify_key
from voting.crypto.trustee import TrusteeSet

_TOKEN = object()


class DKGError(ValueError):
    """A commitment, proof or share that does not check out; the message names the trustee."""


@dataclass(frozen=True, slots=True)
class Polynomial:
    """f_i's coefficients a_{i,0..k−1} (secret)."""

    coefficients: tuple[int, ...]

    def at(self, x: int) -> int:
        """f_i(x) mod ℓ (Horner)."""
        acc = 0
        for a in reversed(self.coefficients):
            acc = (acc * x + a) % L
        return acc


@dataclass(frozen=True, slots=True)
class VerifiedCommitments:
    """A dealer's commitments C_{i,t} whose proof verified.  Built only by ``verify_commitments``."""

    trustee: int
    threshold: int
    commitments: tuple[Point, ...]
    _token: object = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self._token is not _TOKEN:
            raise TypeError("VerifiedCommitments is only built by dkg.verify_commitments")


def new_polynomial(threshold: int, *, rand: Callable[[], int] | None = None) -> Polynomial:
    """Draw a_{i,0}, …, a_{i,k−1} (a_{i,0} ≠ 0)."""
    if threshold < 1:
        raise DKGError("threshold must be at least 1")
    rand = rand or group.random_scalar
    coefficients = tuple(rand() for _ in range(threshold))
    if coefficients[0] == 0:
        raise DKGError("zero secret drawn")
    return Polynomial(coefficients)


def commitments_json(poly: Polynomial, trustee: int, *, context: str, rand: Callable[[], int] | None = None) -> dict:
    """Trustee i's public commitments C_{i,t} = a_{i,t}·G and the proof of knowledge of a_{i,0}."""
    cs = [group.base_mul(a) for a in poly.coefficients]
    proof = prove_key(poly.coefficients[0], trustee, cs[0], context=context, rand=rand or group.random_scalar)
    return {"v": 1, "context": context, "trustee": trustee, "threshold": len(cs),
            "commitments": [c.hex() for c in cs], "proof": proof.to_json()}


def verify_commitments(obj: object, *, context: str, threshold: int, trustees: int) -> VerifiedCommitments:
    """Check a dealer's commitments: format, threshold, points (C_{i,t} may be O for t ≥ 1), proof."""
    if not isinstance(obj, dict) or set(obj) != {"v", "context", "trustee", "threshold", "commitments", "proof"}:
        raise DKGError("commitments: expected v, context, trustee, threshold, commitments and proof")
    i = obj["trustee"]
    if type(i) is not int or not 1 <= i <= trustees:
        raise DKGError(f"commitments: trustee number must be in 1..{trustees}")
    if obj["v"] != 1 or obj["context"] != context:
        raise DKGError(f"commitments of trustee {i}: wrong version or ceremony")
    if obj["threshold"] != threshold or not isinstance(obj["commitments"], list) or len(obj["commitments"]) != threshold:
        raise DKGError(f"commitments of trustee {i}: expected threshold {threshold} and {threshold} commitments")
    try:
        cs = tuple(group.point_from_hex(c, allow_identity=t > 0, what=f"trustee {i} commitment {t}")
                   for t, c in enumerate(obj["commitments"]))
        verify_key(KeyProof.from_json(obj["proof"]), i, cs[0], context=context)
    except (GroupError, ProofError) as e:
        raise DKGError(f"commitments of trustee {i}: {e}") from None
    return VerifiedCommitments(i, threshold, cs, _TOKEN)


def _eval_commitments(cs: Sequence[Point], j: int) -> Point:
    """Σ_t j^t·C_t."""
    return group.add_all(group.mul(pow(j, t, L), c) for t, c in enumerate(cs))


def check_share(share: int, j: int, dealer: VerifiedCommitments) -> None:
    """s_{i→j}·G = Σ_t j^t·C_{i,t}, else DKGError naming the dealer."""
    if not 0 <= share < L or group.base_mul(share) != _eval_commitments(dealer.commitments, j):
        raise DKGError(f"share from trustee {dealer.trustee} to trustee {j} does not match its commitments")


def seal_share(share: int, recipient: nacl.public.PublicKey) -> str:
    """Encrypt s_{i→j} (32 bytes) to trustee j's X25519 transport key (libsodium sealed box), hex."""
    return nacl.public.SealedBox(recipient).encrypt(group.scalar_to_bytes(share)).hex()


def open_share(sealed: str, recipient: nacl.public.PrivateKey) -> int:
    """Decrypt a sealed share; DKGError if it does not open or is not a scalar."""
    try:
        raw = nacl.public.SealedBox(recipient).decrypt(bytes.fromhex(sealed))
    except Exception:
        raise DKGError("sealed share does not open with this transport key") from None
    k = int.from_bytes(raw, "little")
    if len(raw) != 32 or k >= L:
        raise DKGError("sealed share is not a scalar")
    return k


def combine_secret(j: int, shares: dict[int, int], dealers: Sequence[VerifiedCommitments]) -> int:
    """x_j = Σ_i s_{i→j}, after checking every share against its dealer's commitments."""
    if set(shares) != {d.trustee for d in dealers}:
        raise DKGError(f"trustee {j} needs one share from every dealer")
    for d in dealers:
        check_share(shares[d.trustee], j, d)
    return sum(shares.values()) % L


def trustee_set(dealers: Sequence[VerifiedCommitments], *, trustees: int) -> TrusteeSet:
    """K = Σ_i C_{i,0}; X_j = Σ_i Σ_t j^t·C_{i,t} for j = 1..n; threshold k."""
    if not dealers or any(not isinstance(d, VerifiedCommitments) for d in dealers):
        raise DKGError("only verified commitments make a key")
    if sorted(d.trustee for d in dealers) != list(range(1, trustees + 1)):
        raise DKGError(f"need commitments from trustees 1..{trustees}")
    k = dealers[0].threshold
    if any(d.threshold != k for d in dealers) or k > trustees:
        raise DKGError("dealers disagree on the threshold")
    joint = group.add_all(d.commitments[0] for d in dealers)
    if joint == group.IDENTITY:
        raise DKGError("joint key is the identity")
    keys = {j: group.add_all(_eval_commitments(d.commitments, j) for d in dealers) for j in range(1, trustees + 1)}
    return TrusteeSet(keys, joint, k)
