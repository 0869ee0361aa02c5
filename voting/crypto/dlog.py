"""Bounded discrete logarithm base G by baby-step giant-step (docs/SPEC.md §3.8).

Decryption yields M = m·G with 0 ≤ m ≤ bound, where the bound is a known total (number of
ballots for heads, total area in 0.01 m² for area sums), at most ``MAX_BOUND`` = 10^12.  With b = ⌊√bound⌋ + 1 the baby
steps are the table {enc(j·G) ↦ j : 0 ≤ j < b} (j = 0 is the identity O) and the giant steps
M − i·(b·G), i = 0, 1, …, ⌊bound / b⌋.  Tables are cached per process and reused for any
smaller bound; bound = 10^10 needs a 10^5-entry table.

Speed: the table and the giant steps are long chains of additions of one fixed point.  Instead
of one libsodium addition per step (which decodes and re-encodes both points, ≈14 µs), the
chains run here in extended twisted-Edwards coordinates (RFC 8032 §5.1.4, add-2008-hwcd-3) with
Python integers and are encoded in batches with a single field inversion per batch
(Montgomery's trick), ≈4 µs a step.

Group elements are ristretto255 encodings (§3.1); a decoded element is an Edwards point P + T,
with T one of the four points of order dividing 4 that the encoding does not fix.  The table is
therefore keyed by the RFC 8032 encoding of 4·P (4·(P + T) = 4·P, and 4 is invertible mod ℓ,
so the key identifies the element): baby steps j·(4G), giant steps 4M − i·(4bG).
"""

from __future__ import annotations

import math

from voting.crypto import group
from voting.crypto.group import IDENTITY, G, Point

MAX_BOUND = 10**12
BATCH = 2048

_P = 2**255 - 19
_D = -121665 * pow(121666, -1, _P) % _P
_D2 = 2 * _D % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)

_tables: dict[int, dict[bytes, int]] = {}


class DlogError(ValueError):
    """No m in [0, bound] with m·G = M, or a bound outside [0, MAX_BOUND]."""


# --- field-level Edwards arithmetic (private to the table walk) ---------------------------


_INVSQRT_A_MINUS_D = 54469307008909316920995813868745141605393597292927456921205312896311721017578
_ED_O = b"\x01" + bytes(31)  # RFC 8032 encoding of the Edwards identity (a table key)


