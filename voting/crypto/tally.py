"""Homomorphic heads and weighted (area) tallies (docs/SPEC.md §3.8).

For every item and selection (option) i, over the verified ballots b with voter weight w_b
(an integer count of 0.01 m²):

    heads_i = Σ_b (α_bi, β_bi)          area_i = Σ_b w_b·(α_bi, β_bi)

Aggregates may contain the identity (no ballots, or all weights 0).  The tally functions accept
only ``ballot.VerifiedBallot`` / ``ballot.VerifiedOpenBallot``: a ballot cannot be counted
without having passed verification.

Weighted sums use a bucket method (Pippenger): the weights are cut into c-bit digits; in each
window the points are added into one bucket per digit value, the buckets are combined by a
running sum over the distinct digits in decreasing order (total = Σ (d_k − d_{k+1})·R_k), and the
windows by Horner's rule with one multiplication by 2^c each.  The plan (window size and
buckets) depends only on the weights, so it is computed once and applied to every column (each
option's α and β).  Cost is about n + 2·D additions per window instead of one 253-bit ladder
per ballot; see benchmarks/crypto_bench.py.  When the native multi-scalar multiplication is built
(``batch.NATIVE``, SPEC §3.11) each column's two sums are computed by it instead (the same values);
the bucket plan is the libsodium path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

from voting.crypto import group
from voting.crypto.batch import NATIVE, weighted_sums
from voting.crypto.ballot import ItemShape, VerifiedBallot, VerifiedOpenBallot
from voting.crypto.elgamal import Ciphertext
from voting.crypto.group import IDENTITY, GroupError, Point
from voting.crypto.group import _B32, _add as _sodium_add


class TallyError(ValueError):
    """Ballots or weights that cannot be tallied together."""


# --- aggregates ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ItemAggregate:
    """One item's per-selection sums: heads (Σ c) and area (Σ w·c)."""

    id: str
    heads: tuple[Ciphertext, ...]
    area: tuple[Ciphertext, ...]


@dataclass(frozen=True, slots=True)
class Aggregates:
    """The aggregate ciphertexts of a secret round, with the discrete-log bounds."""

    fingerprint: bytes
    ballots: int
    total_weight: int
    items: tuple[ItemAggregate, ...]

    def to_json(self) -> dict:
        """{"v": 1, "round", "ballots", "total_weight", "items": [{"id", "heads": [ct], "area": [ct]}]}."""
        return {"v": 1, "round": self.fingerprint.hex(), "ballots": self.ballots, "total_weight": self.total_weight,
                "items": [{"id": it.id, "heads": [c.to_json() for c in it.heads],
                           "area": [c.to_json() for c in it.area]} for it in self.items]}

    @classmethod
    def from_json(cls, obj: object) -> "Aggregates":
        if not isinstance(obj, dict) or set(obj) != {"v", "round", "ballots", "total_weight", "items"} or obj["v"] != 1:
            raise TallyError("aggregates: expected v = 1, round, ballots, total_weight and items")
        for k in ("ballots", "total_weight"):
            if type(obj[k]) is not int or obj[k] < 0:
                raise TallyError(f"aggregates: {k} must be a non-negative integer")
        try:
            fp = bytes.fromhex(obj["round"])
            items = []
            for it in obj["items"]:
                if set(it) != {"id", "heads", "area"} or len(it["heads"]) != len(it["area"]):
                    raise TallyError("aggregates: each item needs id, heads and area of equal length")
                items.append(ItemAggregate(
                    it["id"],
                    tuple(Ciphertext.from_json(c, allow_identity=True, what=f"aggregate {it['id']} heads") for c in it["heads"]),
                    tuple(Ciphertext.from_json(c, allow_identity=True, what=f"aggregate {it['id']} area") for c in it["area"])))
        except TallyError:
            raise
        except (GroupError, TypeError, ValueError, KeyError) as e:
            raise TallyError(f"aggregates: {e}") from None
        if len(fp) != 32:
            raise TallyError("aggregates: round must be 32 bytes of hex")
        return cls(fp, obj["ballots"], obj["total_weight"], tuple(items))


# --- weighted sums -------------------------------------------------------------------------


def _add(p: Point | None, q: Point) -> Point:
    if p is None:
        return q
    out = _B32()
    if _sodium_add(out, p, q) != 0:
        raise GroupError("point addition on an invalid encoding")
    return out.raw


