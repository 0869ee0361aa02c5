"""Roll import benchmark (issue #8.1): import time and peak memory of a large roll, and the
latency of public pages while it runs.

What it does, on a fresh SQLite file (or the PostgreSQL server named by --postgres):

1. writes a roll CSV of ``--parts`` parts (default 50,000): ``--buildings`` buildings (default
   250) × 4 stairwells, every owner one flat except every 10th owner, who holds two;
2. imports a small estate ``bench-small`` and starts ``gongjue serve`` in another process;
3. runs ``gongjue import-roll`` for ``bench-big`` in a third process, timing it and reading its
   peak resident memory (``ru_maxrss`` of the child);
4. meanwhile, from ``--readers`` threads of this process, GETs ``/estates/bench-small`` and
   ``/estates/bench-small/audit/checkpoint`` in turn and reports p50 / p99 / max latency and
   the number of non-200 answers, during the import and (as a baseline) before it.

Prints figures; no thresholds (DESIGN.md targets: public p99 ≤ 1 s during the largest import).
Run: .venv/bin/python benchmarks/import_bench.py [--parts 50000] [--json]
Set PYTHONPATH to measure another checkout (the subprocesses import ``web.cli`` from it).

Measured 2026-11-29 on the 2-core development machine, shared with 6 other sessions (so only
the orders of magnitude mean anything), defaults (50,000 parts, 250 buildings × 4 units):

| SQLite | import | peak memory | public p50 / p99 during import | failed GETs |
|---|---|---|---|---|
| before (0907420: quadratic totals inside the write transaction) | 707 s | 237 MiB | 11 ms / 31.9 s | 176 of 608 (88 × 500) |
| after (linear totals, hashing before one short transaction) | 22–36 s | 186–211 MiB | 23–52 ms / 112–316 ms | 0 |

PostgreSQL 15 (``--postgres``): before 1,525 s, 260 MiB, public p50/p99 26 ms / 554 ms (no failed
GET: its reads never waited for the import); after 13 s, 205 MiB, 17 ms / 63 ms.

A 230,000-row roll (4.6 MB, 500 buildings) through ``gongjue import-roll``: before 970 s,
807 MiB; after 45 s, 581 MiB, of which about 200 MB is the checkpoint signer re-parsing the new
entry (ledger.recheck).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(os.environ.get("PYTHONPATH", "").split(os.pathsep)[0] or Path(__file__).resolve().parents[1])
HEADER = "building,unit,room,area,area_source,owner,developer_held\n"


def roll_csv(parts: int, buildings: int) -> bytes:
    """A roll of ``parts`` parts spread over ``buildings`` buildings × 4 units."""
    rows = [HEADER]
    owner = 0
    for i in range(parts):
        b, rest = divmod(i, max(1, parts // buildings))
        unit = rest // max(1, parts // buildings // 4)
        if i % 10 != 1:  # every 10th owner also holds the next part
            owner += 1
        area = 6000 + (i * 37) % 9000
        rows.append(f"B{b + 1},{unit % 4 + 1},R{i},{area // 100}.{area % 100:02d},registered,P{owner:07d},no\n")
    return "".join(rows).encode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gongjue(args: list[str], env: dict, quiet: bool = False) -> subprocess.Popen:
    out = subprocess.DEVNULL if quiet else subprocess.PIPE  # the server's access log would fill a pipe
    return subprocess.Popen([sys.executable, "-m", "web.cli", *args], cwd=ROOT, env=env,
                            stdout=out, stderr=out, text=True)


class Readers:
    """Threads GETting public pages in a loop; latencies in seconds, failures counted."""

    def __init__(self, port: int, paths: list[str], threads: int):
        self.port, self.paths, self.threads = port, paths, threads
        self.latencies: list[float] = []
        self.failures: dict[str, int] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._workers: list[threading.Thread] = []

    def _run(self, offset: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        i = offset
        while not self._stop.is_set():
            path = self.paths[i % len(self.paths)]
            i += 1
            t0 = time.perf_counter()
            try:
                conn.request("GET", path)
                response = conn.getresponse()
                response.read()
                status = str(response.status)
            except (OSError, http.client.HTTPException) as exc:
                status = type(exc).__name__
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            elapsed = time.perf_counter() - t0
            with self._lock:
                self.latencies.append(elapsed)
                if status != "200":
                    self.failures[status] = self.failures.get(status, 0) + 1
            time.sleep(0.02)

    def start(self) -> None:
        self._workers = [threading.Thread(target=self._run, args=(k,), daemon=True) for k in range(self.threads)]
        for w in self._workers:
            w.start()

    def stop(self) -> dict:
        self._stop.set()
        for w in self._workers:
            w.join()
        lat = sorted(self.latencies)
        if not lat:
            return {"requests": 0}
        return {"requests": len(lat), "p50_ms": round(1000 * statistics.median(lat), 1),
                "p99_ms": round(1000 * lat[min(len(lat) - 1, int(0.99 * len(lat)))], 1),
                "max_ms": round(1000 * lat[-1], 1), "non_200": self.failures}


def wait_until_up(port: int, server: subprocess.Popen) -> None:
    for _ in range(600):
        if server.poll() is not None:
            raise SystemExit("server exited")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/estates/bench-small")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("server did not come up")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", type=int, default=50_000)
    ap.add_argument("--buildings", type=int, default=250)
    ap.add_argument("--readers", type=int, default=4)
    ap.add_argument("--postgres", help="PostgreSQL URL of an empty database (default: a SQLite file)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, PYTHONPATH=str(ROOT), GONGJUE_SITE="bench.local",
                   GONGJUE_LOG_KEY_FILE=f"{tmp}/log.key",
                   GONGJUE_DATABASE_URL=args.postgres or f"sqlite:///{tmp}/bench.db")
        big, small = Path(tmp, "big.csv"), Path(tmp, "small.csv")
        big.write_bytes(roll_csv(args.parts, args.buildings))
        csv_bytes = big.stat().st_size
        small.write_bytes(roll_csv(200, 4))
        setup = gongjue(["import-roll", "--estate", "bench-small", "--name", "Small", str(small)], env)
        if setup.wait() != 0:
            raise SystemExit(setup.communicate()[1])
        port = free_port()
        server = gongjue(["serve", "--port", str(port)], env, quiet=True)
        try:
            wait_until_up(port, server)
            paths = ["/estates/bench-small", "/estates/bench-small/audit/checkpoint"]
            idle = Readers(port, paths, args.readers)
            idle.start()
            time.sleep(5)
            baseline = idle.stop()
            readers = Readers(port, paths, args.readers)
            readers.start()
            t0 = time.perf_counter()
            before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            job = gongjue(["import-roll", "--estate", "bench-big", "--name", "Big", str(big)], env)
            out, err = job.communicate()
            seconds = time.perf_counter() - t0
            peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            during = readers.stop()
        finally:
            server.terminate()
            server.wait()
    figures = {"parts": args.parts, "buildings": args.buildings, "csv_bytes": csv_bytes,
               "database": "postgresql" if args.postgres else "sqlite", "import_exit": job.returncode,
               "import_seconds": round(seconds, 1),
               "import_peak_mib": round(peak_kib / 1024, 1) if peak_kib > before else f">= {before / 1024:.1f}",
               "public_idle": baseline, "public_during_import": during,
               "import_output": (out or err).strip().splitlines()[-1:]}
    if args.json:
        print(json.dumps(figures, ensure_ascii=False, indent=1))
        return
    for key, value in figures.items():
        print(f"{key:22} {value}")


if __name__ == "__main__":
    main()
