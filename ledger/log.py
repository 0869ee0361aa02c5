"""Append-only logs: creation, serialized appends, reads and Merkle proofs from stored hashes.

``append`` runs inside the caller's transaction.  It first locks the log's head row
(``SELECT … FOR UPDATE`` on PostgreSQL; on SQLite every transaction already holds the write lock,
``BEGIN IMMEDIATE``, see ledger.db), so concurrent writers queue and the log never gets a gap
or a fork.  Each append stores the entry's exact bytes and the stored hashes it completes
(ledger.tree), so roots and proofs for any size cost O(log n) reads.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import CompoundSelect, Select, bindparam, insert, select
from sqlalchemy.orm import Session

from ledger import tree
from ledger.db import lookups
from ledger.entry import ZERO_PREV, encode_entry, format_time
from ledger.models import Entry, Log, StoredHash

ORIGIN_RE = re.compile(r"[^\s/+]+/[a-z0-9][a-z0-9-]{0,62}\Z")
MAX_SEQ = 2**63 - 1  # the largest seq or size a BIGINT column holds; larger ones exist in no log


def in_range(n: int) -> bool:
    """Whether ``n`` can be a seq or tree size at all (0 … 2^63−1): check before it reaches SQL."""
    return 0 <= n <= MAX_SEQ


class LogError(ValueError):
    """A refused ledger operation (unknown log, duplicate origin, bad origin, bad size)."""


def create_log(session: Session, origin: str) -> Log:
    """A new, empty log for ``origin`` (``<site>/<estate slug>``); refuses an existing origin."""
    if not ORIGIN_RE.match(origin):
        raise LogError(f"origin {origin!r} must be <site>/<slug> (slug: a-z, 0-9, '-')")
    if get_log(session, origin) is not None:
        raise LogError(f"a log for {origin} already exists")
    log = Log(origin=origin, created_at=datetime.now(UTC))
    session.add(log)
    session.flush()
    return log


def get_log(session: Session, origin: str) -> Log | None:
    """The log of ``origin``, or None."""
    return session.scalars(select(Log).where(Log.origin == origin)).one_or_none()


def lock_log(session: Session, log_id: int) -> Log:
    """Lock the log's head row for the rest of the transaction (serializes appends and signing)."""
    log = session.scalars(select(Log).where(Log.id == log_id).with_for_update()).one_or_none()
    if log is None:
        raise LogError(f"no log with id {log_id}")
    return log


_LOCK = select(Log.origin).where(Log.id == bindparam("log_id")).with_for_update()


def lock(session: Session, log_id: int) -> str:
    """``lock_log`` as one Core statement (no ORM object): the cast path's first statement. Returns
    the log's origin (``checkpoint.sign_size(origin=…)`` then does not lock again)."""
    origin = session.connection().execute(_LOCK, {"log_id": log_id}).scalar()
    if origin is None:
        raise LogError(f"no log with id {log_id}")
    return origin
_INSERT_HASH = insert(StoredHash)
_INSERT_ENTRY = insert(Entry)
_LAST = (select(Entry.seq, Entry.leaf_hash).where(Entry.log_id == bindparam("log_id"))
         .order_by(Entry.seq.desc()).limit(1))


