"""Logs on real SQLite and PostgreSQL: appends, roots, proofs, signing, refusals, concurrency."""

from __future__ import annotations

import base64
import re
import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from ledger import checkpoint, log, receipt, tree
from ledger.checkpoint import CheckpointError, open_checkpoint, parse_checkpoint
from ledger.db import transaction
from ledger.entry import EntryError
from ledger.note import parse_vkey
from ledger.proof import verify_consistency, verify_inclusion

from .helpers import T0, fill, make_key

ORIGIN = "gongjue.local/maple-court"


def test_append_fields_and_chain(engine):
    with transaction(engine) as s:
        log_id = log.create_log(s, ORIGIN).id
        e0 = log.append(s, log_id, "estate", {"slug": "maple-court"}, T0)
        e1 = log.append(s, log_id, "roll", {"version": 1, "parts": []}, datetime(2026, 11, 23, 16, 0, 1, 999, tzinfo=timezone(timedelta(hours=8))))
    assert e0.seq == 0 and e1.seq == 1
    assert e0.data == (b'{"body":{"slug":"maple-court"},"prev":"' + b"0" * 64 +
                       b'","seq":0,"time":"2026-11-23T08:00:00Z","type":"estate"}')
    assert e0.leaf_hash == tree.leaf_hash(e0.data)
    assert f'"prev":"{e0.leaf_hash.hex()}"'.encode() in e1.data
    assert b'"time":"2026-11-23T08:00:01Z"' in e1.data and e1.time == "2026-11-23T08:00:01Z"
    with transaction(engine) as s:
        stored = log.get_entry(s, log_id, 1)
        assert stored.data == e1.data and stored.type == "roll"
        assert log.size(s, log_id) == 2


def test_naive_time_and_float_refused(engine):
    with transaction(engine) as s:
        log_id = log.create_log(s, ORIGIN).id
    with pytest.raises(EntryError, match="time zone"):
        with transaction(engine) as s:
            log.append(s, log_id, "x", {}, datetime(2026, 1, 1))
    with pytest.raises(EntryError, match=r"body\.area: floating-point"):
        with transaction(engine) as s:
            log.append(s, log_id, "x", {"area": 88.5})
    with transaction(engine) as s:
        assert log.size(s, log_id) == 0


def test_create_log_refusals(engine):
    with transaction(engine) as s:
        log.create_log(s, ORIGIN)
    with pytest.raises(log.LogError, match="already exists"):
        with transaction(engine) as s:
            log.create_log(s, ORIGIN)
    with pytest.raises(log.LogError, match="must be <site>/<slug>"):
        with transaction(engine) as s:
            log.create_log(s, "gongjue.local/Bad Slug")
    with transaction(engine) as s:
        assert log.get_log(s, ORIGIN).origin == ORIGIN
        assert log.get_log(s, "gongjue.local/other") is None


def test_failed_transaction_rolls_back_entries(engine):
    with transaction(engine) as s:
        log_id = log.create_log(s, ORIGIN).id
    with pytest.raises(RuntimeError):
        with transaction(engine) as s:
            log.append(s, log_id, "roll", {"v": 1})
            raise RuntimeError("import failed")
    with transaction(engine) as s:
        assert log.size(s, log_id) == 0
        e = log.append(s, log_id, "roll", {"v": 1})
    assert e.seq == 0


def test_roots_and_proofs_match_the_tree(engine, tmp_path):
    key = make_key(tmp_path)
    log_id = fill(engine, ORIGIN, 37, key)
    with transaction(engine) as s:
        leaves = [e.leaf_hash for e in log.entries(s, log_id)]
        for n in (1, 2, 3, 16, 17, 37):
            assert log.root(s, log_id, n) == tree.root_of_leaves(leaves[:n])
        root = log.root(s, log_id, 37)
        for seq in (0, 1, 15, 16, 36):
            verify_inclusion(seq, 37, leaves[seq], log.inclusion_proof(s, log_id, seq, 37), root)
        for m in (1, 5, 16, 36, 37):
            verify_consistency(m, 37, log.root(s, log_id, m), root, log.consistency_proof(s, log_id, m, 37))
        with pytest.raises(log.LogError, match="no tree of size 38"):
            log.root(s, log_id, 38)


