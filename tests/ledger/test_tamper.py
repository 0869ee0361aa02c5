"""Tampering with a real SQLite database file is caught by ``gongjue verify`` given earlier checkpoints.

The intruder has the database file (and, in the last case, the log key): the append-only
triggers are dropped first, as anyone with the file can.  Each case names the altered entry.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from ledger import bundle as bundles, checkpoint, log
from ledger.db import make_engine, migrate, transaction
from web.cli import main

from .helpers import fill

SLUG = "maple-court"
ORIGIN = f"gongjue.local/{SLUG}"


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A server database with an 8-entry log, a checkpoint signed after every entry, and the
    auditor's copies of checkpoints 3, 4 and 6."""
    db = tmp_path / "gongjue.db"
    monkeypatch.setenv("GONGJUE_DATABASE_URL", f"sqlite:///{db}")
    monkeypatch.setenv("GONGJUE_LOG_KEY_FILE", str(tmp_path / "log.key"))
    monkeypatch.setenv("GONGJUE_SITE", "gongjue.local")
    from ledger.keys import log_key

    engine = make_engine(f"sqlite:///{db}")
    migrate(engine)
    log_id = fill(engine, ORIGIN, 8, log_key(), sign_each=True)
    held = tmp_path / "auditor"
    held.mkdir()
    with transaction(engine) as s:
        for size in (3, 4, 6, 8):
            (held / f"cp{size}").write_text(checkpoint.at_size(s, log_id, size).note, encoding="utf-8")
    yield engine, log_id, held, tmp_path
    engine.dispose()


def _intrude(engine, *sql: tuple[str, dict]) -> None:
    with engine.begin() as conn:
        for trig in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger'").scalars().all():
            conn.exec_driver_sql(f"DROP TRIGGER {trig}")
        for statement, params in sql:
            conn.execute(text(statement), params)


def _export(tmp_path: Path, name: str) -> Path:
    out = tmp_path / name
    assert main(["export", "--estate", SLUG, "--out", str(out)]) == 0
    return out


def _dump(engine, log_id: int, tmp_path: Path, name: str) -> Path:
    """The intruder's own export of the edited rows (``gongjue export`` refuses to ship them)."""
    out = tmp_path / name
    with transaction(engine) as s:
        bundles.write_dir(s, log_id, out)
    return out


def _verify(capsys, bundle: Path, *olds: Path) -> tuple[int, dict]:
    capsys.readouterr()
    args = ["verify", str(bundle), "--json"]
    for o in olds:
        args += ["--checkpoint", str(o)]
    status = main(args)
    return status, json.loads(capsys.readouterr().out)




def test_untouched_log_verifies(site, capsys):
    engine, log_id, held, tmp = site
    bundle = _export(tmp, "b")
    status, report = _verify(capsys, bundle, held / "cp3", held / "cp8")
    assert status == 0 and report["ok"] and report["entries"] == 8 and report["size"] == 8
    assert report["checkpoints"] == [1, 2, 3, 4, 5, 6, 7, 8]


def test_one_byte_changed(site, capsys):
    engine, log_id, held, tmp = site
    with transaction(engine) as s:
        data = log.get_entry(s, log_id, 3).data
    changed = data.replace(b'"i":3', b'"i":9')
    assert len(changed) == len(data) and sum(a != b for a, b in zip(data, changed)) == 1
    _intrude(engine, ("UPDATE ledger_entries SET data = :d WHERE log_id = :l AND seq = 3", {"d": changed, "l": log_id}))
    assert main(["export", "--estate", SLUG, "--out", str(tmp / "refused")]) == 1
    assert "entry 3: its stored bytes were edited" in capsys.readouterr().err
    dumped = _dump(engine, log_id, tmp, "b")
    status, report = _verify(capsys, dumped, held / "cp4")
    assert status == 1 and not report["ok"]
    assert report["first"]["seq"] == 3 and report["first"]["check"] == "prev"
    assert report["first"]["message"].startswith("entry 3: its leaf hash")
    checks = {(p["check"], p["seq"]) for p in report["problems"]}
    assert ("consistency", 3) in checks  # checkpoint 4 pins it to entry 3 as well


