"""Full-audit benchmark (issue #9 "Speed"; target in /work/shared/DESIGN.md: a 10,000-voter
secret round audited in ≤ 10 s on 2 cores).

For each size N: ``gongjue simulate --voters N`` on a fresh SQLite database in a temporary
directory (or keep it with ``--keep DIR``), then ``gongjue verify BUNDLE --json --jobs J`` in its
own process, timed (wall, and the CPU time of the verifier and its workers).  Prints, per size,
the simulation time, the audit time, the time per ballot and how it scales from the previous size.

    .venv/bin/python benchmarks/audit_bench.py [--sizes 1000,10000] [--open] [--items motion,motion]
                                               [--jobs 2] [--keep DIR [--reuse]] [--json]

``--keep DIR --reuse``: verify the bundles a previous run kept in DIR (``DIR/sim-N``) instead of
simulating again (simulating 10,000 voters takes tens of minutes on a shared machine).

The machine may be shared: the load average is printed beside the figures.
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


def gongjue(args: list[str], env: dict) -> tuple[subprocess.CompletedProcess, float, float]:
    """Run ``python -m web.cli ARGS``; (result, wall seconds, CPU seconds of it and its children)."""
    cpu0, t0 = _cpu_children(), time.perf_counter()
    done = subprocess.run([PYTHON, "-m", "web.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    return done, time.perf_counter() - t0, _cpu_children() - cpu0


def one(n: int, work: Path, args) -> dict:  # noqa: ANN001
    env = dict(os.environ, GONGJUE_DATABASE_URL=f"sqlite:///{work / f'sim-{n}.db'}", PYTHONWARNINGS="ignore")
    env.pop("GONGJUE_SMS_GATEWAY", None)
    out = work / f"sim-{n}"
    secrecy = "--open" if args.open else "--secret"
    if args.reuse and (out / "entries.jsonl").exists():
        sim_s = 0.0
    else:
        done, sim_s, _ = gongjue(["simulate", "--voters", str(n), secrecy, "--items", args.items, "--seed", str(n),
                                  "--estate", f"bench-{n}", "--out", str(out), "--quiet"], env)
        if done.returncode != 0:
            raise SystemExit(f"simulate {n} failed:\n{done.stderr[-2000:]}")
    load = os.getloadavg()[0]
    done, verify_s, verify_cpu = gongjue(["verify", str(out), "--json", "--jobs", str(args.jobs)], env)
    report = json.loads(done.stdout)
    if done.returncode != 0 or not report["ok"]:
        raise SystemExit(f"verify {n} failed: {json.dumps(report['first'], ensure_ascii=False)}")
    counts = {row["check"]: row["count"] for row in report["checks"]}
    return {"voters": n, "secrecy": secrecy[2:], "items": args.items, "jobs": args.jobs, "simulate_s": sim_s,
            "verify_s": verify_s, "verify_cpu_s": verify_cpu, "entries": report["entries"],
            "ballots": counts["ballots verified"], "verify_ms_per_ballot": verify_s / n * 1000,
            "bundle_mb": sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 1e6,
            "load_average_1min": load, "counts": counts}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000", help="voter counts, comma-separated")
    parser.add_argument("--open", action="store_true", help="open rounds instead of secret ones")
    parser.add_argument("--items", default="motion,motion")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--keep", type=Path, metavar="DIR", help="keep databases and bundles in DIR")
    parser.add_argument("--reuse", action="store_true", help="with --keep: verify the bundles already in DIR")
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
                      f"({r['verify_ms_per_ballot']:.2f} ms/ballot, {r['entries']:,} entries, "
                      f"{r['bundle_mb']:.1f} MB; load {r['load_average_1min']:.1f})", flush=True)
    for a, b in zip(rows, rows[1:]):
        a_ = b["voters"] / a["voters"]
        line = (f"{a['voters']:,} → {b['voters']:,} voters (×{a_:.0f}): verify ×{b['verify_s'] / a['verify_s']:.1f} "
                f"wall, ×{b['verify_cpu_s'] / a['verify_cpu_s']:.1f} CPU")
        b["scaling_from_previous"] = {"voters": a_, "wall": b["verify_s"] / a["verify_s"],
                                      "cpu": b["verify_cpu_s"] / a["verify_cpu_s"]}
        if not args.json:
            print(line)
    if args.json:
        print(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
