"""The signer recomputes from the stored entry bytes before it signs (SPEC §2.9, issue #7.5).

An intruder edits stored rows with raw SQL after dropping the refusal triggers (both databases).
``checkpoint.sign`` re-hashes the entries added since the last checkpoint and refuses, naming the
first bad entry; ``gongjue export`` re-hashes the whole log and refuses too.
"""

from __future__ import annotations

import json

import pytest

from ledger import checkpoint, keys, log, tree
from ledger.checkpoint import CheckpointError
from ledger.db import reading, transaction
from ledger.entry import encode_entry
from ledger.recheck import recheck
from web.cli import main

from .helpers import fill, tamper

SLUG = "maple-court"
ORIGIN = f"gongjue.local/{SLUG}"


def _grown(engine) -> tuple[int, keys.LogKey]:  # noqa: ANN001
    """A log signed at 4 entries, then grown to 7 (entries 4, 5, 6 not yet signed)."""
    key = keys.log_key()
    log_id = fill(engine, ORIGIN, 4, key)
    with transaction(engine) as s:
        for i in range(4, 7):
            log.append(s, log_id, "test", {"i": i})
    return log_id, key


def _data(engine, log_id: int, seq: int) -> bytes:  # noqa: ANN001
    with reading(engine) as s:
        return log.get_entry(s, log_id, seq).data


def _refused(engine, log_id: int, key) -> str:  # noqa: ANN001
    with pytest.raises(CheckpointError) as info:
        with transaction(engine) as s:
            checkpoint.sign(s, log_id, key)
    with reading(engine) as s:
        assert [r.size for r in checkpoint.history(s, log_id)] == [4]  # nothing signed
    return str(info.value)


def test_sign_refuses_edited_bytes_of_a_new_entry(engine):
    log_id, key = _grown(engine)
    edited = _data(engine, log_id, 5).replace(b'"i":5', b'"i":8')
    tamper(engine, ("UPDATE ledger_entries SET data = :d WHERE log_id = :l AND seq = 5", {"d": edited, "l": log_id}))
    message = _refused(engine, log_id, key)
    assert message.startswith("账本存储与条目字节不符，拒绝签署 / the stored log does not match its entry bytes, "
                              "refusing to sign: 第 5 条：存储的字节被改过")
    assert "entry 5: its stored bytes were edited" in message


def test_sign_refuses_bytes_and_leaf_hash_edited_together(engine):
    log_id, key = _grown(engine)
    edited = _data(engine, log_id, 5).replace(b'"i":5', b'"i":8')
    tamper(engine, ("UPDATE ledger_entries SET data = :d, leaf_hash = :h WHERE log_id = :l AND seq = 5",
                    {"d": edited, "h": tree.leaf_hash(edited), "l": log_id}))
    idx = tree.stored_hash_index(0, 5)
    assert _refused(engine, log_id, key).endswith(
        f"存储的哈希 #{idx}（第 5 条的叶）与由条目字节重算的不符 / stored hash {idx} (the leaf of entry 5) differs "
        "from the hash recomputed from the entry bytes")


def test_sign_refuses_a_rewritten_chain(engine):
    """Bytes, leaf hash and stored leaf of entry 5 rewritten: entry 6's prev still names the old one."""
    log_id, key = _grown(engine)
    edited = _data(engine, log_id, 5).replace(b'"i":5', b'"i":8')
    leaf = tree.leaf_hash(edited)
    tamper(engine, ("UPDATE ledger_entries SET data = :d, leaf_hash = :h WHERE log_id = :l AND seq = 5",
                    {"d": edited, "h": leaf, "l": log_id}),
           ("UPDATE ledger_hashes SET hash = :h WHERE log_id = :l AND idx = :i",
            {"h": leaf, "l": log_id, "i": tree.stored_hash_index(0, 5)}))
    idx = tree.stored_hash_index(1, 2)
    assert _refused(engine, log_id, key).endswith(
        f"存储的哈希 #{idx}（第 4–5 条的子树）与由条目字节重算的不符 / stored hash {idx} (the subtree of entries 4…5) "
        "differs from the hash recomputed from the entry bytes")


