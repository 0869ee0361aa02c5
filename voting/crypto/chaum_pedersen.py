"""Chaum–Pedersen proofs (docs/SPEC.md §3.4, §3.5, §3.8) in Fiat–Shamir form.

Selection and count proofs carry their commitments (SPEC §3.4, §3.5, §3.11): the verifier hashes
the carried commitments into the challenge (``transcript.challenge``), requires the challenges
to add up to it, and checks each verification equation — on its own, or deferred into a
``batch.Batch`` that checks many proofs' equations as one random linear combination.

- ``BitProof``: disjunctive proof that (α, β) encrypts 0 or 1 under K (SPEC §3.4).
  c = challenge("gongjue/v1/bit", fingerprint, voter_pk, item_id, index, K, α, β, A_0, B_0, A_1, B_1);
  accept iff c_0 + c_1 ≡ c (mod ℓ) and, for v ∈ {0, 1}, A_v = z_v·G − c_v·α and
  B_v = z_v·K − c_v·(β − v·G).
- ``CountProof``: the homomorphic sum (A, B) of an item's selections (α_i, β_i) encrypts
  k ∈ [lo, hi] (SPEC §3.5).  c = challenge("gongjue/v1/count", fingerprint, voter_pk, item_id, lo,
  hi, K, α_1, β_1, …, α_n, β_n, A'_lo, B'_lo, …); accept iff Σ c_v ≡ c and A'_v = z_v·G − c_v·A,
  B'_v = z_v·K − c_v·(B − v·G).  Neither side needs the sums' encodings.
- ``ShareProof``: log_G K_j = log_α D_j (SPEC §3.8), compact: it carries (c, z) only.
  A = z·G − c·K_j, B = z·α − c·D_j; accept iff c = challenge("gongjue/v1/share", fingerprint, j,
  K_j, α, D_j, A, B).

An equation is written as a list of (scalar, point) terms whose sum must be the identity
(``batch.Batch.equation``); A_v = z_v·G − c_v·α is [(1, A_v), (−z_v, G), (c_v, α)].  The count
proof's equations use the selections' α_i and β_i rather than their sums (c_v·A = Σ_i c_v·α_i),
so that no term is the identity a zero sum would be.

Provers know the nonce r (α = r·G), so a simulated branch's commitments are computed with
fixed-base multiplications: z·G − c·α = (z − c·r)·G and z·K − c·(β − v·G) = (z − c·r)·K −
c·(m − v)·G.  Random draws follow the order fixed in SPEC §3.9.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from voting.crypto import group
from voting.crypto.batch import Batch
from voting.crypto.group import L, G, GroupError, Point
from voting.crypto.transcript import BIT_TAG, COUNT_TAG, SHARE_TAG, challenge

Rand = Callable[[], int]
Equation = list[tuple[int, Point]]


class ProofError(ValueError):
    """A proof that does not verify or is malformed."""


def _list_from_json(obj: object, n: int, what: str, kind: str, decode) -> list:  # noqa: ANN001
    if not isinstance(obj, list) or len(obj) != n:
        raise ProofError(f"{what}: expected a list of {n} {kind}")
    try:
        return [decode(s, what=what) for s in obj]
    except GroupError as e:
        raise ProofError(str(e)) from None


def _scalars_from_json(obj: object, n: int, what: str) -> list[int]:
    """n responses or challenges: canonical scalars (SPEC §3.1)."""
    return _list_from_json(obj, n, what, "scalars", group.scalar_from_hex)


def _points_from_json(obj: object, n: int, what: str) -> list[Point]:
    """n commitments: valid non-identity points (SPEC §3.1)."""
    return _list_from_json(obj, n, what, "points", group.point_from_hex)


def _check_equations(equations: list[Equation], names: list[str], what: str) -> None:
    """Check equations now (one batch of their own); a false one raises ProofError naming it."""
    batch = Batch()
    for eq in equations:
        batch.equation(eq)
    if not batch.check():
        failed = batch.first_failure()
        raise ProofError(f"{what} does not verify ({names[failed if failed is not None else 0]})")


def _defer_or_check(equations: list[Equation], names: list[str], what: str, batch: Batch | None) -> None:
    if batch is None:
        _check_equations(equations, names, what)
    else:
        for eq in equations:
            batch.equation(eq)


# --- 0/1 selection proof (SPEC §3.4) -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BitProof:
    """(c_0, c_1), (z_0, z_1) and the commitments (A_0, A_1), (B_0, B_1)."""

    c: tuple[int, int]
    z: tuple[int, int]
    a: tuple[Point, Point]
    b: tuple[Point, Point]

    def to_json(self) -> dict:
        """{"c": [c_0, c_1], "z": [z_0, z_1], "a": [A_0, A_1], "b": [B_0, B_1]} as hex."""
        return {"c": [group.scalar_to_hex(x) for x in self.c], "z": [group.scalar_to_hex(x) for x in self.z],
                "a": [p.hex() for p in self.a], "b": [p.hex() for p in self.b]}

    @classmethod
    def from_json(cls, obj: object) -> "BitProof":
        if not isinstance(obj, dict) or set(obj) != {"c", "z", "a", "b"}:
            raise ProofError("selection proof: expected an object with exactly c, z, a and b")
        c = _scalars_from_json(obj["c"], 2, "selection proof c")
        z = _scalars_from_json(obj["z"], 2, "selection proof z")
        a = _points_from_json(obj["a"], 2, "selection proof a")
        b = _points_from_json(obj["b"], 2, "selection proof b")
        return cls((c[0], c[1]), (z[0], z[1]), (a[0], a[1]), (b[0], b[1]))


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
    cs, zs = ((c_real, c_sim), (z_real, z_sim)) if m == 0 else ((c_sim, c_real), (z_sim, z_real))
    return BitProof(cs, zs, (a0, a1), (b0, b1))


BIT_EQUATIONS = ["A_0 ≠ z_0·G − c_0·α", "B_0 ≠ z_0·K − c_0·β", "A_1 ≠ z_1·G − c_1·α", "B_1 ≠ z_1·K − c_1·(β − G)"]
"""The names of ``bit_equations``' four equations, in order (SPEC §3.4)."""


