"""Cast throughput over HTTP (issue #11 part 3): casts/s, latency, errors and the server's memory peak.

A real server (``benchmarks.harness.Server``: ``uvicorn web.app:create_app --factory --workers W``
on 127.0.0.1) over a fresh database — a temporary SQLite file, or a fresh database created on the
PostgreSQL server of ``--pg-url`` / GONGJUE_BENCH_POSTGRES_URL / GONGJUE_TEST_POSTGRES_URL (dropped
afterwards).  ``benchmarks.harness.prepare`` makes an estate of ``--voters`` voters with an open
secret round of two motions (each voter an owner session), ``make_ballots`` makes one signed,
encrypted ballot per voter **before** any timing (the booth's work is the phone's, not the
server's).  Then ``--clients`` concurrent clients (threads spread over ``--client-procs``
processes, each with a keep-alive ``http.client`` connection) cast for ``--seconds`` seconds: a
bounded, closed-loop load — each client sends its next ballot when the previous one is answered.
Every ballot is fully verified by the server (signature and every proof) before it answers 201.

After the run, every acknowledged ballot is checked against the ledger: its receipt verifies
against the log's key (``ledger.receipt.verify_receipt``) and the log holds that entry at that
seq (``acknowledged``, ``found``, ``lost``).  ``server_rss_peak_mb`` is the sum over the server's
processes (supervisor and workers) of their peak resident set (``VmHWM`` of /proc/<pid>/status).

The load generator runs on the same machine as the server (and, for PostgreSQL, the database):
all of them share its cores; ``load_before``/``load_after`` are ``os.getloadavg()``.

Run: .venv/bin/python benchmarks/cast_bench.py [--db sqlite|postgresql] [--seconds 10] [--clients 32]
     [--workers 2] [--voters N] [--json]
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import harness


def _pg_base(arg: str | None) -> str:
    url = arg or os.environ.get("GONGJUE_BENCH_POSTGRES_URL") or os.environ.get("GONGJUE_TEST_POSTGRES_URL")
    if not url:
        raise SystemExit("PostgreSQL: pass --pg-url or set GONGJUE_BENCH_POSTGRES_URL (e.g. the URL scripts/pg.sh prints)")
    return url


def _admin(base: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(sql)


class Database:
    """A fresh database for one run: a SQLite file in a temporary folder, or a new PostgreSQL database."""

    def __init__(self, kind: str, pg_url: str | None = None, url: str | None = None) -> None:
        self.kind, self.given = kind, url is not None
        if url is not None:  # a database the caller made (and drops): e.g. a test's
            self.url = url
        elif kind == "sqlite":
            self.dir = tempfile.mkdtemp(prefix="gongjue-castbench-")
            self.url = f"sqlite:///{self.dir}/bench.db"
        else:
            self.base = _pg_base(pg_url)
            self.name = f"castbench_{os.getpid()}_{secrets.token_hex(3)}"
            _admin(self.base, f"CREATE DATABASE {self.name}")
            self.url = self.base.rsplit("/", 1)[0] + "/" + self.name

    def drop(self) -> None:
        if self.given:
            return
        if self.kind == "sqlite":
            import shutil

            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            _admin(self.base, f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")


# --- the clients ------------------------------------------------------------------------------


def _client_proc(port: int, path: str, jobs: list, threads: int, start_at: float, stop_at: float, out) -> None:
    """One client process: ``threads`` threads, each its own keep-alive connection, sharing ``jobs``
    ((cookie header, ballot text)); its results (latency s, status, body or None, answer time) and its
    CPU seconds while casting go to ``out``."""
    lock = threading.Lock()
    queue = list(reversed(jobs))
    results: list = []

    def take():
        with lock:
            return queue.pop() if queue else None

    def run() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        mine = []
        while time.time() < start_at:
            time.sleep(0.001)
        while time.time() < stop_at:
            job = take()
            if job is None:
                break
            cookie, text = job
            body = text.encode()
            t = time.perf_counter()
            try:
                conn.request("POST", path, body=body, headers={"content-type": "application/json", "cookie": cookie,
                                                               "content-length": str(len(body))})
                resp = conn.getresponse()
                data = resp.read()
                status = resp.status
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                mine.append((time.perf_counter() - t, 0, f"{type(e).__name__}: {e}", time.time()))
                continue
            mine.append((time.perf_counter() - t, status, data.decode("utf-8", "replace"), time.time()))
        conn.close()
        with lock:
            results.extend(mine)

    ts = [threading.Thread(target=run) for _ in range(threads)]
    for t in ts:
        t.start()
    while time.time() < start_at:
        time.sleep(0.001)
    cpu = time.process_time()
    for t in ts:
        t.join()
    out.put((results, time.process_time() - cpu))


def _rss_peaks(pgid: int) -> dict[int, int]:
    """{pid: VmHWM in kB} of every process in the process group ``pgid`` (the server's)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[2]) != pgid:  # field 5 of /proc/<pid>/stat: the process group
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    found[int(entry.name)] = int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return found


def _cpu_seconds(pgid: int) -> float:
    """utime + stime (s) of every live process in the process group ``pgid``."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[2]) == pgid:
                total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
        except (OSError, ValueError, IndexError):
            continue
    return total / tick


def _pct(sorted_ms: list[float], p: float) -> float:
    if not sorted_ms:
        return 0.0
    k = min(len(sorted_ms) - 1, max(0, round(p / 100 * len(sorted_ms) + 0.5) - 1))
    return round(sorted_ms[k], 2)


def check_ledger(db_url: str, slug: str, receipts: list[dict]) -> dict:
    """Every acknowledged ballot's receipt verifies against the log key and its entry is in the log."""
    from sqlalchemy import select

    from identity import store
    from ledger import keys
    from ledger.db import make_engine, reading
    from ledger.models import Entry
    from ledger.receipt import ReceiptError, verify_receipt

    vkey = keys.log_key().vkey
    bad = 0
    for r in receipts:
        try:
            verify_receipt(r, vkey)
        except ReceiptError:
            bad += 1
    engine = make_engine(db_url)
    try:
        with reading(engine) as s:
            log_id = store.get_estate(s, slug).log_id
            stored = dict(s.execute(select(Entry.seq, Entry.leaf_hash).where(Entry.log_id == log_id)).all())
    finally:
        engine.dispose()
    found = sum(1 for r in receipts if bytes(stored.get(r["seq"], b"")).hex() == r["leaf_hash"])
    return {"acknowledged": len(receipts), "found": found, "lost": len(receipts) - found, "receipts_bad": bad,
            "ballot_entries": len(stored)}


def run(kind: str, *, seconds: float, clients: int, workers: int, voters: int | None, client_procs: int,
        pg_url: str | None = None, keep: bool = False, db_url: str | None = None,
        latencies: str | None = None) -> dict:
    voters = voters or max(500, int(seconds * 500) + clients * 2)
    if db_url is not None:
        kind = "sqlite" if db_url.startswith("sqlite") else "postgresql"
    db = Database(kind, pg_url, db_url)
    env = {}
    key_dir = tempfile.mkdtemp(prefix="gongjue-castbench-key-")
    os.environ.setdefault("GONGJUE_LOG_KEY_FILE", f"{key_dir}/log.key")
    env["GONGJUE_LOG_KEY_FILE"] = os.environ["GONGJUE_LOG_KEY_FILE"]
    try:
        t = time.perf_counter()
        election = harness.prepare(db.url, voters=voters)
        ballots = harness.make_ballots(election, jobs=2)
        setup_s = time.perf_counter() - t
        jobs = [(election.voters[i].headers["cookie"], text) for i, text in ballots]
        warm, jobs = jobs[:workers * 4], jobs[workers * 4:]
        path = f"/api/v1/estates/{election.slug}/rounds/{election.round_id}/ballots"
        with harness.Server(db.url, workers=workers, env=env) as server:
            for cookie, text in warm:  # every worker reads its round and registry once, not timed
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
                conn.request("POST", path, body=text.encode(), headers={"content-type": "application/json",
                                                                        "cookie": cookie})
                resp = conn.getresponse()
                warm_receipt = resp.read()
                if resp.status != 201:
                    raise RuntimeError(f"warm-up cast refused: {resp.status} {warm_receipt[:300]!r}")
                conn.close()
            load_before = os.getloadavg()
            cpu_before = _cpu_seconds(server.pid)
            ctx = multiprocessing.get_context("spawn")
            out = ctx.Queue()
            procs, per = [], [clients // client_procs + (1 if i < clients % client_procs else 0)
                              for i in range(client_procs)]
            share = [jobs[i::client_procs] for i in range(client_procs)]
            start_at = time.time() + 1.5
            stop_at = start_at + seconds
            for i, n in enumerate(per):
                if n:
                    p = ctx.Process(target=_client_proc, args=(server.port, path, share[i], n, start_at, stop_at, out))
                    p.start()
                    procs.append(p)
            results, client_cpu = [], 0.0
            for _ in procs:
                got, cpu_s = out.get()
                results.extend(got)
                client_cpu += cpu_s
            for p in procs:
                p.join()
            elapsed = min(stop_at, max((r[3] for r in results), default=stop_at)) - start_at
            load_after = os.getloadavg()
            cpu = _cpu_seconds(server.pid) - cpu_before
            peaks = _rss_peaks(server.pid)
        ok = [r for r in results if r[1] == 201]
        errors = [r for r in results if r[1] != 201]
        codes: dict[str, int] = {}
        for _, status, body, _ in errors:
            try:
                code = json.loads(body)["detail"]["code"]
            except (ValueError, KeyError, TypeError):
                code = body[:80] if isinstance(body, str) else str(body)
            codes[f"{status} {code}"] = codes.get(f"{status} {code}", 0) + 1
        receipts = [json.loads(r[2]) for r in ok]
        if latencies:  # one line per cast: when it was answered (s after the start), latency (ms), status
            Path(latencies).write_text("".join(f"{r[3] - start_at:.4f},{r[0] * 1000:.2f},{r[1]}\n"
                                               for r in sorted(results, key=lambda r: r[3])))
        lat = sorted(r[0] * 1000 for r in results)
        ok_lat = sorted(r[0] * 1000 for r in ok)
        checked = check_ledger(db.url, election.slug, receipts)
        exhausted = len(results) >= len(jobs)
        out = {
            "db": kind, "clients": clients, "workers": workers, "client_procs": client_procs,
            "seconds": round(elapsed, 2), "voters": voters, "warmup": len(warm), "casts": len(ok),
            "casts_per_s": round(len(ok) / elapsed, 1) if elapsed > 0 else 0.0,
            "p50_ms": _pct(ok_lat, 50), "p90_ms": _pct(ok_lat, 90), "p99_ms": _pct(ok_lat, 99),
            "max_ms": round(lat[-1], 2) if lat else 0.0, "mean_ms": round(statistics.fmean(ok_lat), 2) if ok_lat else 0.0,
            "errors": len(errors), "error_codes": codes, **checked,
            "ballots_exhausted": exhausted,
            "server_rss_peak_mb": round(sum(peaks.values()) / 1024, 1), "server_processes": len(peaks),
            "server_rss_peak_mb_each": sorted(round(v / 1024, 1) for v in peaks.values()),
            "server_cpu_ms_per_cast": round(cpu * 1000 / len(results), 2) if results else None,
            "client_cpu_ms_per_cast": round(client_cpu * 1000 / len(results), 2) if results else None,
            "setup_s": round(setup_s, 1), "cores": os.cpu_count(),
            "load_before": [round(x, 2) for x in load_before], "load_after": [round(x, 2) for x in load_after],
        }
        return out
    finally:
        if not keep:
            db.drop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2, help="uvicorn worker processes (default 2)")
    ap.add_argument("--voters", type=int, default=None, help="voters, one pre-made ballot each "
                                                            "(default: enough for 500 casts/s)")
    ap.add_argument("--latencies", metavar="FILE", help="write each cast's answer time (s), latency (ms) and "
                                                         "status as CSV lines, in answer order")
    ap.add_argument("--client-procs", type=int, default=2, help="client processes (threads spread over them)")
    ap.add_argument("--pg-url", default=None, help="PostgreSQL server URL (a database is created and dropped)")
    ap.add_argument("--db-url", default=None, help="an empty database to use instead (not dropped; --db is "
                                                   "taken from it)")
    ap.add_argument("--keep", action="store_true", help="keep the database")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    result = run(args.db, seconds=args.seconds, clients=args.clients, workers=args.workers, voters=args.voters,
                 client_procs=args.client_procs, pg_url=args.pg_url, keep=args.keep, db_url=args.db_url,
                 latencies=args.latencies)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print(f"{result['db']}: {result['casts_per_s']} casts/s over {result['seconds']} s, {result['clients']} "
              f"clients, {result['workers']} workers: p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, "
              f"errors {result['errors']}, lost {result['lost']}, server RSS peak {result['server_rss_peak_mb']} MB")
    return 0 if result["errors"] == 0 and result["lost"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
