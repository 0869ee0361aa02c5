"""Trustee keys, decryption shares and their combination (docs/SPEC.md §3.7, §3.8).

n-of-n: trustee j draws s_j, publishes K_j = s_j·G with a Schnorr proof of possession
(``schnorr``); the joint key is K = Σ K_j.  k-of-n keys come from ``dkg`` and produce the same
``TrusteeSet`` shape (with a threshold and Lagrange combination).

After the close every trustee j computes, for each aggregate ciphertext (α, β), the share
D_j = s_j·α with a Chaum–Pedersen proof that log_G K_j = log_α D_j.  Shares are verified
(``verify_shares`` -> ``VerifiedShares``) and only verified shares can be combined:

    M = β − Σ_j λ_j·D_j,   m = dlog_G(M) ≤ bound

with λ_j = 1 for n-of-n and the Lagrange coefficients at 0 over the present trustees for
k-of-n.  Bounds: the number of ballots for heads, the total weight for area.

Formats (JSON):

- public key: {"v": 1, "context", "trustee": j, "key": K_j, "proof": {"c", "z"}}
- shares: {"v": 1, "round", "trustee": j, "key": K_j,
           "items": [{"id", "heads": [{"d": D, "proof": {"c", "z"}}…], "area": […]}]}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from voting.crypto import group
from voting.crypto.chaum_pedersen import ProofError, ShareProof, prove_share, verify_share
from voting.crypto.dlog import MAX_BOUND, DlogError, dlog
from voting.crypto.group import L, GroupError, Point
from voting.crypto.schnorr import KeyProof, prove_key, verify_key
from voting.crypto.tally import Aggregates

_TOKEN = object()


class TrusteeError(ValueError):
    """A trustee key, share or combination that is refused."""


# --- keys ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VerifiedTrusteeKey:
    """A trustee public key whose possession proof verified.  Built only by ``verify_public_key``."""

    trustee: int
    key: Point
    context: str
    _token: object = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self._token is not _TOKEN:
            raise TypeError("VerifiedTrusteeKey is only built by trustee.verify_public_key")


def generate_key(trustee: int, *, context: str, rand: Callable[[], int] | None = None) -> tuple[int, dict]:
    """n-of-n key generation for trustee j: (s_j, public-key JSON).  Draws s_j, then the proof's w."""
    rand = rand or group.random_scalar
    secret = rand()
    if secret == 0:
        raise TrusteeError("zero secret drawn")
    return secret, public_key_json(secret, trustee, context=context, rand=rand)


def public_key_json(secret: int, trustee: int, *, context: str, rand: Callable[[], int] | None = None) -> dict:
    """{"v": 1, "context", "trustee", "key", "proof"} for s_j."""
    key = group.base_mul(secret)
    proof = prove_key(secret, trustee, key, context=context, rand=rand or group.random_scalar)
    return {"v": 1, "context": context, "trustee": trustee, "key": key.hex(), "proof": proof.to_json()}


def verify_public_key(obj: object, *, context: str, trustee: int | None = None) -> VerifiedTrusteeKey:
    """Check a published trustee key: format, context, valid point, Schnorr proof."""
    if not isinstance(obj, dict) or set(obj) != {"v", "context", "trustee", "key", "proof"} or obj["v"] != 1:
        raise TrusteeError("trustee key: expected v = 1, context, trustee, key and proof")
    j = obj["trustee"]
    if type(j) is not int or not 1 <= j < 2**16:
        raise TrusteeError("trustee key: trustee number must be an integer ≥ 1")
    if trustee is not None and j != trustee:
        raise TrusteeError(f"trustee key: expected trustee {trustee}, got {j}")
    if obj["context"] != context:
        raise TrusteeError(f"trustee {j} key: made for ceremony {obj['context']!r}, not {context!r}")
    try:
        key = group.point_from_hex(obj["key"], what=f"trustee {j} key")
        verify_key(KeyProof.from_json(obj["proof"]), j, key, context=context)
    except (GroupError, ProofError) as e:
        raise TrusteeError(str(e)) from None
    return VerifiedTrusteeKey(j, key, context, _TOKEN)