def bit_equations(proof: BitProof, alpha: Point, beta: Point, joint_key: Point) -> list[Equation]:
    """SPEC §3.4's equations as terms summing to O: A_v − z_v·G + c_v·α = O and
    B_v − z_v·K + c_v·β − c_v·v·G = O, for v = 0, 1."""
    (c0, c1), (z0, z1), (a0, a1), (b0, b1) = proof.c, proof.z, proof.a, proof.b
    return [[(1, a0), (-z0, G), (c0, alpha)],
            [(1, b0), (-z0, joint_key), (c0, beta)],
            [(1, a1), (-z1, G), (c1, alpha)],
            [(1, b1), (-z1, joint_key), (c1, beta), (-c1, G)]]


def verify_bit(proof: BitProof, alpha: Point, beta: Point, joint_key: Point, *, fingerprint: bytes,
               voter: bytes, item_id: str, index: int, batch: Batch | None = None) -> None:
    """Raise ProofError unless the proof verifies; GroupError if α or β is not a valid point.

    With ``batch``, the four equations are added to it instead of being checked here: the proof
    is accepted only when the caller's ``batch.check()`` passes.
    """
    group.check_point(alpha, what="α")
    group.check_point(beta, what="β")
    c = bit_challenge(fingerprint, voter, item_id, index, joint_key, alpha, beta,
                      proof.a[0], proof.b[0], proof.a[1], proof.b[1])
    if (proof.c[0] + proof.c[1]) % L != c:
        raise ProofError("selection proof does not verify (c_0 + c_1 ≠ c)")
    _defer_or_check(bit_equations(proof, alpha, beta, joint_key), BIT_EQUATIONS, "selection proof", batch)


# --- selection-count range proof (SPEC §3.5) -----------------------------------------------


@dataclass(frozen=True, slots=True)
class CountProof:
    """Branches v = lo..hi with challenges c_v, responses z_v and commitments A'_v, B'_v."""

    lo: int
    hi: int
    c: tuple[int, ...]
    z: tuple[int, ...]
    a: tuple[Point, ...]
    b: tuple[Point, ...]

    def to_json(self) -> dict:
        """{"lo", "hi", "c": [...], "z": [...], "a": [...], "b": [...]} (hi − lo + 1 each)."""
        return {"lo": self.lo, "hi": self.hi, "c": [group.scalar_to_hex(x) for x in self.c],
                "z": [group.scalar_to_hex(x) for x in self.z], "a": [p.hex() for p in self.a],
                "b": [p.hex() for p in self.b]}

    @classmethod
    def from_json(cls, obj: object) -> "CountProof":
        if not isinstance(obj, dict) or set(obj) != {"lo", "hi", "c", "z", "a", "b"}:
            raise ProofError("count proof: expected an object with exactly lo, hi, c, z, a and b")
        lo, hi = obj["lo"], obj["hi"]
        if type(lo) is not int or type(hi) is not int or not 0 <= lo <= hi < 2**16:
            raise ProofError("count proof: lo and hi must be integers with 0 ≤ lo ≤ hi")
        n = hi - lo + 1
        return cls(lo, hi, tuple(_scalars_from_json(obj["c"], n, "count proof c")),
                   tuple(_scalars_from_json(obj["z"], n, "count proof z")),
                   tuple(_points_from_json(obj["a"], n, "count proof a")),
                   tuple(_points_from_json(obj["b"], n, "count proof b")))