def test_sign_checkpoint_is_idempotent_and_kept(engine, tmp_path):
    key = make_key(tmp_path)
    log_id = fill(engine, ORIGIN, 3, key)
    with transaction(engine) as s:
        note = checkpoint.sign(s, log_id, key)
        assert checkpoint.sign(s, log_id, key) == note
        cp = open_checkpoint(note, parse_vkey(key.vkey), ORIGIN)
        assert (cp.size, cp.root) == (3, log.root(s, log_id, 3))
        assert note.startswith(f"{ORIGIN}\n3\n{base64.b64encode(cp.root).decode()}\n\n— gongjue.local ")
        log.append(s, log_id, "test", {"i": 3})
    with transaction(engine) as s:
        checkpoint.sign(s, log_id, key)
        assert [r.size for r in checkpoint.history(s, log_id)] == [3, 4]
        r = receipt.build_receipt(s, log_id, 1, 3)
        assert receipt.verify_receipt(r, key.vkey).seq == 1
        assert r["tree_size"] == 3 and parse_checkpoint(r["checkpoint"]).size == 3


def test_sign_refuses_another_key(engine, tmp_path):
    key = make_key(tmp_path)
    log_id = fill(engine, ORIGIN, 2, key)
    other = make_key(tmp_path / "other")
    with pytest.raises(CheckpointError, match=f"signed by {re.escape(key.vkey)}, not {re.escape(other.vkey)}"):
        with transaction(engine) as s:
            log.append(s, log_id, "test", {})
            checkpoint.sign(s, log_id, other)


def test_empty_log_checkpoint(engine, tmp_path):
    key = make_key(tmp_path)
    with transaction(engine) as s:
        log_id = log.create_log(s, ORIGIN).id
        note = checkpoint.sign(s, log_id, key)
    assert note.startswith(f"{ORIGIN}\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n")
    with transaction(engine) as s:
        log.append(s, log_id, "estate", {})
        assert parse_checkpoint(checkpoint.sign(s, log_id, key)).size == 1


def _refused(engine, sql: str, params: dict) -> str:
    with pytest.raises((DBAPIError, IntegrityError)) as info:
        with engine.begin() as conn:
            conn.execute(text(sql), params)
    return str(info.value.orig)


def test_database_refuses_rewrites(engine, tmp_path):
    key = make_key(tmp_path)
    log_id = fill(engine, ORIGIN, 3, key)
    p = {"l": log_id}
    assert "append-only: UPDATE refused" in _refused(engine, "UPDATE ledger_entries SET data = data WHERE log_id = :l", p)
    assert "append-only: DELETE refused" in _refused(engine, "DELETE FROM ledger_entries WHERE seq = 2 AND log_id = :l", p)
    assert "append-only" in _refused(engine, "UPDATE ledger_hashes SET hash = hash WHERE log_id = :l", p)
    assert "append-only" in _refused(engine, "DELETE FROM ledger_checkpoints WHERE log_id = :l", p)
    assert "append-only" in _refused(engine, "UPDATE ledger_logs SET origin = 'x/y' WHERE id = :l", p)
    assert "seq must be the next one" in _refused(
        engine, "INSERT INTO ledger_entries (log_id, seq, type, time, data, leaf_hash) "
                "VALUES (:l, 5, 't', 't', X'00', X'00')".replace("X'00'", ":b"), {**p, "b": b"\x00"})
    assert "size must grow" in _refused(
        engine, "INSERT INTO ledger_checkpoints (log_id, size, root, note, vkey, created_at) "
                "VALUES (:l, 2, :b, 'n', 'k', CURRENT_TIMESTAMP)", {**p, "b": b"\x00"})
    if engine.dialect.name == "sqlite":
        msg = _refused(engine, "INSERT OR REPLACE INTO ledger_entries (log_id, seq, type, time, data, leaf_hash) "
                               "VALUES (:l, 1, 't', 't', :b, :b)", {**p, "b": b"\x00"})
        assert "seq must be the next one" in msg
        msg = _refused(engine, "REPLACE INTO ledger_hashes (log_id, idx, hash) VALUES (:l, 0, :b)", {**p, "b": b"\x00"})
        assert "idx must be the next one" in msg
    else:
        msg = _refused(engine, "TRUNCATE ledger_entries CASCADE", {})
        assert "append-only: TRUNCATE refused" in msg
        msg = _refused(engine, "INSERT INTO ledger_entries (log_id, seq, type, time, data, leaf_hash) "
                               "VALUES (:l, 1, 't', 't', :b, :b) ON CONFLICT (log_id, seq) DO UPDATE SET data = :b",
                       {**p, "b": b"\x00"})
        assert "seq must be the next one" in msg
    with transaction(engine) as s:
        assert [e.seq for e in log.entries(s, log_id)] == [0, 1, 2]
        assert log.root(s, log_id, 3) == parse_checkpoint(checkpoint.latest(s, log_id).note).root


