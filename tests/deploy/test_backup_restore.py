"""Backup and restore (docs/DEPLOY.md): a database with a ledger whose checkpoints were handed out
in receipts is backed up while the app has it open — PostgreSQL with ``pg_dump``/``pg_restore``,
SQLite with the online backup API and ``sqlite3 .backup`` — and restored into a fresh database;
the app goes on casting there, and the bundle exported from the restored database verifies against
every checkpoint handed out before the backup.  A backup older than a checkpoint already handed out
cannot be resumed silently: the next append forks the log and ``gongjue verify`` with that kept
checkpoint fails (why DEPLOY.md asks for point-in-time recovery up to the last commit)."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ledger.db import make_engine, migrate
from tests.deploy.pg import fresh_database

T0 = datetime.now(UTC) - timedelta(hours=2)


def run(cmd: list) -> subprocess.CompletedProcess:
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, f"{cmd}: {done.stdout}\n{done.stderr}"
    return done


def cast(engine, est, owner: str, choice=None) -> dict:
    """One ballot over the API (TestClient on a fresh app over ``engine``); the receipt."""
    from fastapi.testclient import TestClient

    from ledger.receipt import verify_receipt
    from tests.web.test_api_ballots import _vkey, owner_cookie, post
    from web.app import create_app

    with TestClient(create_app(engine), follow_redirects=False) as client:
        r = post(client, owner_cookie(engine, est, owner), est.text(owner, choice))
    assert r.status_code == 201, r.text
    verify_receipt(r.json(), _vkey(engine))
    return r.json()


def keep(receipt: dict, folder: Path, name: str) -> Path:
    """What an owner (or a witness) keeps: the signed checkpoint of a receipt."""
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.checkpoint"
    path.write_text(receipt["checkpoint"], encoding="utf-8")
    return path


def verify(bundle: Path, kept: list[Path]) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "web.cli", "verify", str(bundle), "--json", "--no-progress"]
    for path in kept:
        cmd += ["--checkpoint", str(path)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)


def ledger_with_receipts(engine, tmp_path: Path):
    """An estate, its roll, authority and credentials, an announced secret round and two ballots
    cast over the API; returns the estate and the checkpoints handed out."""
    from tests.voting import cast_estate as ce

    est = ce.make(engine, t0=T0)
    kept = [keep(cast(engine, est, "A-01"), tmp_path / "kept", "a"),
            keep(cast(engine, est, "B-02", [0, 1, 0]), tmp_path / "kept", "b")]
    return est, kept


def resume_and_check(restored, est, kept: list[Path], tmp_path: Path) -> None:
    """The restored database: the app casts on it and its bundle verifies against ``kept``."""
    migrate(restored)  # at every head already
    est = dataclasses.replace(est, engine=restored)
    receipt = cast(restored, est, "D-04", [0, 0, 1])
    est.export(tmp_path / "bundle")
    done = verify(tmp_path / "bundle", kept + [keep(receipt, tmp_path / "kept", "d")])
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is True
    assert est.size() == receipt["seq"] + 1  # nothing lost, nothing added but the new cast
    assert sum(1 for e in est.entries() if e.type == "ballot") == 3


@pytest.mark.postgres
def test_pg_dump_restored_into_a_fresh_database_verifies_against_earlier_checkpoints(tmp_path):
    with fresh_database() as src, fresh_database() as dst:
        engine = make_engine(src.admin_url)
        migrate(engine)
        est, kept = ledger_with_receipts(engine, tmp_path)
        dump = tmp_path / "gongjue.dump"
        run(["pg_dump", "--format=custom", "--file", dump, "--dbname", src.admin_url])  # while the app is connected
        engine.dispose()
        run(["pg_restore", "--exit-on-error", "--no-owner", "--dbname", dst.admin_url, dump])
        restored = make_engine(dst.admin_url)
        try:
            resume_and_check(restored, est, kept, tmp_path)
        finally:
            restored.dispose()


def test_sqlite_online_backup_restored_verifies_against_earlier_checkpoints(tmp_path):
    live = tmp_path / "live" / "gongjue.db"
    engine = make_engine(f"sqlite:///{live}")
    migrate(engine)
    est, kept = ledger_with_receipts(engine, tmp_path)
    with engine.connect():  # the app holds the WAL database open during the backup
        copies = []
        backup = tmp_path / "backup-api.db"
        source, target = sqlite3.connect(live), sqlite3.connect(backup)
        with target:
            source.backup(target)
        source.close()
        target.close()
        copies.append(backup)
        if shutil.which("sqlite3"):
            run(["sqlite3", live, f".backup '{tmp_path / 'backup-cli.db'}'"])
            copies.append(tmp_path / "backup-cli.db")
    engine.dispose()
    for i, copy in enumerate(copies):
        restored_path = tmp_path / f"restored-{i}" / "gongjue.db"
        restored_path.parent.mkdir()
        shutil.copy(copy, restored_path)
        restored = make_engine(f"sqlite:///{restored_path}")
        try:
            resume_and_check(restored, est, kept, tmp_path / f"r{i}")
        finally:
            restored.dispose()


def test_a_backup_older_than_a_handed_out_checkpoint_forks_and_verify_says_so(tmp_path):
    live = tmp_path / "gongjue.db"
    engine = make_engine(f"sqlite:///{live}")
    migrate(engine)
    est, kept = ledger_with_receipts(engine, tmp_path)
    stale = tmp_path / "stale.db"
    source, target = sqlite3.connect(live), sqlite3.connect(stale)
    with target:
        source.backup(target)
    source.close()
    target.close()
    receipt = cast(engine, est, "D-04")
    later, later_seq = keep(receipt, tmp_path / "kept", "later"), receipt["seq"]  # handed out after the backup
    engine.dispose()
    restored = make_engine(f"sqlite:///{stale}")
    try:
        other = dataclasses.replace(est, engine=restored)
        cast(restored, other, "E-05")  # a different entry at the same position
        other.export(tmp_path / "bundle")
    finally:
        restored.dispose()
    assert verify(tmp_path / "bundle", kept).returncode == 0  # consistent with what came before the backup
    done = verify(tmp_path / "bundle", kept + [later])
    assert done.returncode == 1, done.stdout
    report = json.loads(done.stdout)
    assert report["ok"] is False
    assert report["first"]["check"] == "consistency" and report["first"]["seq"] == later_seq
    assert any(p["message"].startswith("fork: the log key signed two different trees") for p in report["problems"])
