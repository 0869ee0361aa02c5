"""Ballot cryptography benchmark (docs/SPEC.md §3; targets in /work/shared/DESIGN.md).

Ballot shape: one item, 3 options, choose exactly 1 (lo = hi = 1), as ElectionGuard's
reference figures (≈46 ms to encrypt, ≈106 ms to verify on 2 cores).  Prints a table of medians;
``--json`` prints one JSON object with ``ballot_encrypt_ms``, ``ballot_verify_ms`` (medians, one
core), ``audit_ballots_per_s`` (every core) and the other figures.

    .venv/bin/python benchmarks/crypto_bench.py [--json] [--quick] [--electionguard EG_PYTHON]

``--electionguard EG_PYTHON``: the Python of a separate virtual environment with
``electionguard==1.4.0`` installed (Python ≤ 3.10; never the project's environment), e.g.
``python3.10 -m venv /tmp/egvenv && /tmp/egvenv/bin/pip install electionguard==1.4.0 hypothesis``.
ElectionGuard then encrypts and verifies a ballot of the same shape (benchmarks/electionguard_driver.py)
in the same run, between our own measurements, and the ratios are printed from both sides'
medians (wall time and process CPU time: on a shared machine the CPU times are the fair figure).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import nacl.signing

from voting.crypto import ballot, chaum_pedersen, dlog, elgamal, group, tally
from voting.crypto.ballot import ItemShape

FP = bytes(range(32))
ITEMS = [ItemShape("q1", 3, 1, 1)]


def median_ms(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def median_cpu_ms(fn, repeat: int) -> float:
    """Median process CPU time: the one-core cost even when other processes share the machine."""
    fn()
    times = []
    for _ in range(repeat):
        t = time.process_time()
        fn()
        times.append(time.process_time() - t)
    return statistics.median(times) * 1000


def once_s(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def electionguard(python: str, repeat: int) -> dict:
    """ElectionGuard 1.4.0's encrypt and verify medians, measured by its own interpreter now."""
    driver = Path(__file__).with_name("electionguard_driver.py")
    done = subprocess.run([python, str(driver), "--repeat", str(repeat)], capture_output=True, text=True,
                          check=True, cwd="/tmp")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(quick: bool, eg_python: str | None = None, ballots_only: bool = False) -> dict:
    rng = random.Random(1)
    k = group.base_mul(group.random_scalar())
    key = nacl.signing.SigningKey(bytes(range(32)))
    repeat = 50 if quick else 300
    out: dict[str, float] = {}

    out["ballot_encrypt_ms"] = median_ms(lambda: ballot.encrypt_ballot(
        fingerprint=FP, joint_key=k, items=ITEMS, choices={"q1": [0, 1, 0]}, signing_key=key), repeat)
    signed, _ = ballot.encrypt_ballot(fingerprint=FP, joint_key=k, items=ITEMS, choices={"q1": [0, 1, 0]}, signing_key=key)
    out["ballot_verify_ms"] = median_ms(lambda: ballot.verify_ballot(signed, fingerprint=FP, joint_key=k, items=ITEMS), repeat)
    out["ballot_encrypt_cpu_ms"] = median_cpu_ms(lambda: ballot.encrypt_ballot(
        fingerprint=FP, joint_key=k, items=ITEMS, choices={"q1": [0, 1, 0]}, signing_key=key), repeat)
    out["ballot_verify_cpu_ms"] = median_cpu_ms(
        lambda: ballot.verify_ballot(signed, fingerprint=FP, joint_key=k, items=ITEMS), repeat)
    out["load_average_1min"] = os.getloadavg()[0]
    if eg_python:
        eg = electionguard(eg_python, 10 if quick else 30)
        out["eg_encrypt_ms"], out["eg_encrypt_cpu_ms"] = eg["encrypt_ms"], eg["encrypt_cpu_ms"]
        out["eg_verify_ms"], out["eg_verify_cpu_ms"] = eg["verify_ms"], eg["verify_cpu_ms"]
        # ours again after ElectionGuard, so a change of load during the run shows on both sides
        out["ballot_verify_cpu_ms_after"] = median_cpu_ms(
            lambda: ballot.verify_ballot(signed, fingerprint=FP, joint_key=k, items=ITEMS), repeat)
        out["ballot_encrypt_cpu_ms_after"] = median_cpu_ms(lambda: ballot.encrypt_ballot(
            fingerprint=FP, joint_key=k, items=ITEMS, choices={"q1": [0, 1, 0]}, signing_key=key), repeat)
        ours_v = max(out["ballot_verify_cpu_ms"], out["ballot_verify_cpu_ms_after"])
        ours_e = max(out["ballot_encrypt_cpu_ms"], out["ballot_encrypt_cpu_ms_after"])
        out["eg_verify_ratio_cpu"] = out["eg_verify_cpu_ms"] / ours_v
        out["eg_encrypt_ratio_cpu"] = out["eg_encrypt_cpu_ms"] / ours_e
        out["eg_verify_ratio_wall"] = out["eg_verify_ms"] / out["ballot_verify_ms"]
        out["eg_encrypt_ratio_wall"] = out["eg_encrypt_ms"] / out["ballot_encrypt_ms"]
    if ballots_only:
        return out

    r = group.random_scalar()
    ct = elgamal.encrypt(1, r, k)
    ctx = dict(fingerprint=FP, voter=bytes(key.verify_key), item_id="q1", index=0)
    proof = chaum_pedersen.prove_bit(1, r, ct.alpha, ct.beta, k, rand=group.random_scalar, **ctx)
    out["selection_encrypt_prove_ms"] = median_ms(lambda: chaum_pedersen.prove_bit(
        1, r, ct.alpha, ct.beta, k, rand=group.random_scalar, **ctx) and elgamal.encrypt(1, r, k), repeat)
    out["selection_verify_ms"] = median_ms(lambda: chaum_pedersen.verify_bit(proof, ct.alpha, ct.beta, k, **ctx), repeat)
    out["point_add_us"] = median_ms(lambda: group.add(ct.alpha, ct.beta), repeat) * 1000
    out["base_mul_us"] = median_ms(lambda: group.base_mul(r), repeat) * 1000
    out["var_mul_us"] = median_ms(lambda: group.mul(r, k), repeat) * 1000

    # audit throughput: verify many ballots over every core
    n_audit = 400 if quick else 2000
    keys = [nacl.signing.SigningKey(rng.randbytes(32)) for _ in range(50)]
    batch = [ballot.encrypt_ballot(fingerprint=FP, joint_key=k, items=ITEMS, choices={"q1": [0, 1, 0]},
                                   signing_key=keys[i % 50])[0] for i in range(50)]
    audit = [batch[i % 50] for i in range(n_audit)]
    cores = os.cpu_count() or 1
    seconds = statistics.median(
        once_s(lambda: ballot.verify_ballots(audit, fingerprint=FP, joint_key=k, items=ITEMS, workers=cores))
        for _ in range(3))
    out["audit_ballots_per_s"] = n_audit / seconds  # median of 3 runs
    out["audit_cores"] = cores

    # weighted tally of 10,000 ballots, 3 options: 6 columns (α, β per option), heads and area sums
    n = 2000 if quick else 10_000
    weights = [rng.randrange(3000, 30000) for _ in range(n)]  # 30–300 m² in 0.01 m²
    columns = [[group.base_mul(rng.randrange(1, group.L)) for _ in range(n)] for _ in range(6)]
    t0 = time.perf_counter()
    plan = tally.plan_weights(weights)
    out["tally_plan_s"] = time.perf_counter() - t0
    out["tally_serial_s"] = once_s(lambda: tally.sum_columns(plan, columns, workers=1)) + out["tally_plan_s"]
    out["tally_parallel_s"] = statistics.median(
        once_s(lambda: tally.sum_columns(plan, columns, workers=cores)) for _ in range(3)) + out["tally_plan_s"]
    if tally.NATIVE:  # the path tally_secret takes when voting.crypto._msm is built (SPEC §3.11)
        out["tally_native_s"] = once_s(lambda: tally._native_sums(weights, columns, 1))
        out["tally_native_parallel_s"] = statistics.median(
            once_s(lambda: tally._native_sums(weights, columns, cores)) for _ in range(3))
    sample = 500
    naive = once_s(lambda: [group.mul(w, p) for w, p in zip(weights[:sample], columns[0][:sample])])
    out["tally_naive_ladder_s_estimate"] = naive / sample * n * 6 + once_s(lambda: [group.add_all(c) for c in columns])
    out["tally_ballots"] = n

    # discrete logs
    dlog._tables.clear()
    out["dlog_1e7_s"] = once_s(lambda: dlog.dlog(group.base_mul(9_999_999), 10**7))
    dlog._tables.clear()
    out["dlog_1e10_worst_cold_s"] = once_s(lambda: dlog.dlog(group.base_mul(10**10), 10**10))
    out["dlog_1e10_worst_warm_s"] = once_s(lambda: dlog.dlog(group.base_mul(10**10 - 1), 10**10))
    return out