def append(session: Session, log_id: int, type: str, body: dict, time: datetime | None = None,
           *, last: tuple[int, bytes] | None = None, later: Later | None = None) -> Entry:
    """Append one entry of ``type`` with ``body`` to the log; returns it (.seq, .leaf_hash, .data).

    ``body`` may hold strings, integers, booleans, null, lists and objects only (floats are
    refused with ledger.entry.EntryError).  ``time`` defaults to now; it is stored in whole
    seconds, UTC.  Runs on the session's connection in its transaction (Core statements: the
    returned Entry is not added to the session).

    ``last``: (seq, leaf hash) of the log's last entry, when the caller already holds the log lock
    (``lock``) and read it under that lock (the cast path); the lock and that read are then not
    repeated.  The database's append-only trigger refuses a seq that is not the next one anyway.

    ``later``: the rows are kept in it and inserted by its ``write``, together with those of the
    entries appended after (one statement per table for a group of appends); the session must
    remember its hashes (``remember_hashes``), so the next append finds them.
    """
    conn = session.connection()
    memo = _memo(session, log_id)
    if later is not None and memo is None:
        raise ValueError("append(later=…) needs remember_hashes(session): the next append reads these hashes")
    if last is None:
        if later is not None and later.rows:
            later.write(session)  # the last entry is read from the table
        if conn.execute(_LOCK, {"log_id": log_id}).first() is None:
            raise LogError(f"no log with id {log_id}")
        row = conn.execute(_LAST, {"log_id": log_id}).first()
        last = None if row is None else (row.seq, bytes(row.leaf_hash))
    seq = 0 if last is None else last[0] + 1
    prev = ZERO_PREV if last is None else last[1].hex()
    stamp = format_time(time or datetime.now(UTC))
    data = encode_entry(seq, prev, type, stamp, body)
    leaf = tree.leaf_hash(data)
    new = tree.stored_hashes_for_leaf(seq, leaf, hash_reader(session, log_id))
    start = tree.stored_hash_index(0, seq)
    hashes = [{"log_id": log_id, "idx": start + i, "hash": h} for i, h in enumerate(new)]
    row = {"log_id": log_id, "seq": seq, "type": type, "time": stamp, "data": data, "leaf_hash": leaf}
    if memo is not None:
        memo.update((start + i, h) for i, h in enumerate(new))
    if later is not None:
        later.rows.append((hashes, row))
    else:
        conn.execute(_INSERT_HASH, hashes)
        conn.execute(_INSERT_ENTRY, row)
    return Entry(**row)


class Later:
    """Rows of appended entries not inserted yet (``append(later=…)``): ``write`` inserts them all, in
    order, with one statement for the stored hashes and one for the entries. The caller writes them
    before anything reads the log's tables in the transaction (before ``checkpoint.sign_size``, which
    refuses ``appended`` entries beyond the stored log)."""

    def __init__(self) -> None:
        self.rows: list[tuple[list[dict], dict]] = []

    def write(self, session: Session) -> None:
        if not self.rows:
            return
        conn = session.connection()
        conn.execute(_INSERT_HASH, [h for hashes, _ in self.rows for h in hashes])
        conn.execute(_INSERT_ENTRY, [row for _, row in self.rows])
        self.rows = []


_FEW = 64  # a tree operation reads about 2·log₂(size) hashes: at most 64 below 2³² entries


@functools.lru_cache(maxsize=_FEW)
def _hashes_at(n: int) -> Select | CompoundSelect:
    """The stored hashes at ``n`` indexes (parameters ``i0`` … ``i<n-1>``), each an equality on the whole
    primary key (``db.lookups``: an ``IN`` list was planned on PostgreSQL while the table had no
    statistics as a walk over every hash of the log)."""
    return lookups(n, lambda k: select(StoredHash.idx, StoredHash.hash)
                   .where(StoredHash.log_id == bindparam("log_id"), StoredHash.idx == bindparam(f"i{k}")))


def _read_hashes(session: Session, log_id: int, indexes: list[int]) -> dict[int, bytes]:
    """The stored hashes at ``indexes``, ``_FEW`` per statement."""
    conn, found = session.connection(), {}
    for start in range(0, len(indexes), _FEW):
        chunk = indexes[start:start + _FEW]
        params = {"log_id": log_id, **{f"i{k}": i for k, i in enumerate(chunk)}}
        found.update((idx, bytes(h)) for idx, h in conn.execute(_hashes_at(len(chunk)), params))
    return found


LAST_SEQ = select(Entry.seq).where(Entry.log_id == bindparam("log_id")).order_by(Entry.seq.desc()).limit(1)
"""The log's last seq: one step from the end of the primary key under any plan (a ``MAX`` planned while
the table had no statistics read every entry of the log on PostgreSQL, ledger_0004)."""


def size(session: Session, log_id: int) -> int:
    """Number of entries in the log now (not a signed size: use a checkpoint for that)."""
    top = session.connection().execute(LAST_SEQ, {"log_id": log_id}).scalar()
    return 0 if top is None else top + 1


_MEMO = "gongjue_stored_hashes"


