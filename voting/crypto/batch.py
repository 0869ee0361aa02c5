"""Batch verification of ristretto255 equations Σ s_i·P_i = O (docs/SPEC.md §3.11).

A verifier with many linear equations over the group (one per proof branch: A_v = z_v·G − c_v·α,
…, SPEC §3.4–§3.5, each written as Σ s_i·P_i = O) checks them together by small-exponent batch
verification (Bellare, Garay and Rabin, "Fast batch verification for modular exponentiation and
digital signatures", EUROCRYPT 1998): equation k is multiplied by a fresh random 128-bit weight ρ_k,
the weighted equations are added, and the one sum Σ_k ρ_k·Σ_i s_ki·P_ki is computed as a single
multi-scalar multiplication.  Coefficients of the same point are merged first (G, K and an α used
in several equations are one term each).

Soundness: if equation k is false its left side is a point Q_k ≠ O of prime order ℓ; whatever the
other weights are, the sum is O for at most one value of ρ_k mod ℓ, and ρ_k is uniform on [0, 2^128)
with 2^128 < ℓ, so a batch holding a false equation passes with probability ≤ 2^-128 per check().
That bound needs the weights to be unknown to whoever produced the equations' inputs: they come from
the verifier's OS CSPRNG (``os.urandom``) when each equation is added, after its terms are fixed, and
are never output.  ``first_failure`` re-checks equations one by one (exactly, no weights) to name
the culprit once ``check`` has failed.

Every point must be a valid non-identity ristretto255 encoding (SPEC §3.1), including points whose
merged coefficient is 0: ``check`` and ``first_failure`` raise ``GroupError`` naming the first bad
one (hex).  The sum is computed by the C extension ``voting.crypto._msm`` (libdecaf: decoding, then
Straus or Pippenger) when it is built (``NATIVE``); otherwise through ``voting.crypto.group``
(libsodium), one multiplication per distinct point — the same answers, ~5–10× slower
(``GONGJUE_NATIVE=0`` in the environment forces that path).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

from voting.crypto import group
from voting.crypto.group import IDENTITY, GroupError, L, Point

try:
    from voting.crypto import _msm
except ImportError:  # built without libdecaf (setup.py: optional extension)
    _msm = None
if os.environ.get("GONGJUE_NATIVE") == "0":  # measure or test the libsodium path with the module built
    _msm = None

NATIVE: bool = _msm is not None
"""True iff the C multi-scalar multiplication (voting.crypto._msm) is available."""

WEIGHT_BYTES = 16
"""ρ_k is 128 bits: the soundness bound 2^-128 (SPEC §3.11)."""

_WEIGHTS_PER_DRAW = 256  # one os.urandom call serves this many equations
_BAD_POINT = "not a valid non-identity group element"

Term = tuple[int, Point]


class Batch:
    """Equations Σ s_i·P_i = O over ristretto255, checked together (small-exponent batch verification)."""

    __slots__ = ("_at", "_coefficients", "_equations", "_pool", "_threads")

    def __init__(self, *, threads: int = 0) -> None:
        """``threads``: for the native sum of ≥ 512 terms, 0 = one per CPU, 1 = the calling thread only."""
        self._coefficients: dict[Point, int] = {}
        self._equations: list[tuple[Term, ...]] = []
        self._pool = b""
        self._at = 0
        self._threads = threads

    def __len__(self) -> int:
        """The number of equations added."""
        return len(self._equations)

    def equation(self, terms: Iterable[Term]) -> None:
        """Add the claim Σ s_i·P_i = O.  s_i: any int (reduced mod ℓ); P_i: 32-byte encodings that must
        be valid NON-identity points (checked in check())."""
        terms = tuple(terms)
        self._equations.append(terms)
        rho = self._weight()
        coefficients = self._coefficients
        get = coefficients.get
        for s, p in terms:
            coefficients[p] = get(p, 0) + rho * s

    def check(self) -> bool:
        """True iff every equation holds (a false one passes with probability ≤ 2^-128).
        Raises GroupError naming the point (hex) if some P_i is not a valid non-identity point."""
        points = list(self._coefficients)
        scalars = [_scalar(c) for c in self._coefficients.values()]
        return _is_identity(points, scalars, self._threads)

    def first_failure(self) -> int | None:
        """Index of the first equation that does not hold, each checked on its own (slow path, for
        naming the culprit); None if all hold.  Raises GroupError like check()."""
        points = list(self._coefficients)
        _is_identity(points, [0] * len(points), self._threads)  # every point valid, or GroupError
        for k, terms in enumerate(self._equations):
            if not _is_identity([p for _, p in terms], [_scalar(s) for s, _ in terms], 1):
                return k
        return None

    def _weight(self) -> int:
        """A fresh uniform 128-bit ρ from the OS CSPRNG (drawn in blocks of 256)."""
        at = self._at
        if at == len(self._pool):
            self._pool = os.urandom(WEIGHT_BYTES * _WEIGHTS_PER_DRAW)
            at = 0
        self._at = at + WEIGHT_BYTES
        return int.from_bytes(self._pool[at : at + WEIGHT_BYTES], "little")


def _scalar(s: int) -> int:
    """s mod ℓ; only integers are coefficients (no float reaches a verification equation)."""
    if not isinstance(s, int):
        raise TypeError(f"coefficient must be an int, not {type(s).__name__}")
    return s % L


def _is_identity(points: list[Point], scalars: list[int], threads: int) -> bool:
    """Σ scalars[i]·points[i] = O, every point checked first (GroupError naming the first bad one)."""
    for p in points:
        if type(p) is not bytes or len(p) != 32:
            raise GroupError(f"point {bytes(p).hex() if isinstance(p, (bytes, bytearray)) else p!r}: {_BAD_POINT}")
    if _msm is None:
        return _is_identity_sodium(points, scalars)
    encoded = b"".join([s.to_bytes(32, "little") for s in scalars])
    try:
        return _msm.check(b"".join(points), encoded, threads)
    except ValueError as e:
        raise GroupError(f"point {points[e.args[1]].hex()}: {_BAD_POINT}") from None


def _is_identity_sodium(points: list[Point], scalars: list[int]) -> bool:
    """The fallback: validate every point, then one libsodium multiplication per non-zero scalar."""
    for p in points:
        if not group.is_valid(p):
            raise GroupError(f"point {p.hex()}: {_BAD_POINT}")
    return group.add_all([group.mul(s, p) for s, p in zip(scalars, points) if s]) == IDENTITY


def weighted_sums(points: Sequence[Point], scalars: bytes, *, threads: int = 1) -> tuple[Point, Point]:
    """(Σ s_i·P_i, Σ P_i) (the identity as 32 zero bytes) by the native multi-scalar multiplication,
    the points decoded once: the homomorphic tally's area and heads sums (SPEC §3.8).

    ``scalars``: the n little-endian 32-byte integers, concatenated.  Every point must be a valid
    non-identity encoding (GroupError otherwise).  Native only: callers test ``NATIVE`` first.
    """
    if _msm is None:
        raise RuntimeError("voting.crypto._msm is not built")
    try:
        return _msm.sums(b"".join(points), scalars, threads)
    except ValueError as e:
        raise GroupError(f"point {points[e.args[1]].hex()}: {_BAD_POINT}") from None