def _small_mul(k: int, p: Point) -> Point:
    if k <= 6:
        acc = p
        for _ in range(k - 1):
            acc = _add(acc, p)
        return acc
    return group.mul(k, p)


@dataclass(frozen=True, slots=True)
class _Window:
    digits: tuple[int, ...]            # distinct non-zero digit values, decreasing
    members: tuple[tuple[int, ...], ...]  # for each digit value, the row indices holding it


@dataclass(frozen=True, slots=True)
class WeightPlan:
    """Bucket plan for a weight vector: window size c and, per window (most significant first), buckets.

    The plain sum Σ P_i (heads) comes almost free: in window ``plain_window`` the final running
    sum is Σ over rows with a non-zero digit; adding the few rows ``plain_extra`` whose digit is
    zero there gives Σ P_i.
    """

    c: int
    windows: tuple[_Window, ...]
    plain_window: int
    plain_extra: tuple[int, ...]


def _windows_for(weights: Sequence[int], c: int, nbits: int) -> tuple[_Window, ...]:
    mask = (1 << c) - 1
    out = []
    for shift in reversed(range(0, nbits, c)):
        buckets: dict[int, list[int]] = {}
        for i, w in enumerate(weights):
            d = (w >> shift) & mask
            if d:
                buckets.setdefault(d, []).append(i)
        ds = sorted(buckets, reverse=True)
        out.append(_Window(tuple(ds), tuple(tuple(buckets[d]) for d in ds)))
    return tuple(out)


def _cost(windows: tuple[_Window, ...]) -> int:
    cost = 0
    for win in windows:
        ds = list(win.digits) + [0]
        cost += sum(len(m) for m in win.members) + sum(1 + min(ds[k] - ds[k + 1], 6) for k in range(len(win.digits)))
        cost += 6  # the window's multiplication by 2^c
    return cost


def plan_weights(weights: Sequence[int]) -> WeightPlan:
    """Choose the window size c minimising the estimated number of additions, and bucket the rows."""
    for w in weights:
        if type(w) is not int or w < 0:
            raise TallyError("weights must be non-negative integers (0.01 m²)")
    nbits = max((w.bit_length() for w in weights), default=1) or 1
    best: WeightPlan | None = None
    best_cost = 0
    for c in sorted({min(c, nbits) for c in (4, 6, 8, 10, 12, 14, nbits)}):
        windows = _windows_for(weights, c, nbits)
        cost = _cost(windows)
        if best is None or cost < best_cost:
            best, best_cost = _with_plain(c, windows, len(weights)), cost
    assert best is not None
    return best


def _with_plain(c: int, windows: tuple[_Window, ...], n: int) -> WeightPlan:
    best_k, best_zero = 0, None
    for k, win in enumerate(windows):
        nonzero = set()
        for rows in win.members:
            nonzero.update(rows)
        zero = tuple(i for i in range(n) if i not in nonzero)
        if best_zero is None or len(zero) < len(best_zero):
            best_k, best_zero = k, zero
    return WeightPlan(c, windows, best_k, best_zero or ())


def _window_sum(win: _Window, column: Sequence[Point]) -> tuple[Point | None, Point | None]:
    """(Σ d·S_d, Σ S_d) over the window's buckets S_d."""
    running: Point | None = None
    total: Point | None = None
    ds = list(win.digits) + [0]
    for k, rows in enumerate(win.members):
        for i in rows:
            running = _add(running, column[i])
        total = _add(total, _small_mul(ds[k] - ds[k + 1], running))
    return total, running


def weighted_sum(plan: WeightPlan, column: Sequence[Point]) -> tuple[Point, Point]:
    """(Σ_i w_i·P_i, Σ_i P_i) for the weights the plan was made from (O for empty sums)."""
    acc: Point | None = None
    plain: Point | None = None
    for k, win in enumerate(plan.windows):
        if acc is not None:
            acc = group.mul(1 << plan.c, acc)
        part, running = _window_sum(win, column)
        if part is not None:
            acc = _add(acc, part)
        if k == plan.plain_window:
            plain = running
            for i in plan.plain_extra:
                plain = _add(plain, column[i])
    return (IDENTITY if acc is None else acc), (IDENTITY if plain is None else plain)


def _column_job(args: tuple) -> tuple[Point, Point]:
    plan, column = args
    return weighted_sum(plan, column)


