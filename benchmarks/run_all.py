"""Every benchmark, one command: runs each script of benchmarks/ in its own process at three sizes
and prints one summary table (issue #11 part 7; the figures go to docs/PERFORMANCE.md).

    .venv/bin/python benchmarks/run_all.py [--quick] [--only cast,audit,ledger,...] [--db sqlite,postgresql]
                                           [--json] [--keep DIR]

What runs (``--quick`` uses the smaller sizes of each row; a full run takes about an hour):

| suite   | script                     | sizes (full)                 | sizes (--quick)       |
|---------|----------------------------|------------------------------|-----------------------|
| cast    | cast_bench.py, per --db    | 8, 32, 64 clients, 20 s each | 4, 16, 32 clients, 5 s|
| audit   | audit_bench.py (secret)    | 1,000 / 4,000 / 10,000 voters, 2 items; 1,000 voters with 1 and 4 items | 100 / 300 / 1,000 voters; 300 voters with 1 and 4 items |
| ledger  | ledger_bench.py            | 10^4 / 10^5 / 10^6 entries   | 10^3 / 10^4 / 10^5    |
| crypto  | crypto_bench.py            | one size (one 3-option item) | same, --quick         |
| tally   | tally.py                   | 1,000 / 10,000 / 50,000 parts| same                  |
| import  | import_bench.py            | 5,000 / 20,000 / 50,000 parts| 1,000 / 5,000 / 10,000|

PostgreSQL: the cast suite runs against ``GONGJUE_BENCH_POSTGRES_URL`` (a server whose user may
create databases), else against a throwaway server started with scripts/pg.sh.  A suite that
fails is reported in the table with its error and does not stop the others.  The machine may be
shared: the load average before and after each row is printed beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
PY = sys.executable


@dataclass
class Row:
    """One line of the summary table: a suite at one size, its headline figures."""

    suite: str
    size: str
    figures: dict = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0
    load: tuple[float, float] = (0.0, 0.0)


def _load() -> float:
    return os.getloadavg()[0]


def _run(args: list[str], env: dict | None = None, timeout: float = 3600) -> str:
    """stdout of ``python <args>``; raises RuntimeError with the tail of stderr when it fails."""
    done = subprocess.run([PY, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"exit {done.returncode}: {' | '.join(tail)}")
    return done.stdout


def _json(out: str):  # noqa: ANN202
    """The last JSON value printed (scripts may print progress before it)."""
    start = min((i for i in (out.find("{"), out.find("[")) if i >= 0), default=-1)
    if start < 0:
        raise RuntimeError("no JSON in the output")
    return json.loads(out[start:])


def _measure(suite: str, size: str, fn: Callable[[], dict]) -> Row:
    row = Row(suite, size)
    before, t0 = _load(), time.perf_counter()
    try:
        row.figures = fn()
    except (RuntimeError, subprocess.TimeoutExpired, ValueError, KeyError) as e:
        row.error = str(e)[:300]
    row.seconds, row.load = time.perf_counter() - t0, (before, _load())
    return row


# --- suites ---------------------------------------------------------------------------------------


def cast_suite(quick: bool, dbs: list[str], pg_url: str | None) -> list[Row]:
    clients, seconds = ((4, 16, 32), 5) if quick else ((8, 32, 64), 20)
    rows = []
    for db in dbs:
        env = {"GONGJUE_BENCH_POSTGRES_URL": pg_url} if db == "postgresql" and pg_url else {}
        for c in clients:
            def one(c=c, db=db, env=env) -> dict:  # noqa: ANN001
                r = _json(_run([str(BENCH / "cast_bench.py"), "--db", db, "--clients", str(c),
                                "--seconds", str(seconds), "--json"], env))
                keys = ("casts_per_s", "p50_ms", "p99_ms", "errors", "memory_peak_mb")
                return {k: r[k] for k in keys if k in r}
            rows.append(_measure("cast", f"{db}, {c} clients", one))
    return rows


def audit_suite(quick: bool, keep: Path | None) -> list[Row]:
    sizes = (100, 300, 1000) if quick else (1000, 4000, 10000)
    by_items = 300 if quick else 1000
    plan = [(n, "motion,motion") for n in sizes] + [(by_items, "motion"), (by_items, "motion,motion,motion,motion")]
    rows = []
    for n, items in plan:
        def one(n=n, items=items) -> dict:  # noqa: ANN001
            args = [str(BENCH / "audit_bench.py"), "--sizes", str(n), "--items", items, "--json"]
            if keep is not None:
                sub = keep / f"audit-{items.count(',') + 1}-items"
                args += ["--keep", str(sub)] + (["--reuse"] if (sub / f"sim-{n}").exists() else [])
            r = _json(_run(args))[0]
            return {"verify_s": round(r["verify_s"], 2), "verify_cpu_s": round(r["verify_cpu_s"], 2),
                    "ms_per_ballot": round(r["verify_ms_per_ballot"], 3), "entries": r["entries"]}
        rows.append(_measure("audit", f"{n:,} voters, {items.count(',') + 1} item(s)", one))
    return rows


def ledger_suite(quick: bool) -> list[Row]:
    sizes = (10**3, 10**4, 10**5) if quick else (10**4, 10**5, 10**6)
    rows = []
    for n in sizes:
        def one(n=n) -> dict:  # noqa: ANN001
            r = _json(_run([str(BENCH / "ledger_bench.py"), "--entries", str(n), "--appends", "500", "--json"]))
            return {"proof_ms_p50": r["inclusion_proof_ms_median"], "proof_ms_p99": r["inclusion_proof_ms_p99"],
                    "receipt_ms_p50": r["receipt_ms_median"],
                    "appends_per_s": r["sqlite"]["appends_per_s_one_per_tx"],
                    "verify_entries_per_s": r["verify_full_parallel_entries_per_s"]}
        rows.append(_measure("ledger", f"{n:,} entries", one))
    return rows


def crypto_suite(quick: bool) -> list[Row]:
    def one() -> dict:
        r = _json(_run([str(BENCH / "crypto_bench.py"), "--json"] + (["--quick"] if quick else [])))
        return {k: round(r[k], 3) for k in ("ballot_encrypt_ms", "ballot_verify_ms", "audit_ballots_per_s") if k in r}
    return [_measure("crypto", "1 item, 3 options", one)]


def tally_suite(quick: bool) -> list[Row]:
    rows = []
    for n in (1000, 10000, 50000):
        def one(n=n) -> dict:  # noqa: ANN001
            out = _run([str(BENCH / "tally.py"), str(n)])
            found = re.search(r"^total:\s+([\d.]+) ms", out, re.M)
            if found is None:
                raise RuntimeError("no 'total:' line in tally.py's output")
            return {"total_ms": float(found.group(1))}
        rows.append(_measure("tally", f"{n:,} parts", one))
    return rows


def import_suite(quick: bool) -> list[Row]:
    sizes = (1000, 5000, 10000) if quick else (5000, 20000, 50000)
    rows = []
    for n in sizes:
        def one(n=n) -> dict:  # noqa: ANN001
            r = _json(_run([str(BENCH / "import_bench.py"), "--parts", str(n), "--buildings", str(max(1, n // 200)),
                            "--json"]))
            flat = {k: v for k, v in r.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
            return dict(list(flat.items())[:5])
        rows.append(_measure("import", f"{n:,} parts", one))
    return rows


SUITES = ("cast", "audit", "ledger", "crypto", "tally", "import")


# --- PostgreSQL and the table ---------------------------------------------------------------------


def _postgres() -> str | None:
    url = os.environ.get("GONGJUE_BENCH_POSTGRES_URL")
    if url:
        return url
    done = subprocess.run(["bash", str(ROOT / "scripts" / "pg.sh")], capture_output=True, text=True)
    return done.stdout.strip() or None if done.returncode == 0 else None


def machine() -> dict:
    """What the figures were measured on."""
    model = ""
    try:
        model = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                      if ln.startswith("model name")), "")
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu": model, "python": platform.python_version(),
            "system": f"{platform.system()} {platform.release()}", "load_average": round(_load(), 2),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def table(rows: list[Row]) -> str:
    """The summary as a Markdown table (also readable in a terminal)."""
    lines = ["| suite | size | figures | time | load before → after |", "|---|---|---|---|---|"]
    for r in rows:
        figures = f"FAILED: {r.error}" if r.error else ", ".join(f"{k} {v}" for k, v in r.figures.items())
        lines.append(f"| {r.suite} | {r.size} | {figures} | {r.seconds:.0f} s | {r.load[0]:.1f} → {r.load[1]:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the smaller sizes (minutes, not an hour)")
    ap.add_argument("--only", default=",".join(SUITES), help=f"suites, comma-separated: {','.join(SUITES)}")
    ap.add_argument("--db", default="sqlite,postgresql", help="databases for the cast suite")
    ap.add_argument("--keep", type=Path, metavar="DIR", help="keep (and reuse) the audit bundles in DIR")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = ap.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(only) - set(SUITES))
    if unknown:
        ap.error(f"unknown suite(s): {', '.join(unknown)} (known: {', '.join(SUITES)})")
    dbs = [d.strip() for d in args.db.split(",") if d.strip()]
    pg_url = _postgres() if "cast" in only and "postgresql" in dbs else None
    if "postgresql" in dbs and "cast" in only and pg_url is None:
        print("no PostgreSQL (scripts/pg.sh failed): the cast suite runs on SQLite only", file=sys.stderr)
        dbs = [d for d in dbs if d != "postgresql"]
    info, rows = machine(), []
    runners = {"cast": lambda: cast_suite(args.quick, dbs, pg_url), "audit": lambda: audit_suite(args.quick, args.keep),
               "ledger": lambda: ledger_suite(args.quick), "crypto": lambda: crypto_suite(args.quick),
               "tally": lambda: tally_suite(args.quick), "import": lambda: import_suite(args.quick)}
    for suite in only:
        for row in runners[suite]():
            rows.append(row)
            if not args.json:
                print(table([row]).splitlines()[-1], flush=True)
    if args.json:
        print(json.dumps({"machine": info, "rows": [r.__dict__ for r in rows]}, indent=2, ensure_ascii=False))
    else:
        print(f"\nmachine: {info['cpus']} × {info['cpu'] or 'unknown CPU'}, Python {info['python']}, "
              f"{info['system']}, {info['date']}\n")
        print(table(rows))
    return 1 if any(r.error for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
