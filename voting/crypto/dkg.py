"""k-of-n trustee keys by Joint-Feldman distributed key generation (docs/SPEC.md §3.10).

Pedersen's DKG with Feldman verifiable secret sharing, as ElectionGuard 1.x and Belenios do.
Trustees are numbered i = 1..n; the threshold is k (1 ≤ k ≤ n).

1. Trustee i draws a polynomial f_i(x) = a_{i,0} + a_{i,1}·x + … + a_{i,k−1}·x^{k−1} (draw order:
   a_{i,0}, …, a_{i,k−1}, then the proof's w), an Ed25519 signing key and an X25519 transport
   key, and publishes the commitments C_{i,t} = a_{i,t}·G with both public keys and a proof of
   knowledge of a_{i,0} that covers them (``schnorr.prove_dealer``):
   {"v": 1, "context", "trustee": i, "threshold": k, "commitments": [C_{i,0}, …],
    "signing_key", "transport", "proof": {"c", "z"}}.
2. Trustee i sends s_{i→j} = f_i(j) to trustee j in a libsodium sealed box to j's transport key,
   **signed with its signing key** (``seal_share``): a sealed box alone is anonymous, so without
   the signature anyone could seal a bad share "from" an honest dealer and have them excluded.
3. Trustee j opens every share (``open_share``): a share not signed by the dealer it names is
   refused as forged and names nobody (``DKGError.dealer`` is None); a signed share that does not
   open, is not a scalar, or fails s_{i→j}·G = Σ_t j^t·C_{i,t} names its dealer
   (``DKGError.dealer`` = i), who must be excluded by the ceremony before anyone proceeds.
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
import nacl.signing
import rfc8785

from voting.crypto import ed25519, group
from voting.crypto.chaum_pedersen import ProofError
from voting.crypto.group import L, GroupError, Point
from voting.crypto.schnorr import KeyProof, prove_dealer, verify_dealer
from voting.crypto.trustee import TrusteeSet

SHARE_PREFIX = b"gongjue/v1/dkg-share\x00"

_TOKEN = object()


class DKGError(ValueError):
    """A commitment, proof or share that does not check out; the message says whose.

    ``dealer`` is the trustee the ceremony must exclude (a dealer whose own signed share is
    bad), or None when no trustee is shown at fault (e.g. a forged share).
    """

    def __init__(self, message: str, *, dealer: int | None = None) -> None:
        super().__init__(message)
        self.dealer = dealer


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
    signing_key: bytes
    transport: bytes
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


def commitments_json(poly: Polynomial, trustee: int, *, context: str, signing_key: nacl.signing.VerifyKey | bytes,
                     transport: nacl.public.PublicKey | bytes, rand: Callable[[], int] | None = None) -> dict:
    """Trustee i's public commitments C_{i,t} = a_{i,t}·G, its signing and transport public keys, and
    the proof of knowledge of a_{i,0} covering both keys (SPEC §3.10)."""
    cs = [group.base_mul(a) for a in poly.coefficients]
    sk, tk = bytes(signing_key), bytes(transport)
    proof = prove_dealer(poly.coefficients[0], trustee, cs[0], context=context, signing_key=sk, transport=tk,
                         rand=rand or group.random_scalar)
    return {"v": 1, "context": context, "trustee": trustee, "threshold": len(cs),
            "commitments": [c.hex() for c in cs], "signing_key": sk.hex(), "transport": tk.hex(),
            "proof": proof.to_json()}


_COMMITMENT_KEYS = {"v", "context", "trustee", "threshold", "commitments", "signing_key", "transport", "proof"}


def _key_hex(obj: object, what: str) -> bytes:
    if not isinstance(obj, str) or len(obj) != 64 or obj != obj.lower():
        raise DKGError(f"{what}: expected 64 lowercase hex characters")
    try:
        return bytes.fromhex(obj)
    except ValueError:
        raise DKGError(f"{what}: expected 64 lowercase hex characters") from None


def verify_commitments(obj: object, *, context: str, threshold: int, trustees: int) -> VerifiedCommitments:
    """Check a dealer's commitments: format, threshold, points (C_{i,t} may be O for t ≥ 1), the
    signing key (Ed25519 rule, §3.6), the transport key, and the proof covering both keys."""
    if not isinstance(obj, dict) or set(obj) != _COMMITMENT_KEYS:
        raise DKGError("commitments: expected v, context, trustee, threshold, commitments, signing_key, transport "
                       "and proof")
    i = obj["trustee"]
    if type(i) is not int or not 1 <= i <= trustees:
        raise DKGError(f"commitments: trustee number must be in 1..{trustees}")
    if obj["v"] != 1 or type(obj["v"]) is not int or obj["context"] != context:
        raise DKGError(f"commitments of trustee {i}: wrong version or ceremony")
    if (type(obj["threshold"]) is not int or obj["threshold"] != threshold or not isinstance(obj["commitments"], list)
            or len(obj["commitments"]) != threshold):
        raise DKGError(f"commitments of trustee {i}: expected threshold {threshold} and {threshold} commitments")
    signing_key = _key_hex(obj["signing_key"], f"commitments of trustee {i}: signing_key")
    if not ed25519.is_valid_public_key(signing_key):
        raise DKGError(f"commitments of trustee {i}: signing_key is not a valid Ed25519 key (SPEC §3.6)")
    transport = _key_hex(obj["transport"], f"commitments of trustee {i}: transport")
    try:
        cs = tuple(group.point_from_hex(c, allow_identity=t > 0, what=f"trustee {i} commitment {t}")
                   for t, c in enumerate(obj["commitments"]))
        verify_dealer(KeyProof.from_json(obj["proof"]), i, cs[0], context=context, signing_key=signing_key,
                      transport=transport)
    except (GroupError, ProofError) as e:
        raise DKGError(f"commitments of trustee {i}: {e}") from None
    return VerifiedCommitments(i, threshold, cs, signing_key, transport, _TOKEN)


def _eval_commitments(cs: Sequence[Point], j: int) -> Point:
    """Σ_t j^t·C_t."""
    return group.add_all(group.mul(pow(j, t, L), c) for t, c in enumerate(cs))


def check_share(share: int, j: int, dealer: VerifiedCommitments) -> None:
    """s_{i→j}·G = Σ_t j^t·C_{i,t}, else DKGError naming the dealer."""
    if not 0 <= share < L or group.base_mul(share) != _eval_commitments(dealer.commitments, j):
        raise DKGError(f"share from trustee {dealer.trustee} to trustee {j} does not match its commitments",
                       dealer=dealer.trustee)


def share_message(*, context: str, dealer: int, to: int, sealed: str) -> bytes:
    """What a dealer signs for one sealed share: "gongjue/v1/dkg-share" ‖ 0x00 ‖ JCS({context, from, to, sealed})."""
    return SHARE_PREFIX + rfc8785.dumps({"context": context, "from": dealer, "to": to, "sealed": sealed})


def seal_share(share: int, *, to: int, recipient: nacl.public.PublicKey | bytes, context: str, dealer: int,
               signing_key: nacl.signing.SigningKey) -> dict:
    """{"sealed", "sig"}: s_{i→j} (32 bytes) in a sealed box to trustee j's transport key, signed by dealer i."""
    box = nacl.public.SealedBox(nacl.public.PublicKey(bytes(recipient)))
    sealed = box.encrypt(group.scalar_to_bytes(share)).hex()
    sig = signing_key.sign(share_message(context=context, dealer=dealer, to=to, sealed=sealed)).signature
    return {"sealed": sealed, "sig": sig.hex()}


