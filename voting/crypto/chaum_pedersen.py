"""Chaum–Pedersen proofs (docs/SPEC.md §3.4, §3.5, §3.8), compact Fiat–Shamir form.

A proof carries challenges and responses only; the verifier recomputes every commitment from
the verification equations and accepts iff the challenges add up to the transcript hash
(``transcript.challenge``) of the statement and those commitments.

- ``BitProof``: disjunctive proof that (α, β) encrypts 0 or 1 under K (SPEC §3.4).
  Branch v ∈ {0, 1}: A_v = z_v·G − c_v·α, B_v = z_v·K − c_v·(β − v·G);
  c = challenge("gongjue/v1/bit", fingerprint, voter_pk, item_id, index, K, α, β, A_0, B_0, A_1, B_1);
  accept iff c_0 + c_1 ≡ c (mod ℓ).
- ``CountProof``: the homomorphic sum (A, B) of an item's selections encrypts k ∈ [lo, hi]
  (SPEC §3.5).  Branch v: A'_v = z_v·G − c_v·A, B'_v = z_v·K − c_v·(B − v·G);
  c = challenge("gongjue/v1/count", fingerprint, voter_pk, item_id, lo, hi, K, A, B, A'_lo, B'_lo, …);
  accept iff Σ c_v ≡ c.
- ``ShareProof``: log_G K_j = log_α D_j (SPEC §3.8).  A = z·G − c·K_j, B = z·α − c·D_j;
  accept iff c = challenge("gongjue/v1/share", fingerprint, j, K_j, α, D_j, A, B).

Provers know the nonce r (α = r·G), so a simulated branch's commitments are computed with
fixed-base multiplications: z·G − c·α = (z − c·r)·G and z·K − c·(β − v·G) = (z − c·r)·K −
c·(m − v)·G.  The commitments are the same points the equations give; only the cost differs.

Verifiers call libsodium's ristretto255 multiplication on α and β, which itself refuses an
encoding that is not canonical or does not decode (``_checked_mul``; every ristretto255
encoding that decodes is a group element), so those checks cost nothing extra.  Random draws follow the order fixed in SPEC §3.9.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from voting.crypto import group
from voting.crypto.group import IDENTITY, L, G, GroupError, Point
from voting.crypto.group import _B32, _smul, _smul_base, _sub
from voting.crypto.transcript import BIT_TAG, COUNT_TAG, SHARE_TAG, challenge

Rand = Callable[[], int]


class ProofError(ValueError):
    """A proof that does not verify or is malformed."""


def _checked_mul(k: int, p: Point) -> Point:
    """k·P for a P that must be a valid non-identity point (checked by libsodium, or here for k = 0)."""
    k %= L
    if p == IDENTITY:
        raise GroupError("identity point where a group element is required")
    if k == 0:
        group.check_point(p)
        return IDENTITY
    out = _B32()
    if _smul(out, k.to_bytes(32, "little"), p) != 0:
        raise GroupError("not a valid group element")
    return out.raw


def _scalars_from_json(obj: object, n: int, what: str) -> list[int]:
    if not isinstance(obj, list) or len(obj) != n:
        raise ProofError(f"{what}: expected a list of {n} scalars")
    try:
        return [group.scalar_from_hex(s, what=what) for s in obj]
    except GroupError as e:
        raise ProofError(str(e)) from None


# --- 0/1 selection proof (SPEC §3.4) -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BitProof:
    """(c_0, c_1, z_0, z_1)."""

    c: tuple[int, int]
    z: tuple[int, int]

    def to_json(self) -> dict:
        """{"c": [c_0, c_1], "z": [z_0, z_1]} with scalars as hex."""
        return {"c": [group.scalar_to_hex(x) for x in self.c], "z": [group.scalar_to_hex(x) for x in self.z]}

    @classmethod
    def from_json(cls, obj: object) -> "BitProof":
        if not isinstance(obj, dict) or set(obj) != {"c", "z"}:
            raise ProofError("selection proof: expected an object with exactly c and z")
        c = _scalars_from_json(obj["c"], 2, "selection proof c")
        z = _scalars_from_json(obj["z"], 2, "selection proof z")
        return cls((c[0], c[1]), (z[0], z[1]))


def bit_challenge(fingerprint: bytes, voter: bytes, item_id: str, index: int, joint_key: Point,
                  alpha: Point, beta: Point, a0: Point, b0: Point, a1: Point, b1: Point) -> int:
    """c = challenge("gongjue/v1/bit", fingerprint, voter_pk, item_id, index, K, α, β, A_0, B_0, A_1, B_1)."""
    return challenge(BIT_TAG, fingerprint, voter, item_id, index, joint_key, alpha, beta, a0, b0, a1, b1)


def prove_bit(m: int, r: int, alpha: Point, beta: Point, joint_key: Point, *, fingerprint: bytes,
              voter: bytes, item_id: str, index: int, rand: Rand) -> BitProof:
    """Prove (α, β) = Enc_K(m; r) with m ∈ {0, 1}.  Draws w, then c_{1−m}, then z_{1−m}."""
    if m not in (0, 1):
        raise ValueError("a selection encrypts 0 or 1")
    w = rand()
    c_sim = rand()
    z_sim = rand()
    t = (z_sim - c_sim * r) % L
    real = (group.base_mul(w), group.mul(w, joint_key))
    sim = (group.base_mul(t), group.sub(group.mul(t, joint_key), group.base_mul(c_sim * (m - (1 - m)))))
    a0, b0 = real if m == 0 else sim
    a1, b1 = sim if m == 0 else real
    c = bit_challenge(fingerprint, voter, item_id, index, joint_key, alpha, beta, a0, b0, a1, b1)
    c_real = (c - c_sim) % L
    z_real = (w + c_real * r) % L
    if m == 0:
        return BitProof((c_real, c_sim), (z_real, z_sim))
    return BitProof((c_sim, c_real), (z_sim, z_real))


def _lin(z: int, base: Point | None, c: int, p: Point, *, checked: bool) -> Point:
    """z·base − c·P (base None: G), straight through libsodium on the common path.

    The ristretto255 calls fail on an identity result (zero scalar or identity P) or an invalid
    P; then the general functions decide (O for zero, GroupError for an invalid point).
    """
    t1 = _B32()
    t2 = _B32()
    zb = z.to_bytes(32, "little")
    ok = (_smul_base(t1, zb) if base is None else _smul(t1, zb, base)) == 0
    zp = t1.raw if ok else (group.base_mul(z) if base is None else group.mul(z, base))
    if _smul(t2, c.to_bytes(32, "little"), p) == 0:
        cp = t2.raw
    else:
        cp = _checked_mul(c, p) if checked else group.mul(c, p)
    if _sub(t1, zp, cp) != 0:
        raise GroupError("point subtraction on an invalid encoding")
    return t1.raw


def _bit_commitments(c0: int, c1: int, z0: int, z1: int, alpha: Point, beta: Point,
                     k: Point) -> tuple[Point, Point, Point, Point] | None:
    """(A_0, B_0, A_1, B_1) of §3.4 step 2 in thirteen libsodium calls on reused buffers, or None
    when one of them refuses (a zero scalar, an identity or an invalid point): then the general
    path (``_lin``) computes or refuses.  The values are the same either way; libsodium's
    ristretto255 functions read their inputs before writing the output, so a buffer may be both."""
    return _bit_commitments_bytes(c0.to_bytes(32, "little"), c1.to_bytes(32, "little"),
                                  z0.to_bytes(32, "little"), z1.to_bytes(32, "little"), alpha, beta, k)


def _bit_commitments_bytes(c0b: bytes, c1b: bytes, z0b: bytes, z1b: bytes, alpha: Point, beta: Point,
                           k: Point) -> tuple[Point, Point, Point, Point] | None:
    """``_bit_commitments`` with the scalars as their 32 little-endian bytes (each < ℓ)."""
    a0, b0, a1, b1, t, bg = _B32(), _B32(), _B32(), _B32(), _B32(), _B32()
    if (_smul_base(a0, z0b) | _smul(t, c0b, alpha) | _sub(a0, a0, t)
            | _smul(b0, z0b, k) | _smul(t, c0b, beta) | _sub(b0, b0, t)
            | _smul_base(a1, z1b) | _smul(t, c1b, alpha) | _sub(a1, a1, t)
            | _sub(bg, beta, G) | _smul(b1, z1b, k) | _smul(t, c1b, bg) | _sub(b1, b1, t)):
        return None
    return a0.raw, b0.raw, a1.raw, b1.raw


def verify_bit(proof: BitProof, alpha: Point, beta: Point, joint_key: Point, *, fingerprint: bytes,
               voter: bytes, item_id: str, index: int) -> None:
    """Raise ProofError unless the proof verifies; GroupError if α or β is not a valid point.

    α and β are checked by libsodium inside c_0·α and c_0·β (or explicitly when c_0 = 0).
    """
    (c0, c1), (z0, z1) = proof.c, proof.z
    fast = _bit_commitments(c0, c1, z0, z1, alpha, beta, joint_key)
    if fast is not None:
        a0, b0, a1, b1 = fast
    else:  # a zero scalar, an identity or invalid point: the general path decides (O or GroupError)
        a0 = _lin(z0, None, c0, alpha, checked=True)
        b0 = _lin(z0, joint_key, c0, beta, checked=True)
        a1 = _lin(z1, None, c1, alpha, checked=True)
        b1 = _lin(z1, joint_key, c1, group.sub(beta, G), checked=False)
    c = bit_challenge(fingerprint, voter, item_id, index, joint_key, alpha, beta, a0, b0, a1, b1)
    if (c0 + c1) % L != c:
        raise ProofError("selection proof does not verify (c_0 + c_1 ≠ c)")


# --- selection-count range proof (SPEC §3.5) -----------------------------------------------


@dataclass(frozen=True, slots=True)
class CountProof:
    """Branches v = lo..hi with challenges c_v and responses z_v."""

    lo: int
    hi: int
    c: tuple[int, ...]
    z: tuple[int, ...]

    def to_json(self) -> dict:
        """{"lo", "hi", "c": [...], "z": [...]} (hi − lo + 1 scalars each)."""
        return {"lo": self.lo, "hi": self.hi, "c": [group.scalar_to_hex(x) for x in self.c],
                "z": [group.scalar_to_hex(x) for x in self.z]}

    @classmethod
    def from_json(cls, obj: object) -> "CountProof":
        if not isinstance(obj, dict) or set(obj) != {"lo", "hi", "c", "z"}:
            raise ProofError("count proof: expected an object with exactly lo, hi, c and z")
        lo, hi = obj["lo"], obj["hi"]
        if type(lo) is not int or type(hi) is not int or not 0 <= lo <= hi < 2**16:
            raise ProofError("count proof: lo and hi must be integers with 0 ≤ lo ≤ hi")
        n = hi - lo + 1
        return cls(lo, hi, tuple(_scalars_from_json(obj["c"], n, "count proof c")),
                   tuple(_scalars_from_json(obj["z"], n, "count proof z")))


def count_challenge(fingerprint: bytes, voter: bytes, item_id: str, lo: int, hi: int, joint_key: Point,
                    a: Point, b: Point, commitments: list[Point]) -> int:
    """c = challenge("gongjue/v1/count", fingerprint, voter_pk, item_id, lo, hi, K, A, B, A'_lo, B'_lo, …, A'_hi, B'_hi)."""
    return challenge(COUNT_TAG, fingerprint, voter, item_id, lo, hi, joint_key, a, b, *commitments)


def prove_count(k: int, big_r: int, a: Point, b: Point, joint_key: Point, *, lo: int, hi: int,
                fingerprint: bytes, voter: bytes, item_id: str, rand: Rand) -> CountProof:
    """Prove (A, B) = Enc_K(k; R) with lo ≤ k ≤ hi.  Draws w, then (c_v, z_v) for each v ≠ k, increasing."""
    if not lo <= k <= hi:
        raise ValueError(f"number of selections {k} outside [{lo}, {hi}]")
    w = rand()
    sims: dict[int, tuple[int, int]] = {}
    for v in range(lo, hi + 1):
        if v != k:
            c_v = rand()
            sims[v] = (c_v, rand())
    commitments: list[Point] = []
    for v in range(lo, hi + 1):
        if v == k:
            commitments += [group.base_mul(w), group.mul(w, joint_key)]
        else:
            c_v, z_v = sims[v]
            t = (z_v - c_v * big_r) % L
            commitments += [group.base_mul(t), group.sub(group.mul(t, joint_key), group.base_mul(c_v * (k - v)))]
    c = count_challenge(fingerprint, voter, item_id, lo, hi, joint_key, a, b, commitments)
    c_real = (c - sum(cv for cv, _ in sims.values())) % L
    z_real = (w + c_real * big_r) % L
    cs = tuple(c_real if v == k else sims[v][0] for v in range(lo, hi + 1))
    zs = tuple(z_real if v == k else sims[v][1] for v in range(lo, hi + 1))
    return CountProof(lo, hi, cs, zs)


def verify_count(proof: CountProof, a: Point, b: Point, joint_key: Point, *, fingerprint: bytes,
                 voter: bytes, item_id: str) -> None:
    """Raise ProofError unless the proof verifies for the sum (A, B) (valid points or O)."""
    commitments: list[Point] = []
    for i, v in enumerate(range(proof.lo, proof.hi + 1)):
        c_v, z_v = proof.c[i], proof.z[i]
        b_v = b if v == 0 else group.sub(b, G if v == 1 else group.base_mul(v))
        commitments.append(_lin(z_v, None, c_v, a, checked=False))
        commitments.append(_lin(z_v, joint_key, c_v, b_v, checked=False))
    c = count_challenge(fingerprint, voter, item_id, proof.lo, proof.hi, joint_key, a, b, commitments)
    if sum(proof.c) % L != c:
        raise ProofError("count proof does not verify (Σ c_v ≠ c)")


# --- decryption share proof (SPEC §3.8) ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class ShareProof:
    """(c, z) proving log_G K_j = log_α D_j."""

    c: int
    z: int

    def to_json(self) -> dict:
        return {"c": group.scalar_to_hex(self.c), "z": group.scalar_to_hex(self.z)}

    @classmethod
    def from_json(cls, obj: object) -> "ShareProof":
        if not isinstance(obj, dict) or set(obj) != {"c", "z"}:
            raise ProofError("share proof: expected an object with exactly c and z")
        try:
            return cls(group.scalar_from_hex(obj["c"], what="share proof c"),
                       group.scalar_from_hex(obj["z"], what="share proof z"))
        except GroupError as e:
            raise ProofError(str(e)) from None


def share_challenge(fingerprint: bytes, j: int, key: Point, alpha: Point, d: Point, a: Point, b: Point) -> int:
    """c = challenge("gongjue/v1/share", fingerprint, j, K_j, α, D_j, A, B)."""
    return challenge(SHARE_TAG, fingerprint, j, key, alpha, d, a, b)


def prove_share(secret: int, j: int, key: Point, alpha: Point, d: Point, *, fingerprint: bytes,
                rand: Rand) -> ShareProof:
    """Prove D_j = s_j·α for K_j = s_j·G.  Draws w."""
    w = rand()
    c = share_challenge(fingerprint, j, key, alpha, d, group.base_mul(w), group.mul(w, alpha))
    return ShareProof(c, (w + c * secret) % L)


def verify_share(proof: ShareProof, j: int, key: Point, alpha: Point, d: Point, *, fingerprint: bytes) -> None:
    """Raise ProofError unless the share proof verifies (α and D_j may be O; K_j is valid)."""
    a = group.sub(group.base_mul(proof.z), group.mul(proof.c, key))
    b = group.sub(group.mul(proof.z, alpha), group.mul(proof.c, d))
    if share_challenge(fingerprint, j, key, alpha, d, a, b) != proof.c:
        raise ProofError(f"decryption share proof of trustee {j} does not verify")
