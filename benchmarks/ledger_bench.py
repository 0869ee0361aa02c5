"""Ledger benchmark: appends/s, inclusion-proof time at 10^6 entries, verification entries/s.

Targets (DESIGN.md): inclusion proof for a 1,000,000-entry log in ≤ 1 ms; full re-verification
≥ 200,000 entries/s (hash and root work, one core).  Also the server's own re-hash from stored
bytes (ledger.recheck: export and self-check; a signature re-hashes only the new entries).
Prints figures; no thresholds.

Run: .venv/bin/python benchmarks/ledger_bench.py [--entries 1000000] [--appends 2000] [--json]
SQLite file in a temporary directory (set GONGJUE_BENCH_POSTGRES_URL to also time appends on
PostgreSQL).  The large log is loaded in bulk (same bytes and stored hashes as ``append`` would
write, checked against the tree root) because timing a million single appends is not the point.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, insert, text  # noqa: E402

from ledger import bundle, checkpoint, keys, log, receipt, tree  # noqa: E402
from ledger.db import make_engine, migrate, reading, transaction  # noqa: E402
from ledger.entry import ZERO_PREV, encode_entry  # noqa: E402
from ledger.models import Entry, StoredHash  # noqa: E402
from ledger.proof import verify_inclusion  # noqa: E402
from ledger.recheck import recheck  # noqa: E402
from ledger.verify import NO_CONTENT_CHECKS, BundleSource, verify_bundle  # noqa: E402

T0 = datetime(2026, 11, 23, 8, 0, 0, tzinfo=UTC)


def body(i: int) -> dict:
    """A ballot-sized synthetic body (~300 bytes)."""
    return {"round": 7, "voter_key": f"{i:064x}", "ciphertexts": [f"{(i * 7919 + k) % 10**9:064x}" for k in range(2)],
            "n": i}


def bench_appends(engine, count: int) -> dict:
    with transaction(engine) as s:
        log_id = log.create_log(s, f"bench.local/a{uuid.uuid4().hex[:8]}").id
    t = time.perf_counter()
    for i in range(count):
        with transaction(engine) as s:
            log.append(s, log_id, "ballot", body(i))
    one = count / (time.perf_counter() - t)
    t = time.perf_counter()
    with transaction(engine) as s:
        for i in range(count):
            log.append(s, log_id, "ballot", body(i))
    batched = count / (time.perf_counter() - t)
    return {"appends_per_s_one_per_tx": round(one), "appends_per_s_batched": round(batched)}


def bulk_log(engine, n: int) -> int:
    """Write an n-entry log with the same bytes and stored hashes ``append`` produces."""
    with transaction(engine) as s:
        log_id = log.create_log(s, "bench.local/million").id
    hashes: list[bytes] = []
    prev = ZERO_PREV
    batch_e, batch_h = [], []
    read = lambda idx: [hashes[i] for i in idx]  # noqa: E731
    for seq in range(n):
        stamp = (T0 + timedelta(seconds=seq)).strftime("%Y-%m-%dT%H:%M:%SZ")
        data = encode_entry(seq, prev, "ballot", stamp, body(seq))
        leaf = tree.leaf_hash(data)
        start = len(hashes)
        hashes += tree.stored_hashes_for_leaf(seq, leaf, read)
        batch_h += [{"log_id": log_id, "idx": start + i, "hash": h} for i, h in enumerate(hashes[start:])]
        batch_e.append({"log_id": log_id, "seq": seq, "type": "ballot", "time": stamp, "data": data, "leaf_hash": leaf})
        prev = leaf.hex()
        if len(batch_e) == 20000 or seq == n - 1:
            with engine.begin() as conn:
                conn.execute(insert(StoredHash), batch_h)
                conn.execute(insert(Entry), batch_e)
            batch_e, batch_h = [], []
    return log_id


def bench_proofs(engine, log_id: int, n: int, samples: int = 2000) -> dict:
    rng = random.Random(1)
    with transaction(engine) as s:
        root = log.root(s, log_id, n)
    times, rtimes = [], []
    with transaction(engine) as s:
        for _ in range(samples):
            seq = rng.randrange(n)
            t = time.perf_counter()
            proof = log.inclusion_proof(s, log_id, seq, n)
            times.append(time.perf_counter() - t)
            if len(times) % 200 == 0:
                verify_inclusion(seq, n, log.get_entry(s, log_id, seq).leaf_hash, proof, root)
        for _ in range(samples // 4):
            seq = rng.randrange(n)
            t = time.perf_counter()
            receipt.build_receipt(s, log_id, seq)
            rtimes.append(time.perf_counter() - t)
    return {"root": root.hex(), "inclusion_proof_ms_median": round(statistics.median(times) * 1e3, 3),
            "inclusion_proof_ms_p99": round(sorted(times)[int(len(times) * 0.99)] * 1e3, 3),
            "receipt_ms_median": round(statistics.median(rtimes) * 1e3, 3)}


def bench_recheck(engine, log_id: int, n: int, key) -> dict:
    """The server's own re-hash from stored bytes: the whole log (export, self-check) and one sign
    after 100 more appends (only the new entries are re-hashed)."""
    t = time.perf_counter()
    with reading(engine) as s:
        found = recheck(s, log_id)
    whole = n / (time.perf_counter() - t)
    assert found is None, found
    with transaction(engine) as s:
        for i in range(100):
            log.append(s, log_id, "ballot", body(n + i))
    t = time.perf_counter()
    with transaction(engine) as s:
        checkpoint.sign(s, log_id, key)
    sign_ms = (time.perf_counter() - t) * 1e3
    return {"recheck_whole_log_entries_per_s": round(whole), "sign_after_100_appends_ms": round(sign_ms, 1)}


def bench_verify(engine, log_id: int, n: int, workdir: Path) -> dict:
    out = workdir / "bundle"
    t = time.perf_counter()
    with transaction(engine) as s:
        bundle.write_dir(s, log_id, out)
    export_s = time.perf_counter() - t
    # hash and root work only: leaf hashes of the stored bytes and the streaming Merkle root
    source = BundleSource(out)
    t = time.perf_counter()
    builder = tree.RootBuilder()
    for line in source.lines(bundle.ENTRIES):
        builder.add(tree.leaf_hash(line[:-1]))
    root = builder.root()
    hash_rate = n / (time.perf_counter() - t)
    t = time.perf_counter()
    report = verify_bundle(out, checks=NO_CONTENT_CHECKS)
    full_rate = n / (time.perf_counter() - t)
    assert report.ok, report.first
    assert root.hex() == report.root
    jobs = os.cpu_count() or 1
    t = time.perf_counter()
    report = verify_bundle(out, checks=NO_CONTENT_CHECKS, jobs=jobs)
    parallel_rate = n / (time.perf_counter() - t)
    assert report.ok and report.root == root.hex()
    return {"export_s": round(export_s, 2), "verify_hash_root_entries_per_s": round(hash_rate),
            "verify_full_entries_per_s": round(full_rate), "verify_full_jobs": jobs,
            "verify_full_parallel_entries_per_s": round(parallel_rate)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--appends", type=int, default=2000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    results: dict = {"entries": args.entries}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        engine = make_engine(f"sqlite:///{work / 'bench.db'}")
        migrate(engine)
        results["sqlite"] = bench_appends(engine, args.appends)
        pg = os.environ.get("GONGJUE_BENCH_POSTGRES_URL")
        if pg:
            name = "bench_" + uuid.uuid4().hex[:8]
            admin = create_engine(pg.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.execute(text(f'CREATE DATABASE "{name}"'))
            pg_engine = make_engine(pg.rpartition("/")[0] + "/" + name)
            migrate(pg_engine)
            results["postgres"] = bench_appends(pg_engine, args.appends)
            pg_engine.dispose()
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        t = time.perf_counter()
        log_id = bulk_log(engine, args.entries)
        results["bulk_load_s"] = round(time.perf_counter() - t, 1)
        key = keys.create_key_file(work / "log.key", "bench.local")
        t = time.perf_counter()
        with transaction(engine) as s:
            checkpoint.sign(s, log_id, key)  # the first signature re-hashes every entry from its bytes
        results["first_sign_entries_per_s"] = round(args.entries / (time.perf_counter() - t))
        results.update(bench_recheck(engine, log_id, args.entries, key))
        results.update(bench_proofs(engine, log_id, args.entries))
        results.update(bench_verify(engine, log_id, args.entries, work))
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"ledger benchmark — {args.entries:,} entries, SQLite file, 1 core")
    for db in ("sqlite", "postgres"):
        if db in results:
            r = results[db]
            print(f"  appends/s ({db}): {r['appends_per_s_one_per_tx']:,} (one transaction each), "
                  f"{r['appends_per_s_batched']:,} (batched in one transaction)")
    print(f"  inclusion proof at {args.entries:,}: median {results['inclusion_proof_ms_median']} ms, "
          f"p99 {results['inclusion_proof_ms_p99']} ms (target ≤ 1 ms); full receipt median "
          f"{results['receipt_ms_median']} ms")
    print(f"  verification: hash+root {results['verify_hash_root_entries_per_s']:,} entries/s (target ≥ 200,000); "
          f"full check (canonical bytes, fields, chain, root, signature) {results['verify_full_entries_per_s']:,} "
          f"entries/s on 1 core, {results['verify_full_parallel_entries_per_s']:,} entries/s with "
          f"{results['verify_full_jobs']} processes")
    print(f"  server re-hash from stored bytes: whole log {results['recheck_whole_log_entries_per_s']:,} entries/s "
          f"(export, self-check), first signature {results['first_sign_entries_per_s']:,} entries/s; "
          f"sign after 100 appends {results['sign_after_100_appends_ms']} ms")
    print(f"  bulk load {results['bulk_load_s']} s, export {results['export_s']} s")


if __name__ == "__main__":
    main()