def _native_sums(weights: Sequence[int], columns: Sequence[Sequence[Point]], threads: int) -> list[tuple[Point, Point]]:
    """(Σ w_i·P_i, Σ P_i) of each column by the native multi-scalar multiplication
    (``batch.weighted_sums``): the same values as the bucket plan's."""
    encoded = b"".join(w.to_bytes(32, "little") for w in weights)
    return [weighted_sums(column, encoded, threads=threads) if column else (IDENTITY, IDENTITY) for column in columns]


def sum_columns(plan: WeightPlan, columns: Sequence[Sequence[Point]], *, workers: int = 1) -> list[tuple[Point, Point]]:
    """(weighted, plain) sums of each column, over ``workers`` processes when the work is large enough."""
    jobs = [(plan, col) for col in columns]
    if workers > 1 and len(columns) > 1 and sum(len(c) for c in columns) > 1000:
        import multiprocessing
        with multiprocessing.get_context("fork").Pool(min(workers, os.cpu_count() or 1, len(columns))) as pool:
            return pool.map(_column_job, jobs, chunksize=1)
    return [_column_job(j) for j in jobs]


# --- tallies -------------------------------------------------------------------------------


def _check_ballots(ballots, cls, fingerprint: bytes, items: list[ItemShape]) -> None:
    seen: set[int] = set()  # the same verified ballot twice; one key may cast for several voters (a proxy, SPEC §7.8)
    ids = tuple(it.id for it in items)
    for b, w in ballots:
        if not isinstance(b, cls):
            raise TallyError(f"only {cls.__name__} objects can be tallied (verify the ballot first)")
        if b.fingerprint != fingerprint or b.item_ids != ids:
            raise TallyError("ballot belongs to another round or agenda")
        if type(w) is not int or w < 0:
            raise TallyError("weights must be non-negative integers (0.01 m²)")
        if id(b) in seen:
            raise TallyError(f"two ballots from voter {b.voter.hex()} (the same ballot twice)")
        seen.add(id(b))


def tally_secret(ballots: Sequence[tuple[VerifiedBallot, int]], *, fingerprint: bytes, items: list[ItemShape],
                 workers: int = 1) -> Aggregates:
    """Aggregate verified secret ballots with their voters' weights into heads and area sums.

    ``workers`` > 1 spreads the columns (one per item, selection and component) over processes.
    """
    ballots = list(ballots)
    _check_ballots(ballots, VerifiedBallot, fingerprint, items)
    weights = [w for _, w in ballots]
    plan = None if NATIVE else plan_weights(weights)
    jobs = []
    for k, it in enumerate(items):
        for i in range(it.n):
            alphas = [b.ciphertexts[k][i].alpha for b, _ in ballots]
            betas = [b.ciphertexts[k][i].beta for b, _ in ballots]
            jobs += [(plan, alphas), (plan, betas)]
    columns = [col for _, col in jobs]
    sums = _native_sums(weights, columns, max(1, workers)) if plan is None else sum_columns(plan, columns, workers=workers)
    out, pos = [], 0
    for it in items:
        heads, area = [], []
        for _ in range(it.n):
            (wa, ha), (wb, hb) = sums[pos:pos + 2]
            pos += 2
            heads.append(Ciphertext(ha, hb))
            area.append(Ciphertext(wa, wb))
        out.append(ItemAggregate(it.id, tuple(heads), tuple(area)))
    return Aggregates(bytes(fingerprint), len(ballots), sum(weights), tuple(out))


@dataclass(frozen=True, slots=True)
class ItemCount:
    """Plaintext per-selection totals of one item: heads and area (0.01 m²)."""

    id: str
    heads: tuple[int, ...]
    area: tuple[int, ...]


def tally_open(ballots: Sequence[tuple[VerifiedOpenBallot, int]], *, fingerprint: bytes,
               items: list[ItemShape]) -> tuple[ItemCount, ...]:
    """Plaintext heads and area per selection of verified open ballots."""
    ballots = list(ballots)
    _check_ballots(ballots, VerifiedOpenBallot, fingerprint, items)
    out = []
    for k, it in enumerate(items):
        heads = [0] * it.n
        area = [0] * it.n
        for b, w in ballots:
            for i, m in enumerate(b.selections[k]):
                heads[i] += m
                area[i] += m * w
        out.append(ItemCount(it.id, tuple(heads), tuple(area)))
    return tuple(out)
