"""benchmarks/cast_bench.py run small on both databases (issue #11 part 3): the JSON it prints has
the promised members, no cast is refused or fails, and every acknowledged ballot is in the ledger.

Speed is not asserted here (a shared CI machine): the figures live in docs/PERFORMANCE.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select

from identity import store
from ledger.db import make_engine, reading
from ledger.models import Entry

ROOT = Path(__file__).resolve().parents[2]
KEYS = {"db", "clients", "workers", "seconds", "voters", "warmup", "casts", "casts_per_s", "p50_ms", "p90_ms",
        "p99_ms", "max_ms", "errors", "error_codes", "acknowledged", "found", "lost", "receipts_bad",
        "server_rss_peak_mb", "server_processes", "server_cpu_ms_per_cast", "load_before", "load_after"}


def test_cast_bench_small(db_url):
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "cast_bench.py"), "--db-url", db_url,
                          "--seconds", "2", "--clients", "4", "--voters", "80", "--json"],
                         check=False, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:] + out.stdout[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert KEYS <= set(result), KEYS - set(result)
    assert result["db"] == ("sqlite" if db_url.startswith("sqlite") else "postgresql")
    assert (result["clients"], result["workers"], result["voters"], result["warmup"]) == (4, 2, 80, 8)
    assert result["errors"] == 0 and result["error_codes"] == {}
    assert result["casts"] > 0 and result["casts_per_s"] > 0
    assert 0 < result["p50_ms"] <= result["p90_ms"] <= result["p99_ms"] <= result["max_ms"]
    assert result["acknowledged"] == result["casts"] == result["found"]
    assert (result["lost"], result["receipts_bad"]) == (0, 0)
    assert result["server_processes"] >= 3 and result["server_rss_peak_mb"] > 0  # supervisor and two workers
    # independently of the script: the log holds exactly one ballot entry per 201 answered
    engine = make_engine(db_url)
    try:
        with reading(engine) as s:
            log_id = store.get_estate(s, "load-1").log_id
            ballots = s.scalar(select(func.count()).select_from(Entry).where(Entry.log_id == log_id,
                                                                            Entry.type == "ballot"))
    finally:
        engine.dispose()
    assert ballots == result["casts"] + result["warmup"]
