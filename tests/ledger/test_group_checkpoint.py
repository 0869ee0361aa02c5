"""Group-committed checkpoints (SPEC §2.6, §7.2): a receipt after an append uses the newest signed
checkpoint when it already covers the entry, else signs one of the log's current size; the entry
is committed first.  Real SQLite and PostgreSQL."""

from __future__ import annotations

import threading

from ledger import checkpoint, log, receipt
from ledger.checkpoint import parse_checkpoint
from ledger.db import reading, transaction

from .helpers import T0, make_key

ORIGIN = "gongjue.local/maple-court"


def _append(engine, log_id: int, i: int):
    with transaction(engine) as s:
        return log.append(s, log_id, "test", {"i": i}, T0)


def test_one_signature_covers_entries_committed_before_it(engine, tmp_path):
    key = make_key(tmp_path)
    with transaction(engine) as s:
        log_id = log.create_log(s, ORIGIN).id
    first, second = _append(engine, log_id, 0), _append(engine, log_id, 1)
    r1 = receipt.after_append(engine, log_id, ORIGIN, first, key)
    assert (r1["seq"], r1["tree_size"]) == (0, 2)  # signed at the log's size: both entries
    r2 = receipt.after_append(engine, log_id, ORIGIN, second, key)
    assert (r2["seq"], r2["tree_size"], r2["checkpoint"]) == (1, 2, r1["checkpoint"])  # shared, not re-signed
    with reading(engine) as s:
        assert [row.size for row in checkpoint.history(s, log_id)] == [2]
    for r, e in ((r1, first), (r2, second)):
        assert receipt.verify_receipt(r, key.vkey).seq == e.seq
        assert r["entry"].encode() == e.data and r["leaf_hash"] == e.leaf_hash.hex()
    third = _append(engine, log_id, 2)
    r3 = receipt.after_append(engine, log_id, ORIGIN, third, key)
    assert r3["tree_size"] == 3 and parse_checkpoint(r3["checkpoint"]).size == 3
    assert receipt.verify_receipt(r3, key.vkey).seq == 2
    with reading(engine) as s:
        assert [row.size for row in checkpoint.history(s, log_id)] == [2, 3]


def test_concurrent_appends_get_receipts_that_verify(engine, tmp_path):
    key = make_key(tmp_path)
    with transaction(engine) as s:
        log_id = log.create_log(s, ORIGIN).id
    out, errors = [], []

    def one(i: int) -> None:
        try:
            e = _append(engine, log_id, i)
            out.append((e, receipt.after_append(engine, log_id, ORIGIN, e, key)))
        except Exception as exc:  # noqa: BLE001 — reported below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(out) == 12
    assert sorted(e.seq for e, _ in out) == list(range(12))
    with reading(engine) as s:
        signed = {row.size: row.note for row in checkpoint.history(s, log_id)}
    for e, r in out:
        assert r["tree_size"] > e.seq and signed[r["tree_size"]] == r["checkpoint"]
        assert receipt.verify_receipt(r, key.vkey).seq == e.seq
    assert len(signed) <= 12 and max(signed) == 12
