"""Native multi-scalar multiplication and batch verification benchmark (docs/SPEC.md §3.11).

Prints one JSON object: µs per term of voting.crypto._msm.check (decode + Σ s_i·P_i, full-width
scalars) for n = 40, 1,000, 10,000, 50,000 on one thread and on every CPU, the decode alone, the
Python cost of Batch.equation, Batch.check on proof-shaped equations, and libsodium's single
multiplication (the fallback's cost per term) for comparison.  Medians of process CPU time
(``*_cpu_us``: fair on a shared machine) and of wall time (``*_wall_us``).

    .venv/bin/python benchmarks/msm_bench.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from voting.crypto import batch, group
from voting.crypto.group import G, L

SIZES = (40, 1_000, 10_000, 50_000)


def timed(fn, repeat: int) -> tuple[float, float]:
    """(median wall, median process CPU) seconds of fn() over `repeat` runs after one warm-up."""
    fn()
    walls, cpus = [], []
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus)


def per_term(out: dict, key: str, fn, repeat: int, terms: int) -> None:
    wall, cpu = timed(fn, repeat)
    out[key + "_wall_us"] = round(wall / terms * 1e6, 3)
    out[key + "_cpu_us"] = round(cpu / terms * 1e6, 3)


def random_points(rnd: random.Random, n: int) -> list[bytes]:
    return [group.base_mul(rnd.randrange(1, L)) for _ in range(n)]


def msm_figures(out: dict, rnd: random.Random, sizes) -> None:
    msm = batch._msm
    pool = random_points(rnd, max(sizes))
    for n in sizes:
        points = b"".join(pool[:n])
        scalars = b"".join(rnd.randrange(L).to_bytes(32, "little") for _ in range(n))
        repeat = max(3, min(200, 20_000 // n))
        for key, threads in (("1thread", 1), ("allcpus", 0)):
            per_term(out, f"msm_n{n}_{key}", lambda p=points, s=scalars, t=threads: msm.check(p, s, threads=t), repeat, n)
        if n == 1_000:
            zeros = bytes(32 * n)
            per_term(out, "decode_only_1thread", lambda p=points, z=zeros: msm.check(p, z, threads=1), repeat, n)


def proof_equations(rnd: random.Random, selections: int) -> list[list[tuple[int, bytes]]]:
    """True 0/1-proof-shaped equations (SPEC §3.4): per selection A − z·G + c·α = O and
    B − z·K + c·β − c·v·G = O for both branches (4 equations, 13 terms, 6 distinct points besides G and K)."""
    K = group.base_mul(rnd.randrange(1, L))
    equations = []
    for _ in range(selections):
        r, m = rnd.randrange(1, L), rnd.randrange(2)
        alpha, beta = group.base_mul(r), group.add(group.mul(r, K), group.base_mul(m))
        for v in (0, 1):
            z, c = rnd.randrange(L), rnd.randrange(L)
            a = group.sub(group.base_mul(z), group.mul(c, alpha))
            b = group.sub(group.mul(z, K), group.mul(c, group.sub(beta, group.base_mul(v))))
            equations.append([(1, a), (-z, G), (c, alpha)])
            equations.append([(1, b), (-z, K), (c, beta), (-c * v, G)])
    return equations


def batch_figures(out: dict, rnd: random.Random, selections: int) -> None:
    equations = proof_equations(rnd, selections)
    terms = sum(len(e) for e in equations)

    def fill() -> batch.Batch:
        b = batch.Batch()
        for e in equations:
            b.equation(e)
        return b

    _, cpu = timed(fill, 5)
    out["batch_equation_call_cpu_us"] = round(cpu / len(equations) * 1e6, 3)
    out["batch_equation_term_cpu_us"] = round(cpu / terms * 1e6, 3)
    filled = fill()
    assert filled.check() is True
    out["batch_selections"] = selections
    out["batch_terms"] = terms
    out["batch_distinct_points"] = len(filled._coefficients)
    per_term(out, "batch_check_per_term", filled.check, 3, terms)
    per_term(out, "batch_check_per_selection", filled.check, 3, selections)


def sodium_figures(out: dict, rnd: random.Random) -> None:
    p = group.base_mul(rnd.randrange(1, L))
    k = rnd.randrange(L)
    per_term(out, "sodium_mul", lambda: [group.mul(k, p) for _ in range(200)], 5, 200)
    per_term(out, "sodium_base_mul", lambda: [group.base_mul(k) for _ in range(200)], 5, 200)
    per_term(out, "sodium_add", lambda: [group.add(p, p) for _ in range(200)], 5, 200)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n up to 10,000 and a smaller batch")
    args = parser.parse_args()
    rnd = random.Random(20261130)
    out: dict = {"native": batch.NATIVE, "cpus": os.cpu_count(), "load_average": os.getloadavg()[0]}
    sodium_figures(out, rnd)
    if batch.NATIVE:
        msm_figures(out, rnd, SIZES[:3] if args.quick else SIZES)
    batch_figures(out, rnd, 100 if args.quick else 1_000)
    out["sodium_per_term_cpu_us"] = round(out["sodium_mul_cpu_us"] + out["sodium_add_cpu_us"], 3)
    print(json.dumps(out, sort_keys=True, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