def test_sign_refuses_an_edited_interior_hash(engine):
    log_id, key = _grown(engine)
    idx = tree.stored_hash_index(1, 2)  # the subtree of entries 4 and 5
    tamper(engine, ("UPDATE ledger_hashes SET hash = :h WHERE log_id = :l AND idx = :i",
                    {"h": b"\x11" * 32, "l": log_id, "i": idx}))
    assert _refused(engine, log_id, key).endswith(
        f"存储的哈希 #{idx}（第 4–5 条的子树）与由条目字节重算的不符 / stored hash {idx} (the subtree of entries 4…5) "
        "differs from the hash recomputed from the entry bytes")


def test_sign_refuses_an_edited_type_column(engine):
    log_id, key = _grown(engine)
    tamper(engine, ("UPDATE ledger_entries SET type = 'ballot' WHERE log_id = :l AND seq = 6", {"l": log_id}))
    message = _refused(engine, log_id, key)
    assert "第 6 条：存储的类型或时间列与字节不符 / entry 6: the stored type/time columns (ballot, " in message
    assert "are not the entry's (test, " in message


def test_sign_checks_only_the_new_entries_and_export_checks_all(engine, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GONGJUE_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    log_id, key = _grown(engine)
    with transaction(engine) as s:
        checkpoint.sign(s, log_id, key)  # 7 entries, all well
    edited = _data(engine, log_id, 1).replace(b'"i":1', b'"i":7')
    tamper(engine, ("UPDATE ledger_entries SET data = :d WHERE log_id = :l AND seq = 1", {"d": edited, "l": log_id}))
    with transaction(engine) as s:
        log.append(s, log_id, "test", {"i": 7})
        checkpoint.sign(s, log_id, key)  # cheap per sign: entry 7 only (the self-check covers the rest)
    with reading(engine) as s:
        found = recheck(s, log_id)
    assert found.seq == 1 and found.message.startswith("第 1 条：存储的字节被改过")
    assert main(["export", "--estate", SLUG, "--out", str(tmp_path / "b")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("导出失败 / export refused: 账本存储与条目字节不符 / the stored log does not match its entry "
                          "bytes: 第 1 条：存储的字节被改过")
    assert "entry 1: its stored bytes were edited" in err
    assert not (tmp_path / "b" / "entries.jsonl").exists()


def test_untouched_log_rechecks_clean_and_exports(engine, tmp_path, monkeypatch):
    monkeypatch.setenv("GONGJUE_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    key = keys.log_key()
    log_id = fill(engine, ORIGIN, 37, key, sign_each=True)
    with reading(engine) as s:
        assert recheck(s, log_id) is None
        assert recheck(s, log_id, 16, 37) is None
    assert main(["export", "--estate", SLUG, "--out", str(tmp_path / "b")]) == 0


def test_recheck_names_a_checkpoint_whose_root_no_longer_holds(engine):
    """A whole suffix rewritten consistently (bytes, leaves, stored hashes): only the signed roots catch it."""
    key = keys.log_key()
    log_id = fill(engine, ORIGIN, 6, key, sign_each=True)
    with reading(engine) as s:
        originals = [e.data for e in log.entries(s, log_id)]
    forged = []
    prev = tree.leaf_hash(originals[2]).hex()
    for seq in range(3, 6):
        obj = json.loads(originals[seq])
        obj["body"]["forged"] = True
        data = encode_entry(seq, prev, obj["type"], obj["time"], obj["body"])
        forged.append(data)
        prev = tree.leaf_hash(data).hex()
    hashes: dict[int, bytes] = {}
    leaves = [tree.leaf_hash(d) for d in originals[:3] + forged]
    builder_read = lambda idx: [hashes[i] for i in idx]  # noqa: E731
    for n, leaf in enumerate(leaves):
        for i, h in enumerate(tree.stored_hashes_for_leaf(n, leaf, builder_read)):
            hashes[tree.stored_hash_index(0, n) + i] = h
    statements = [("UPDATE ledger_entries SET data = :d, leaf_hash = :h WHERE log_id = :l AND seq = :s",
                   {"d": d, "h": tree.leaf_hash(d), "l": log_id, "s": seq}) for seq, d in zip(range(3, 6), forged)]
    statements += [("UPDATE ledger_hashes SET hash = :h WHERE log_id = :l AND idx = :i", {"h": h, "l": log_id, "i": i})
                   for i, h in hashes.items()]
    tamper(engine, *statements)
    with reading(engine) as s:
        found = recheck(s, log_id)
    assert found.seq == 3 and found.last is None
    assert found.message == ("签名检查点 4 的根与由前 4 条重算的根不符 / signed checkpoint 4: the root recomputed from the "
                             "first 4 entries is not the signed root — 第 3 条与签名时不同 / entry 3 differs from the entry "
                             "it signed")


def test_checkpoint_command_refuses_naming_the_entry(engine, monkeypatch, capsys):
    monkeypatch.setenv("GONGJUE_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    log_id, _key = _grown(engine)
    edited = _data(engine, log_id, 4).replace(b'"i":4', b'"i":6')
    tamper(engine, ("UPDATE ledger_entries SET data = :d WHERE log_id = :l AND seq = 4", {"d": edited, "l": log_id}))
    assert main(["checkpoint", "--estate", SLUG]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("拒绝签署 / refused: 账本存储与条目字节不符，拒绝签署 / the stored log does not match "
                                   "its entry bytes, refusing to sign: 第 4 条：存储的字节被改过")


def test_entries_appended_in_the_signing_transaction_are_not_read_back_but_earlier_ones_are(engine):
    """sign_size(appended=…) skips re-reading only this transaction's own tail (SPEC §2.3): an edited
    entry written earlier and not yet signed is still refused, naming it, and nothing is written."""
    log_id, key = _grown(engine)  # 4 signed, entries 4–6 unsigned
    edited = _data(engine, log_id, 5).replace(b'"i":5', b'"i":8')
    tamper(engine, ("UPDATE ledger_entries SET data = :d WHERE log_id = :l AND seq = 5", {"d": edited, "l": log_id}))
    with pytest.raises(CheckpointError, match="entry 5: its stored bytes were edited"):
        with transaction(engine) as s:
            mine = [log.append(s, log_id, "test", {"i": i}) for i in (7, 8)]
            checkpoint.sign_size(s, log_id, key, appended=mine)
    with reading(engine) as s:
        assert [r.size for r in checkpoint.history(s, log_id)] == [4]
        assert log.size(s, log_id) == 7  # the two appends were rolled back with the refusal


def test_appended_entries_that_are_not_the_tail_are_read_back(engine):
    """A run that is not the log's last entries, or has a gap, gives no exemption: all is re-hashed."""
    log_id, key = _grown(engine)
    with transaction(engine) as s:
        early = [log.get_entry(s, log_id, 5)]  # stored earlier, not by this transaction, not the tail
        gap = [log.get_entry(s, log_id, 4), log.get_entry(s, log_id, 6)]
    assert checkpoint._first_appended(early, 7) == 7
    assert checkpoint._first_appended(gap, 7) == 7
    assert checkpoint._first_appended([], 7) == 7
    edited = _data(engine, log_id, 6).replace(b'"i":6', b'"i":9')
    tamper(engine, ("UPDATE ledger_entries SET data = :d WHERE log_id = :l AND seq = 6", {"d": edited, "l": log_id}))
    with pytest.raises(CheckpointError, match="entry 6: its stored bytes were edited"):
        with transaction(engine) as s:
            checkpoint.sign_size(s, log_id, key, appended=gap)  # claims 4 and 6: not a run, so 4–6 are read
    with transaction(engine) as s:
        last = [log.get_entry(s, log_id, 6)]
    assert checkpoint._first_appended(last, 7) == 6  # a run ending at the tail starts the exemption


def test_a_sign_with_nothing_new_reads_nothing_back(engine, monkeypatch):
    """The log has not grown since the last checkpoint: the same note, and no re-hash at all."""
    key = keys.log_key()
    log_id = fill(engine, ORIGIN, 4, key)
    import ledger.recheck as rk

    def boom(*a, **k):  # noqa: ANN002, ANN003
        raise AssertionError("re-hashed with nothing new")

    monkeypatch.setattr(rk, "recheck", boom)
    with transaction(engine) as s:
        note = checkpoint.sign(s, log_id, key)
    with reading(engine) as s:
        assert note == checkpoint.latest(s, log_id).note