def remember_hashes(session: Session) -> None:
    """From now on, ``session`` keeps every stored hash it reads or appends (by log and index), and
    ``hash_reader`` reads only the ones it does not hold yet.

    Sound because a stored hash never changes once written (SPEC §2.9): the triggers refuse UPDATE
    and DELETE, and the session never rolls back part of its own work (no savepoints) — a failed
    transaction is discarded whole, with its memo. For one write transaction of many appends and
    proofs (a cast group): most of what the next append, the root and the receipts need was just
    written or read.
    """
    session.info.setdefault(_MEMO, {})


def _memo(session: Session, log_id: int) -> dict[int, bytes] | None:
    logs = session.info.get(_MEMO)
    return None if logs is None else logs.setdefault(log_id, {})


def hash_reader(session: Session, log_id: int) -> tree.HashReader:
    """A ledger.tree.HashReader over the log's stored hashes (one query per call, for the hashes the
    session does not hold: ``remember_hashes``)."""
    memo = _memo(session, log_id)

    def read(indexes: Sequence[int]) -> list[bytes]:
        found = {} if memo is None else {i: memo[i] for i in indexes if i in memo}
        wanted = sorted(set(indexes) - found.keys())
        if wanted:
            read_now = _read_hashes(session, log_id, wanted)
            if memo is not None:
                memo.update(read_now)
            found.update(read_now)
        missing = [i for i in indexes if i not in found]
        if missing:
            raise LogError(f"log {log_id}: stored hashes {missing[:5]} are missing")
        return [found[i] for i in indexes]

    return read


def root(session: Session, log_id: int, tree_size: int) -> bytes:
    """MTH of the first ``tree_size`` entries, from stored hashes."""
    _check_size(session, log_id, tree_size)
    return tree.tree_hash(tree_size, hash_reader(session, log_id))


def inclusion_proof(session: Session, log_id: int, seq: int, tree_size: int) -> list[bytes]:
    """Audit path of entry ``seq`` in the tree of the first ``tree_size`` entries."""
    _check_size(session, log_id, tree_size)
    if not 0 <= seq < tree_size:
        raise LogError(f"entry {seq} is not in a tree of size {tree_size}")
    return tree.inclusion_proof(tree_size, seq, hash_reader(session, log_id))


def consistency_proof(session: Session, log_id: int, size1: int, size2: int) -> list[bytes]:
    """Consistency proof from the tree of ``size1`` entries to that of ``size2`` (RFC 9162 §2.1.4.1)."""
    _check_size(session, log_id, size2)
    if not 0 < size1 <= size2:
        raise LogError(f"no consistency proof from size {size1} to size {size2}")
    return tree.consistency_proof(size2, size1, hash_reader(session, log_id))


def get_entry(session: Session, log_id: int, seq: int) -> Entry | None:
    """Entry ``seq`` of the log, or None (also for a seq no log can have, e.g. beyond 2^63−1)."""
    return session.get(Entry, (log_id, seq)) if in_range(seq) else None


def entries(session: Session, log_id: int, start: int = 0, stop: int | None = None) -> list[Entry]:
    """Entries with start <= seq < stop, in order."""
    q = select(Entry).where(Entry.log_id == log_id, Entry.seq >= start)
    if stop is not None:
        q = q.where(Entry.seq < stop)
    return list(session.scalars(q.order_by(Entry.seq)))


def iter_data(session: Session, log_id: int, stop: int, batch: int = 5000):
    """Yield the stored bytes of entries 0 … stop-1 in order, in batches."""
    seq = 0
    while seq < stop:
        rows = session.execute(
            select(Entry.seq, Entry.data).where(Entry.log_id == log_id, Entry.seq >= seq,
                                                Entry.seq < min(stop, seq + batch)).order_by(Entry.seq)
        ).all()
        if not rows:
            return
        for r in rows:
            yield r.seq, r.data
        seq = rows[-1].seq + 1


def _check_size(session: Session, log_id: int, tree_size: int) -> None:
    if tree_size < 0 or tree_size > size(session, log_id):
        raise LogError(f"log {log_id} has no tree of size {tree_size}")