@dataclass(frozen=True, slots=True)
class TrusteeSet:
    """The trustees of a round: K_j per trustee, the joint key K, and the threshold k (None: n-of-n)."""

    keys: dict[int, Point]
    joint_key: Point
    threshold: int | None = None


def trustee_set(keys: Sequence[VerifiedTrusteeKey]) -> TrusteeSet:
    """n-of-n: K = Σ K_j over verified keys with distinct trustee numbers."""
    by_j: dict[int, Point] = {}
    for k in keys:
        if not isinstance(k, VerifiedTrusteeKey):
            raise TrusteeError("only verified trustee keys make a joint key")
        if k.trustee in by_j:
            raise TrusteeError(f"two keys for trustee {k.trustee}")
        by_j[k.trustee] = k.key
    if not by_j:
        raise TrusteeError("no trustee keys")
    joint = group.add_all(by_j.values())
    if joint == group.IDENTITY:
        raise TrusteeError("joint key is the identity")
    return TrusteeSet(by_j, joint, None)


# --- decryption shares ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VerifiedShares:
    """One trustee's verified shares D_j, aligned with the aggregates.  Built only by ``verify_shares``."""

    trustee: int
    fingerprint: bytes
    items: tuple[tuple[tuple[Point, ...], tuple[Point, ...]], ...]  # per item: (heads D's, area D's)
    _token: object = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self._token is not _TOKEN:
            raise TypeError("VerifiedShares is only built by trustee.verify_shares")


def compute_shares(secret: int, trustee: int, aggregates: Aggregates, *,
                   rand: Callable[[], int] | None = None) -> dict:
    """Trustee j's shares D = s_j·α with proofs for every aggregate; draws one w per share in order."""
    rand = rand or group.random_scalar
    key = group.base_mul(secret)
    fp = aggregates.fingerprint

    def one(alpha: Point) -> dict:
        d = group.mul(secret, alpha)
        proof = prove_share(secret, trustee, key, alpha, d, fingerprint=fp, rand=rand)
        return {"d": d.hex(), "proof": proof.to_json()}

    return {"v": 1, "round": fp.hex(), "trustee": trustee, "key": key.hex(),
            "items": [{"id": it.id, "heads": [one(c.alpha) for c in it.heads], "area": [one(c.alpha) for c in it.area]}
                      for it in aggregates.items]}


def verify_shares(obj: object, *, aggregates: Aggregates, trustees: TrusteeSet) -> VerifiedShares:
    """Check one trustee's shares against the aggregates and that trustee's key K_j."""
    if not isinstance(obj, dict) or set(obj) != {"v", "round", "trustee", "key", "items"} or obj["v"] != 1:
        raise TrusteeError("shares: expected v = 1, round, trustee, key and items")
    j = obj["trustee"]
    if type(j) is not int or j not in trustees.keys:
        raise TrusteeError(f"shares: unknown trustee {j!r}")
    key = trustees.keys[j]
    if obj["key"] != key.hex():
        raise TrusteeError(f"shares of trustee {j}: key is not the trustee's registered key")
    if obj["round"] != aggregates.fingerprint.hex():
        raise TrusteeError(f"shares of trustee {j}: made for another round")
    if (not isinstance(obj["items"], list) or not all(isinstance(i, dict) for i in obj["items"])
            or [i.get("id") for i in obj["items"]] != [it.id for it in aggregates.items]):
        raise TrusteeError(f"shares of trustee {j}: items do not match the aggregates")
    out = []
    for it, sh in zip(aggregates.items, obj["items"]):
        parts = []
        for kind, cts in (("heads", it.heads), ("area", it.area)):
            lst = sh.get(kind)
            if not isinstance(lst, list) or len(lst) != len(cts):
                raise TrusteeError(f"shares of trustee {j}, item {it.id!r}: {kind} needs {len(cts)} shares")
            ds = []
            for index, (ct, s) in enumerate(zip(cts, lst)):
                where = f"shares of trustee {j}, item {it.id!r} {kind} {index}"
                try:
                    if not isinstance(s, dict) or set(s) != {"d", "proof"}:
                        raise TrusteeError(f"{where}: expected d and proof")
                    d = group.point_from_hex(s["d"], allow_identity=ct.alpha == group.IDENTITY, what=where)
                    if ct.alpha == group.IDENTITY and d != group.IDENTITY:
                        raise TrusteeError(f"{where}: share of an identity α must be the identity")
                    verify_share(ShareProof.from_json(s["proof"]), j, key, ct.alpha, d, fingerprint=aggregates.fingerprint)
                except (GroupError, ProofError) as e:
                    raise TrusteeError(f"{where}: {e}") from None
                ds.append(d)
            parts.append(tuple(ds))
        out.append((parts[0], parts[1]))
    return VerifiedShares(j, aggregates.fingerprint, tuple(out), _TOKEN)