def open_share(obj: object, recipient: nacl.public.PrivateKey, *, to: int, context: str,
               dealer: VerifiedCommitments) -> int:
    """Check dealer i's signature on a sealed share for trustee j, open it and check it (SPEC §3.10).

    A share whose signature is not dealer i's is refused as forged and blames nobody
    (``DKGError.dealer`` None); a signed share that does not open, is not a scalar or does not
    match the dealer's commitments names dealer i.
    """
    i = dealer.trustee
    if (not isinstance(obj, dict) or set(obj) != {"sealed", "sig"} or not isinstance(obj["sealed"], str)
            or not isinstance(obj["sig"], str)):
        raise DKGError(f"share for trustee {to} said to be from trustee {i}: expected exactly sealed and sig")
    try:
        sig = bytes.fromhex(obj["sig"])
        ed25519.verify(dealer.signing_key, share_message(context=context, dealer=i, to=to, sealed=obj["sealed"]), sig)
    except (ValueError, ed25519.SignatureError):
        raise DKGError(f"share for trustee {to} said to be from trustee {i} is not signed by trustee {i}'s "
                       f"signing key: refused as forged (trustee {i} is not at fault)") from None
    try:
        raw = nacl.public.SealedBox(recipient).decrypt(bytes.fromhex(obj["sealed"]))
    except Exception:
        raise DKGError(f"share from trustee {i} to trustee {to} does not open with trustee {to}'s transport key",
                       dealer=i) from None
    k = int.from_bytes(raw, "little")
    if len(raw) != 32 or k >= L:
        raise DKGError(f"share from trustee {i} to trustee {to} is not a scalar", dealer=i)
    check_share(k, to, dealer)
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