def test_last_entry_deleted(site, capsys):
    engine, log_id, held, tmp = site
    _intrude(engine, ("DELETE FROM ledger_entries WHERE log_id = :l AND seq = 7", {"l": log_id}))
    assert main(["export", "--estate", SLUG, "--out", str(tmp / "refused")]) == 1  # the server will not sign it
    assert "entry 7 and later are missing: signed checkpoint 8 covers them (log truncated)" in capsys.readouterr().err
    _intrude(engine, ("DELETE FROM ledger_checkpoints WHERE log_id = :l AND size = 8", {"l": log_id}),
             ("DELETE FROM ledger_hashes WHERE log_id = :l AND idx >= 11", {"l": log_id}))
    bundle = _export(tmp, "b")
    assert _verify(capsys, bundle)[0] == 0  # self-consistent: only an earlier checkpoint reveals it
    status, report = _verify(capsys, bundle, held / "cp8")
    assert status == 1
    assert report["first"] == {"check": "consistency", "seq": 7, "message": (
        f"checkpoint {held / 'cp8'} (size 8) covers entries the bundle lacks: entry 7 and later are missing "
        "(log truncated)")}


def test_two_entries_reordered(site, capsys):
    engine, log_id, held, tmp = site
    with transaction(engine) as s:
        e2, e5 = log.get_entry(s, log_id, 2), log.get_entry(s, log_id, 5)
    _intrude(engine,
             ("UPDATE ledger_entries SET data = :d WHERE log_id = :l AND seq = 2", {"d": e5.data, "l": log_id}),
             ("UPDATE ledger_entries SET data = :d WHERE log_id = :l AND seq = 5", {"d": e2.data, "l": log_id}))
    assert main(["export", "--estate", SLUG, "--out", str(tmp / "refused")]) == 1
    assert "entry 2: its stored bytes were edited" in capsys.readouterr().err
    dumped = _dump(engine, log_id, tmp, "b")
    status, report = _verify(capsys, dumped, held / "cp6")
    assert status == 1
    assert report["first"]["seq"] == 2 and report["first"]["check"] in ("seq", "prev")
    assert any(p["message"].startswith("entry 2: line 3 holds seq 5, expected 2") for p in report["problems"])


def test_rewritten_log_resigned_with_the_same_key(site, capsys, monkeypatch):
    engine, log_id, held, tmp = site
    forged = tmp / "forged.db"  # the intruder rebuilds the whole log with entry 3 changed, same key
    monkeypatch.setenv("GONGJUE_DATABASE_URL", f"sqlite:///{forged}")
    from ledger.keys import log_key

    fake = make_engine(f"sqlite:///{forged}")
    migrate(fake)
    key = log_key()
    with transaction(engine) as s:
        originals = [e.data for e in log.entries(s, log_id)]
    with transaction(fake) as s:
        fake_id = log.create_log(s, ORIGIN).id
    for i, data in enumerate(originals):
        obj = json.loads(data)
        body = obj["body"]
        if i == 3:
            body["name"] = "条目 3（改）"
        with transaction(fake) as s:
            log.append(s, fake_id, "test", body, datetime.fromisoformat(obj["time"]))
            checkpoint.sign(s, fake_id, key)
    fake.dispose()
    bundle = _export(tmp, "forged-bundle")
    assert _verify(capsys, bundle)[0] == 0  # the forgery is self-consistent and correctly signed
    status, report = _verify(capsys, bundle, held / "cp3", held / "cp4", held / "cp6")
    assert status == 1
    first = report["first"]
    assert first["seq"] == 3 and first["check"] == "consistency"
    assert first["message"].endswith("— entry 3 differs from the entry it signed")
    assert any("fork: the log key signed two different trees of size 4" in p["message"] for p in report["problems"])
    status, report = _verify(capsys, bundle, held / "cp6")
    assert status == 1 and report["first"]["message"].endswith("an entry in seq 0…5 differs from the entries it signed")