def lagrange_at_zero(j: int, present: Sequence[int]) -> int:
    """λ_j = Π_{m ∈ present, m ≠ j} m / (m − j) mod ℓ."""
    num, den = 1, 1
    for m in present:
        if m != j:
            num = num * m % L
            den = den * (m - j) % L
    return num * pow(den, -1, L) % L


@dataclass(frozen=True, slots=True)
class ItemResult:
    """Decrypted per-selection totals of one item: heads and area (0.01 m²)."""

    id: str
    heads: tuple[int, ...]
    area: tuple[int, ...]


def _scaled(lam: int, d: Point) -> Point:
    return d if lam == 1 else group.mul(lam, d)


def combine(aggregates: Aggregates, shares: Sequence[VerifiedShares], *, trustees: TrusteeSet) -> tuple[ItemResult, ...]:
    """Decrypt every aggregate from verified shares and solve the bounded discrete logs."""
    by_j: dict[int, VerifiedShares] = {}
    for s in shares:
        if not isinstance(s, VerifiedShares):
            raise TrusteeError("only verified shares can be combined")
        if s.fingerprint != aggregates.fingerprint:
            raise TrusteeError(f"shares of trustee {s.trustee} are for another round")
        if s.trustee in by_j:
            raise TrusteeError(f"two share sets from trustee {s.trustee}")
        by_j[s.trustee] = s
    present = sorted(by_j)
    if trustees.threshold is None:
        missing = sorted(set(trustees.keys) - set(present))
        if missing:
            raise TrusteeError(f"n-of-n decryption needs every trustee; missing {missing}")
        lambdas = {j: 1 for j in present}
    else:
        if len(present) < trustees.threshold:
            raise TrusteeError(f"{len(present)} trustees present, {trustees.threshold} needed")
        present = present[:trustees.threshold]
        lambdas = {j: lagrange_at_zero(j, present) for j in present}
    bounds = (("heads", "ballots", aggregates.ballots), ("area", "total_weight", aggregates.total_weight))
    for part, name, bound in bounds:
        if type(bound) is not int or not 0 <= bound <= MAX_BOUND:
            raise TrusteeError(f"{part} totals: the recorded {name} {bound!r} is outside the decryptable range "
                               f"[0, {MAX_BOUND}] (SPEC §3.8)")
    results = []
    for k, it in enumerate(aggregates.items):
        sums = []
        for part, ((label, name, bound), cts) in enumerate(zip(bounds, (it.heads, it.area))):
            values = []
            for index, ct in enumerate(cts):
                masked = group.add_all(_scaled(lambdas[j], by_j[j].items[k][part][index]) for j in present)
                try:
                    values.append(dlog(group.sub(ct.beta, masked), bound))
                except DlogError:
                    raise TrusteeError(f"item {it.id!r} {label} {index}: the decrypted total is not in [0, {bound}] "
                                       f"(the round's recorded {name}): the record or a share is inconsistent") from None
            sums.append(tuple(values))
        results.append(ItemResult(it.id, sums[0], sums[1]))
    return tuple(results)
