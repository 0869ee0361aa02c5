"""The roll in the estate's ledger, end to end as a supervisor and an auditor use it:
import-roll → export → verify, and a forged roll caught by the content check."""

import json
import os
import subprocess
import sys
from pathlib import Path

import rfc8785

ROLL = ("building,unit,room,area,owner,owner_name,developer_held\n"
        "1,1,101,88.50,A,张三,no\n1,1,102,90,A,张三,no\n2,1,101,100.05,D,开发商,yes\n")


def gongjue(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, GONGJUE_DATABASE_URL=f"sqlite:///{tmp_path / 'g.db'}",
               GONGJUE_LOG_KEY_FILE=str(tmp_path / "log.key"), GONGJUE_SITE="gongjue.local")
    return subprocess.run([sys.executable, "-m", "web.cli", *args, ], capture_output=True, text=True, env=env,
                          cwd=tmp_path)


def _import_twice_and_export(tmp_path):
    roll = tmp_path / "roll.csv"
    roll.write_text(ROLL, encoding="utf-8")
    assert gongjue(tmp_path, "import-roll", "--estate", "maple-court", "--name", "枫林苑", str(roll)).returncode == 0
    roll.write_text(ROLL.replace("90,A", "90,B"), encoding="utf-8")
    assert gongjue(tmp_path, "import-roll", "--estate", "maple-court", str(roll)).returncode == 0
    done = gongjue(tmp_path, "export", "--estate", "maple-court", "--out", str(tmp_path / "bundle"))
    assert done.returncode == 0, done.stderr
    return tmp_path / "bundle"


def test_estate_and_roll_versions_are_ledger_entries_without_names(tmp_path):
    bundle = _import_twice_and_export(tmp_path)
    lines = (bundle / "entries.jsonl").read_bytes().splitlines()
    entries = [json.loads(line) for line in lines]
    assert [(e["seq"], e["type"]) for e in entries] == [(0, "estate"), (1, "roll"), (2, "roll")]
    assert all(rfc8785.dumps(e) == line for e, line in zip(entries, lines))
    estate = entries[0]["body"]
    assert estate["slug"] == "maple-court" and estate["name"] == "枫林苑"
    assert estate["origin"] == "gongjue.local/maple-court"
    assert estate["log_key"] == (bundle / "log.vkey").read_text().strip()
    assert [e["body"]["version"] for e in entries[1:]] == [1, 2]
    assert entries[1]["body"]["totals"]["estate"] == {"heads": 2, "area": 27855}
    assert entries[2]["body"]["totals"]["estate"] == {"heads": 3, "area": 27855}
    assert "张三" not in lines[1].decode() and "开发商" not in lines[2].decode()
    for body in (entries[1]["body"], entries[2]["body"]):  # SPEC §6.2: no owner ids, no locations
        assert set(body) == {"version", "voters", "developer", "parts", "totals"}
        assert '"A"' not in json.dumps(body) and '"101"' not in json.dumps(body)
    same = {v["voter"] for v in entries[1]["body"]["voters"]} & {v["voter"] for v in entries[2]["body"]["voters"]}
    assert len(same) == 2  # A and D keep their pseudonyms in version 2; B is new
    checkpoint = (bundle / "checkpoint").read_text()
    assert checkpoint.startswith("gongjue.local/maple-court\n3\n")
    done = gongjue(tmp_path, "verify", str(bundle), "--no-progress", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["ok"] is True


def test_refused_import_adds_no_entry(tmp_path):
    bundle = _import_twice_and_export(tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_text(ROLL.replace("88.50", "88.505"), encoding="utf-8")
    assert gongjue(tmp_path, "import-roll", "--estate", "maple-court", str(bad)).returncode == 2
    again = gongjue(tmp_path, "export", "--estate", "maple-court", "--out", str(tmp_path / "again"))
    assert again.returncode == 0
    assert (tmp_path / "again" / "entries.jsonl").read_bytes() == (bundle / "entries.jsonl").read_bytes()


def test_verifier_recomputes_roll_totals(tmp_path):
    """A roll whose totals disagree with its parts is named, even when the log is re-signed."""
    from ledger import checkpoint, keys, log
    from ledger.db import make_engine, migrate, transaction
    from identity.record import roll_body
    from identity.roll import read_roll

    os.environ["GONGJUE_LOG_KEY_FILE"] = str(tmp_path / "log.key")
    engine = make_engine(f"sqlite:///{tmp_path / 'g.db'}")
    migrate(engine)
    body = roll_body(1, read_roll(ROLL.encode(), "r.csv"))
    body["totals"]["estate"]["heads"] = 3  # the developer's flats counted as extra heads
    with transaction(engine) as s:
        lg = log.create_log(s, "gongjue.local/forged")
        log.append(s, lg.id, "estate", {"slug": "forged", "name": "x", "origin": "gongjue.local/forged",
                                         "log_key": keys.log_key().vkey})
        log.append(s, lg.id, "roll", body)
        checkpoint.sign(s, lg.id, keys.log_key())
    engine.dispose()
    assert gongjue(tmp_path, "export", "--estate", "forged", "--out", str(tmp_path / "b")).returncode == 0
    done = gongjue(tmp_path, "verify", str(tmp_path / "b"), "--no-progress")
    assert done.returncode != 0
    assert "entry 1" in done.stdout
    assert "totals.estate.heads: stated 3, the voters give 2" in done.stdout
