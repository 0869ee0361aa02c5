"""Full-audit benchmark (issue #9 "Speed"; target in /work/shared/DESIGN.md: a 10,000-voter
secret round audited in ≤ 10 s on 2 cores).

For each size N: ``gongjue simulate --voters N --fast`` on a fresh SQLite database (kept with
``--keep DIR``), then ``gongjue verify BUNDLE --json --jobs J`` in its own process, timed: the
wall time and the CPU time of the verifier and all its workers, with the load average before and
after.  The machine may be shared: the wall time then depends on what else runs, the CPU time
much less — both are printed, and ``cpu / jobs`` is the wall time the same work would take on
``jobs`` idle cores with perfect overlap.

    .venv/bin/python benchmarks/audit_bench.py [--sizes 1000,4000,10000] [--open] [--items motion,motion]
                                               [--jobs 2] [--repeat R] [--keep DIR [--reuse]]
                                               [--code TREE] [--http] [--json]

``--keep DIR --reuse``: verify the bundles a previous run kept in DIR (``DIR/sim-N``) instead of
simulating again.  ``--code TREE``: run ``gongjue verify`` from another source tree (e.g. an
older commit unpacked with ``git archive``) on the same bundles, for before/after figures.
``--http``: simulate through the HTTP sign-in and ballot API (slow: about a cast a second under
load) instead of ``--fast`` (ballots made on every core, cast in-process through
``voting.cast.cast``; the record is the same kind).  ``--repeat R``: verify R times, report each
run and the fastest.

Bytecode is cached under DIR/pycache (or a temporary one) and warmed before timing, as an
installed package has its .pyc files: the figures are not the cost of compiling the sources.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


def _cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def gongjue(args: list[str], env: dict, code: Path = ROOT) -> tuple[subprocess.CompletedProcess, float, float]:
    """Run ``python -m web.cli ARGS`` from source tree ``code``; (result, wall s, CPU s of it and its children)."""
    cpu0, t0 = _cpu_children(), time.perf_counter()
    done = subprocess.run([PYTHON, "-m", "web.cli", *args], cwd=code, env=env, capture_output=True, text=True)
    return done, time.perf_counter() - t0, _cpu_children() - cpu0


def verify_once(out: Path, env: dict, jobs: int, code: Path) -> dict:
    """One timed ``gongjue verify --json``; exits if the bundle does not verify."""
    load_before = os.getloadavg()[0]
    done, wall, cpu = gongjue(["verify", str(out), "--json", "--jobs", str(jobs)], env, code)
    try:
        report = json.loads(done.stdout)
    except ValueError:
        raise SystemExit(f"verify {out} crashed:\n{done.stderr[-2000:]}") from None
    if done.returncode != 0 or not report["ok"]:
        raise SystemExit(f"verify {out} failed: {json.dumps(report['first'], ensure_ascii=False)}")
    return {"wall_s": wall, "cpu_s": cpu, "load_before": load_before, "load_after": os.getloadavg()[0],
            "report": report}


def one(n: int, work: Path, args) -> dict:  # noqa: ANN001
    env = dict(os.environ, GONGJUE_DATABASE_URL=f"sqlite:///{work / f'sim-{n}.db'}", PYTHONWARNINGS="ignore",
               PYTHONPYCACHEPREFIX=str(work / "pycache"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("GONGJUE_SMS_GATEWAY", None)
    out = work / f"sim-{n}"
    secrecy = "--open" if args.open else "--secret"
    if args.reuse and (out / "entries.jsonl").exists():
        sim_s = 0.0
    else:
        done, sim_s, _ = gongjue(["simulate", "--voters", str(n), secrecy, "--items", args.items, "--seed", str(n),
                                  "--estate", f"bench-{n}", "--out", str(out), "--quiet",
                                  *(() if args.http else ("--fast",))], env)
        if done.returncode != 0:
            raise SystemExit(f"simulate {n} failed:\n{done.stderr[-2000:]}")
    code = args.code or ROOT
    gongjue(["--help"], env, code)  # warm the bytecode cache
    runs = [verify_once(out, env, args.jobs, code) for _ in range(max(1, args.repeat))]
    best = min(runs, key=lambda r: r["wall_s"])
    report = best["report"]
    counts = {row["check"]: row["count"] for row in report["checks"]}
    return {"voters": n, "secrecy": secrecy[2:], "items": args.items, "jobs": args.jobs, "code": str(code),
            "simulate_s": sim_s, "verify_s": best["wall_s"], "verify_cpu_s": best["cpu_s"],
            "cpu_per_job_s": best["cpu_s"] / args.jobs, "load_before": best["load_before"],
            "load_after": best["load_after"], "runs": [{k: v for k, v in r.items() if k != "report"} for r in runs],
            "entries": report["entries"], "ballots": counts["ballots verified"],
            "verify_ms_per_ballot": best["wall_s"] / n * 1000, "cpu_ms_per_ballot": best["cpu_s"] / n * 1000,
            "bundle_mb": sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 1e6, "counts": counts,
            "target_10k_met": n >= 10000 and best["wall_s"] <= 10.0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,4000,10000", help="voter counts, comma-separated")
    parser.add_argument("--open", action="store_true", help="open rounds instead of secret ones")
    parser.add_argument("--items", default="motion,motion")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeat", type=int, default=1, metavar="R", help="verify R times, keep the fastest")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="keep databases and bundles in DIR")
    parser.add_argument("--reuse", action="store_true", help="with --keep: verify the bundles already in DIR")
    parser.add_argument("--code", type=Path, metavar="TREE", help="run gongjue verify from this source tree")
    parser.add_argument("--http", action="store_true", help="simulate over the HTTP API (slow) instead of --fast")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.reuse and not args.keep:
        parser.error("--reuse needs --keep DIR")
    sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    rows = []
    with tempfile.TemporaryDirectory(prefix="gongjue-audit-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for n in sizes:
            rows.append(one(n, work, args))
            if not args.json:
                r = rows[-1]
                print(f"{n:>7,} voters ({r['secrecy']}, {r['items']}): simulate {r['simulate_s']:7.1f} s; "
                      f"gongjue verify --jobs {r['jobs']}: {r['verify_s']:6.2f} s wall, {r['verify_cpu_s']:6.2f} s CPU "
                      f"(CPU/{r['jobs']} = {r['cpu_per_job_s']:.2f} s; {r['cpu_ms_per_ballot']:.2f} ms CPU/ballot; "
                      f"{r['entries']:,} entries, {r['bundle_mb']:.1f} MB; load {r['load_before']:.1f} → "
                      f"{r['load_after']:.1f})", flush=True)
    for a, b in zip(rows, rows[1:]):
        a_ = b["voters"] / a["voters"]
        b["scaling_from_previous"] = {"voters": a_, "wall": b["verify_s"] / a["verify_s"],
                                      "cpu": b["verify_cpu_s"] / a["verify_cpu_s"]}
        if not args.json:
            print(f"{a['voters']:,} → {b['voters']:,} voters (×{a_:.1f}): verify ×{b['verify_s'] / a['verify_s']:.1f} "
                  f"wall, ×{b['verify_cpu_s'] / a['verify_cpu_s']:.1f} CPU")
    if not args.json:
        for r in rows:
            if r["voters"] >= 10000:
                print(f"target (10,000 voters ≤ 10 s wall on 2 cores): {'met' if r['target_10k_met'] else 'NOT met'} "
                      f"— {r['verify_s']:.2f} s wall, CPU/{r['jobs']} = {r['cpu_per_job_s']:.2f} s")
    if args.json:
        print(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