def count_challenge(fingerprint: bytes, voter: bytes, item_id: str, lo: int, hi: int, joint_key: Point,
                    alphas: Sequence[Point], betas: Sequence[Point], commitments: list[Point]) -> int:
    """c = challenge("gongjue/v1/count", fingerprint, voter_pk, item_id, lo, hi, K, α_1, β_1, …, α_n, β_n,
    A'_lo, B'_lo, …, A'_hi, B'_hi)."""
    selections = [p for pair in zip(alphas, betas, strict=True) for p in pair]
    return challenge(COUNT_TAG, fingerprint, voter, item_id, lo, hi, joint_key, *selections, *commitments)


def prove_count(k: int, big_r: int, alphas: Sequence[Point], betas: Sequence[Point], joint_key: Point, *,
                lo: int, hi: int, fingerprint: bytes, voter: bytes, item_id: str, rand: Rand) -> CountProof:
    """Prove that the selections (α_i, β_i) add up to Enc_K(k; R) with lo ≤ k ≤ hi.  Draws w, then
    (c_v, z_v) for each v ≠ k, increasing."""
    if isinstance(alphas, (bytes, bytearray)) or isinstance(betas, (bytes, bytearray)):
        raise TypeError("prove_count takes the selections' points (α_i), (β_i), not their sums")
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
    c = count_challenge(fingerprint, voter, item_id, lo, hi, joint_key, alphas, betas, commitments)
    c_real = (c - sum(cv for cv, _ in sims.values())) % L
    z_real = (w + c_real * big_r) % L
    cs = tuple(c_real if v == k else sims[v][0] for v in range(lo, hi + 1))
    zs = tuple(z_real if v == k else sims[v][1] for v in range(lo, hi + 1))
    return CountProof(lo, hi, cs, zs, tuple(commitments[0::2]), tuple(commitments[1::2]))


def count_equations(proof: CountProof, alphas: Sequence[Point], betas: Sequence[Point],
                    joint_key: Point) -> list[Equation]:
    """SPEC §3.5's equations over the selections (α_i, β_i), for v = lo … hi:
    A'_v − z_v·G + Σ_i c_v·α_i = O and B'_v − z_v·K + Σ_i c_v·β_i − c_v·v·G = O."""
    out: list[Equation] = []
    for i, v in enumerate(range(proof.lo, proof.hi + 1)):
        c_v, z_v = proof.c[i], proof.z[i]
        out.append([(1, proof.a[i]), (-z_v, G), *((c_v, p) for p in alphas)])
        out.append([(1, proof.b[i]), (-z_v, joint_key), *((c_v, p) for p in betas), (-c_v * v, G)])
    return out


def count_equation_names(proof: CountProof) -> list[str]:
    """The names of ``count_equations``' equations, in order."""
    return [name for v in range(proof.lo, proof.hi + 1)
            for name in (f"A'_{v} ≠ z_{v}·G − c_{v}·A", f"B'_{v} ≠ z_{v}·K − c_{v}·(B − {v}·G)")]


def verify_count(proof: CountProof, alphas: Sequence[Point], betas: Sequence[Point], joint_key: Point, *,
                 fingerprint: bytes, voter: bytes, item_id: str, batch: Batch | None = None) -> None:
    """Raise ProofError unless the proof verifies for the item's selections (α_i, β_i) (valid points).

    With ``batch``, the equations are added to it instead of being checked here.
    """
    if isinstance(alphas, (bytes, bytearray)) or isinstance(betas, (bytes, bytearray)):
        raise TypeError("verify_count takes the selections' points (α_i), (β_i), not their sums")
    commitments = [p for pair in zip(proof.a, proof.b) for p in pair]
    c = count_challenge(fingerprint, voter, item_id, proof.lo, proof.hi, joint_key, alphas, betas, commitments)
    if sum(proof.c) % L != c:
        raise ProofError("count proof does not verify (Σ c_v ≠ c)")
    _defer_or_check(count_equations(proof, alphas, betas, joint_key), count_equation_names(proof),
                    "count proof", batch)


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