ROWS = [
    ("ballot_encrypt_ms", "ballot encrypt + prove + sign (1 item, 3 options, choose 1), median, 1 core", "ms"),
    ("ballot_encrypt_cpu_ms", "  same, median process CPU time", "ms"),
    ("ballot_verify_ms", "ballot verify (signature, 3 bit proofs, count proof), median, 1 core", "ms"),
    ("ballot_verify_cpu_ms", "  same, median process CPU time", "ms"),
    ("audit_ballots_per_s", "audit: ballots verified per second, every core (median of 3)", "/s"),
    ("selection_encrypt_prove_ms", "one selection: encrypt + 0/1 proof", "ms"),
    ("selection_verify_ms", "one selection: verify 0/1 proof", "ms"),
    ("var_mul_us", "libsodium variable-base multiplication", "µs"),
    ("base_mul_us", "libsodium fixed-base multiplication", "µs"),
    ("point_add_us", "libsodium point addition", "µs"),
    ("tally_serial_s", "weighted + heads tally, 3 options, 1 core", "s"),
    ("tally_parallel_s", "weighted + heads tally, 3 options, every core (median of 3)", "s"),
    ("tally_native_s", "  same by the native multi-scalar multiplication, 1 core", "s"),
    ("tally_native_parallel_s", "  same, native, every core (median of 3)", "s"),
    ("tally_naive_ladder_s_estimate", "same with one ladder per ballot (estimate)", "s"),
    ("dlog_1e7_s", "discrete log, bound 10^7 (cold table)", "s"),
    ("dlog_1e10_worst_cold_s", "discrete log, bound 10^10, worst case, cold table", "s"),
    ("dlog_1e10_worst_warm_s", "discrete log, bound 10^10, worst case, cached table", "s"),
    ("load_average_1min", "machine load average during the run (2 cores: > 1 means sharing)", ""),
]