def test_sign_refuses_a_log_inconsistent_with_its_last_checkpoint(sqlite_engine, tmp_path):
    key = make_key(tmp_path)
    log_id = fill(sqlite_engine, ORIGIN, 4, key)
    with sqlite_engine.begin() as conn:  # an intruder with file access: drop the guard, rewrite a hash
        conn.exec_driver_sql("DROP TRIGGER ledger_hashes_no_update")
        conn.execute(text("UPDATE ledger_hashes SET hash = :h WHERE log_id = :l AND idx = :i"),
                     {"h": b"\x11" * 32, "l": log_id, "i": tree.stored_hash_index(2, 0)})
    with transaction(sqlite_engine) as s:
        log.append(s, log_id, "test", {"i": 4})
    with pytest.raises(CheckpointError, match="not consistent with checkpoint 4.*refusing to sign"):
        with transaction(sqlite_engine) as s:
            checkpoint.sign(s, log_id, key)
    with transaction(sqlite_engine) as s:
        assert [r.size for r in checkpoint.history(s, log_id)] == [4]


def test_concurrent_appends_are_gapless(engine):
    with transaction(engine) as s:
        log_id = log.create_log(s, ORIGIN).id
    errors = []

    def writer(w: int) -> None:
        try:
            for i in range(15):
                with transaction(engine) as s:
                    log.append(s, log_id, "test", {"writer": w, "i": i})
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with transaction(engine) as s:
        entries = log.entries(s, log_id)
        assert [e.seq for e in entries] == list(range(60))
        for a, b in zip(entries, entries[1:]):
            assert f'"prev":"{a.leaf_hash.hex()}"'.encode() in b.data
        assert log.root(s, log_id, 60) == tree.root_of_leaves([e.leaf_hash for e in entries])
    assert sorted((e.data.count(b'"writer":') for e in entries)) == [1] * 60


def _process_writer(url: str, log_id: int, w: int, count: int) -> None:
    from ledger.db import make_engine

    eng = make_engine(url)
    for i in range(count):
        with transaction(eng) as s:
            log.append(s, log_id, "test", {"process": w, "i": i})
    eng.dispose()


def test_concurrent_processes_are_gapless(engine):
    import multiprocessing

    with transaction(engine) as s:
        log_id = log.create_log(s, ORIGIN).id
    url = engine.url.render_as_string(hide_password=False)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_process_writer, args=(url, log_id, w, 10)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    with transaction(engine) as s:
        entries = log.entries(s, log_id)
        assert [e.seq for e in entries] == list(range(30))
        for a, b in zip(entries, entries[1:]):
            assert f'"prev":"{a.leaf_hash.hex()}"'.encode() in b.data
        assert log.root(s, log_id, 30) == tree.root_of_leaves([e.leaf_hash for e in entries])
