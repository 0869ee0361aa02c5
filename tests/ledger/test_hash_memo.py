"""A write transaction that remembers its stored hashes (ledger.log.remember_hashes) computes the
same hashes, roots and proofs as one that reads them all, with fewer reads."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from ledger import checkpoint, keys, log, tree
from ledger.db import reading, transaction

from .helpers import fill

ORIGIN = "gongjue.local/memo-court"


def _hash_reads(engine):  # noqa: ANN001, ANN202
    """A list that grows by one for every SELECT on ledger_hashes."""
    seen: list[str] = []

    def count(conn, cursor, statement, *_):  # noqa: ANN001, ANN002
        if statement.lstrip().upper().startswith("SELECT") and "ledger_hashes" in statement:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    return seen, lambda: event.remove(engine, "before_cursor_execute", count)


def _grow(engine, log_id: int, remember: bool, key: keys.LogKey) -> tuple[list, int, str, list[list[bytes]]]:  # noqa: ANN001
    with transaction(engine) as s:
        log.lock(s, log_id)
        if remember:
            log.remember_hashes(s)
        made = [log.append(s, log_id, "test", {"i": i}) for i in range(7)]
        size, note = checkpoint.sign_size(s, log_id, key, appended=made)
        proofs = [log.inclusion_proof(s, log_id, e.seq, size) for e in made]
    return made, size, note, proofs


def test_remembered_hashes_give_the_same_log_with_fewer_reads(engine):
    key = keys.log_key()
    a = fill(engine, ORIGIN, 5, key)
    b = fill(engine, ORIGIN + "-b", 5, key)
    seen, stop = _hash_reads(engine)
    try:
        plain = _grow(engine, a, False, key)
        plain_reads = len(seen)
        seen.clear()
        memo = _grow(engine, b, True, key)
        memo_reads = len(seen)
    finally:
        stop()
    assert memo[1] == plain[1] == 12
    with reading(engine) as s:
        for log_id, (made, size, _note, proofs) in ((a, plain), (b, memo)):
            assert log.root(s, log_id, size) == checkpoint.latest(s, log_id).root
            assert proofs == [log.inclusion_proof(s, log_id, e.seq, size) for e in made]  # as read afresh
            stored = [log.hash_reader(s, log_id)([i])[0] for i in range(tree.stored_hash_count(size))]
            assert len(stored) == tree.stored_hash_count(12)
    # reading all: 4 appends (seq 5, 7, 9, 11 complete a subtree), the root, the extension, 7 proofs;
    # remembering: the two hashes of the first 5 leaves the new ones need (the rest was just written)
    assert (plain_reads, memo_reads) == (13, 2)


def test_a_missing_hash_is_still_refused(engine):
    key = keys.log_key()
    log_id = fill(engine, ORIGIN, 3, key)
    with transaction(engine) as s:
        log.remember_hashes(s)
        read = log.hash_reader(s, log_id)
        assert read([0]) == read([0])  # the second from memory
        with pytest.raises(log.LogError, match="stored hashes \\[999\\] are missing"):
            read([0, 999])


def test_appends_kept_for_later_are_written_together_and_signed(engine):
    """log.append(later=…) keeps the rows; Later.write inserts them (one statement per table); signing
    before the write is refused; the log is the same as one appended row by row."""
    key = keys.log_key()
    a = fill(engine, ORIGIN, 3, key)
    b = fill(engine, ORIGIN + "-b", 3, key)
    with transaction(engine) as s:
        with pytest.raises(ValueError, match="needs remember_hashes"):
            log.append(s, a, "test", {"i": 0}, later=log.Later())
    seen, stop = _hash_reads(engine)
    inserts: list[str] = []

    def count(conn, cursor, statement, *_):  # noqa: ANN001, ANN002
        if statement.startswith("INSERT"):
            inserts.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        with transaction(engine) as s:
            log.lock(s, a)
            log.remember_hashes(s)
            later = log.Later()
            made = [log.append(s, a, "test", {"i": 0}, later=later)]  # the last entry read from the table
            for i in range(1, 5):  # then carried on, as the cast path does
                made.append(log.append(s, a, "test", {"i": i}, later=later, last=(made[-1].seq, made[-1].leaf_hash)))
            assert [e.seq for e in made] == [3, 4, 5, 6, 7]
            with pytest.raises(log.LogError, match="entry 7 was appended but is not stored"):
                checkpoint.sign_size(s, a, key, appended=made)
            later.write(s)
            size, _ = checkpoint.sign_size(s, a, key, appended=made)
    finally:
        stop()
        event.remove(engine, "before_cursor_execute", count)
    assert size == 8
    assert sum(1 for st in inserts if "ledger_entries" in st) == 1 and sum(1 for st in inserts if "ledger_hashes" in st) == 1
    with transaction(engine) as s:
        for i in range(5):
            log.append(s, b, "test", {"i": i})
        checkpoint.sign(s, b, key)
    with reading(engine) as s:
        rows = {lid: [(e.seq, e.leaf_hash) for e in log.entries(s, lid)] for lid in (a, b)}
        assert [seq for seq, _ in rows[a]] == list(range(8))
        assert log.root(s, a, 8) == checkpoint.latest(s, a).root
        assert tree.stored_hash_count(8) == len(log.hash_reader(s, a)(list(range(tree.stored_hash_count(8)))))


def test_many_hashes_are_read_64_per_statement(engine):
    """More hashes than one statement's 64 equalities (never needed below 2³² entries, but allowed):
    read in chunks, every one of them, in the order of the stored hashes."""
    key = keys.log_key()
    log_id = fill(engine, ORIGIN + "-many", 70, key)
    count = tree.stored_hash_count(70)
    seen, stop = _hash_reads(engine)
    try:
        with reading(engine) as s:
            got = log.hash_reader(s, log_id)(list(range(count)))
            one_by_one = [log.hash_reader(s, log_id)([i])[0] for i in range(count)]
    finally:
        stop()
    assert count == 137  # 2·70 − popcount(70)
    assert got == one_by_one
    assert len(seen) == 3 + count  # ⌈137 / 64⌉ statements, then one per single read
    assert all(" IN " not in statement.upper() for statement in seen)