EG_ROWS = (
    ("ballot_verify_cpu_ms_after", "ours again after ElectionGuard: ballot verify, median CPU time", "ms"),
    ("ballot_encrypt_cpu_ms_after", "ours again after ElectionGuard: ballot encrypt, median CPU time", "ms"),
    ("eg_encrypt_ms", "ElectionGuard 1.4.0 encrypt (same ballot shape), median, 1 core, this run", "ms"),
    ("eg_encrypt_cpu_ms", "  same, median process CPU time", "ms"),
    ("eg_verify_ms", "ElectionGuard 1.4.0 verify (is_valid_encryption), median, 1 core, this run", "ms"),
    ("eg_verify_cpu_ms", "  same, median process CPU time", "ms"),
    ("eg_verify_ratio_cpu", "verify: ElectionGuard CPU time / ours (worse of our two runs)", "×"),
    ("eg_encrypt_ratio_cpu", "encrypt: ElectionGuard CPU time / ours (worse of our two runs)", "×"),
    ("eg_verify_ratio_wall", "verify: ElectionGuard wall time / ours", "×"),
    ("eg_encrypt_ratio_wall", "encrypt: ElectionGuard wall time / ours", "×"),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, 2,000-ballot tally")
    parser.add_argument("--electionguard", metavar="EG_PYTHON",
                        help="time ElectionGuard 1.4.0 side by side, with the Python of its own venv")
    parser.add_argument("--ballots-only", action="store_true", help="only the ballot figures (and ElectionGuard's)")
    args = parser.parse_args()
    out = run(args.quick, args.electionguard, args.ballots_only)
    if args.json:
        print(json.dumps(out, sort_keys=True))
        return 0
    print(f"{'measure':84s} {'value':>10s}")
    for key, label, unit in [*ROWS, *(EG_ROWS if args.electionguard else ())]:
        if key not in out:
            continue
        if key.startswith("tally_") and key != "tally_plan_s":
            label = label.replace("tally", f"tally of {out['tally_ballots']:,} ballots", 1)
        print(f"{label:84s} {out[key]:10.2f} {unit}")
    if not args.electionguard:
        print(f"ElectionGuard 1.4.0 reference (older run, not this machine): encrypt ≈46 ms, verify ≈106 ms → "
              f"encrypt {46 / out['ballot_encrypt_ms']:.0f}×, verify {106 / out['ballot_verify_ms']:.0f}× faster "
              "(use --electionguard EG_PYTHON for a side-by-side run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