def _sqrt_ratio_m1(u: int, v: int) -> tuple[bool, int]:
    """RFC 9496 §4.2 SQRT_RATIO_M1: (was_square, the non-negative root of u/v or of i·u/v)."""
    r = u * pow(v, 3, _P) * pow(u * pow(v, 7, _P), (_P - 5) // 8, _P) % _P
    check = v * r * r % _P
    correct, flipped = check == u % _P, check == (-u) % _P
    if flipped or check == (-u) * _SQRT_M1 % _P:
        r = r * _SQRT_M1 % _P
    if r & 1:
        r = _P - r
    return correct or flipped, r


def _decode(p: Point) -> tuple[int, int]:
    """Affine (x, y) of 4·P for the ristretto255 encoding of P (RFC 9496 §4.3.1, then two doublings)."""
    s = int.from_bytes(p, "little")
    if len(p) != 32 or s >= _P or s & 1:
        raise DlogError("not a canonical ristretto255 encoding")
    ss = s * s % _P
    u1, u2 = (1 - ss) % _P, (1 + ss) % _P
    u2_sqr = u2 * u2 % _P
    v = (-(_D * u1 * u1) - u2_sqr) % _P
    ok, invsqrt = _sqrt_ratio_m1(1, v * u2_sqr % _P)
    den_x = invsqrt * u2 % _P
    den_y = invsqrt * den_x * v % _P
    x = 2 * s * den_x % _P
    if x & 1:
        x = _P - x
    y = u1 * den_y % _P
    if not ok or (x * y % _P) & 1 or y == 0:
        raise DlogError("not a ristretto255 encoding")
    X, Y, Z = x, y, 1
    for _ in range(2):  # dbl-2008-hwcd with a = −1
        a, b, c = X * X % _P, Y * Y % _P, 2 * Z * Z % _P
        e = ((X + Y) * (X + Y) - a - b) % _P
        g = (b - a) % _P
        f, h = (g - c) % _P, (-a - b) % _P
        X, Y, Z = e * f % _P, g * h % _P, f * g % _P
    zi = pow(Z, _P - 2, _P)
    return X * zi % _P, Y * zi % _P


def _niels(x: int, y: int) -> tuple[int, int, int]:
    """(y + x, y − x, 2d·x·y): the precomputed form of an affine point for mixed addition."""
    return (y + x) % _P, (y - x) % _P, _D2 * x * y % _P


def _walk(x: int, y: int, step: tuple[int, int, int], count: int) -> list[tuple[int, int, int]]:
    """[(X, Y, Z) of P + i·S for i = 0 … count−1], P = (x, y) affine, S in Niels form."""
    ypx, ymx, t2d = step
    X, Y, Z, T = x, y, 1, x * y % _P
    out = []
    for _ in range(count):
        out.append((X, Y, Z))
        a = (Y - X) * ymx % _P
        b = (Y + X) * ypx % _P
        c = T * t2d % _P
        dd = 2 * Z
        e, f, g, h = b - a, dd - c, dd + c, b + a
        X, Y, Z, T = e * f % _P, g * h % _P, f * g % _P, e * h % _P
    return out


def _encode_all(points: list[tuple[int, int, int]]) -> list[bytes]:
    """RFC 8032 encodings of projective points, one inversion for the batch."""
    prefix = []
    acc = 1
    for _, _, z in points:
        prefix.append(acc)
        acc = acc * z % _P
    inv = pow(acc, _P - 2, _P)
    out: list[bytes] = [b""] * len(points)
    for i in range(len(points) - 1, -1, -1):
        X, Y, Z = points[i]
        zi = inv * prefix[i] % _P
        inv = inv * Z % _P
        x = X * zi % _P
        out[i] = ((Y * zi % _P) | ((x & 1) << 255)).to_bytes(32, "little")
    return out


# --- baby-step giant-step ------------------------------------------------------------------


def _baby_table(b: int) -> dict[bytes, int]:
    for size, table in _tables.items():
        if size >= b:
            return table
    table: dict[bytes, int] = {_ED_O: 0}
    gx, gy = _decode(G)
    step = _niels(gx, gy)
    x, y = gx, gy
    for start in range(1, b, BATCH):
        count = min(BATCH, b - start)
        chain = _walk(x, y, step, count)
        for j, enc in enumerate(_encode_all(chain), start):
            table[enc] = j
        x, y = _decode(group.base_mul(start + count))
    _tables.clear()
    _tables[b] = table
    return table


def dlog(m_point: Point, bound: int) -> int:
    """The m in [0, bound] with m·G = M; DlogError if there is none."""
    if type(bound) is not int or not 0 <= bound <= MAX_BOUND:
        raise DlogError(f"discrete-log bound {bound!r} outside [0, {MAX_BOUND}]")
    if not group.is_valid(m_point, allow_identity=True):
        raise DlogError("not a valid group element")
    b = math.isqrt(bound) + 1
    table = _baby_table(b)
    b = max(b, len(table))
    steps = bound // b + 1
    if m_point == IDENTITY:
        return 0
    gx, gy = _decode(group.base_mul(b))
    minus_giant = _niels((-gx) % _P, gy)
    current = m_point
    for start in range(0, steps, BATCH):
        count = min(BATCH, steps - start)
        x, y = _decode(current)
        for i, enc in enumerate(_encode_all(_walk(x, y, minus_giant, count)), start):
            j = table.get(enc)
            if j is not None:
                return _check(i * b + j, bound)
        current = group.sub(m_point, group.base_mul((start + count) * b))
    raise DlogError(f"decrypted value is not in [0, {bound}]")


def _check(m: int, bound: int) -> int:
    if m > bound:
        raise DlogError(f"decrypted value is not in [0, {bound}]")
    return m
