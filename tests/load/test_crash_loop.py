"""Crash safety, run small (issue #11 part 2): ``benchmarks/crash_loop.py --kills 3`` on each
database — the server (supervisor and workers, never PostgreSQL) SIGKILLed three times at random
moments while owners cast.  Nothing acknowledged is lost: every returned receipt's ballot is in the
exported bundle at its seq, the bundle passes ``gongjue verify`` (with checkpoints handed out
before the kills), every checkpoint handed out is consistent with the final one, the self-check
finds nothing after each kill, and each ballot written but not acknowledged (the kill came between
the commit and the answer) is accounted for by the owner's re-send being refused as already cast.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_crash_loop_loses_nothing_acknowledged(db_url, tmp_path):
    out = tmp_path / "crash"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "crash_loop.py"), "--kills", "3",
                           "--db-url", db_url, "--voters", "200", "--rate", "25", "--clients", "4", "--jobs", "1", "--seed", "7",
                           "--out", str(out), "--json"], cwd=ROOT, capture_output=True, text=True, timeout=900,
                          check=False)
    assert done.stdout.strip(), done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["kills"] == 3
    assert result["db"] == ("sqlite" if db_url.startswith("sqlite") else "postgresql")
    assert result["lost"] == 0, result["lost_detail"]
    assert result["found"] == result["acknowledged"] > 0
    assert result["verify"] is True, result["verify_tail"]
    assert result["inconsistent"] == [] and result["checkpoints"] > 0
    assert result["selfcheck_problems"] == []
    assert result["accounted"] is True
    assert result["ballot_entries"] == result["acknowledged"] + result["written_unacknowledged"]
    assert result["refused"] == {}, result["refused"]  # nothing but kills went wrong
    assert result["queue_exhausted"] is False and result["connection_errors"] >= 3  # each kill cut requests
    assert Path(result["bundle"]) == out / "bundle" and (out / "bundle" / "entries.jsonl").is_file()
    assert done.returncode == 0, done.stderr[-3000:]
