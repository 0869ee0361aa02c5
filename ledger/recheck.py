"""Re-hash a stored log from its entry bytes (SPEC §2.9: the signer's check and the self-check).

The database stores each entry's bytes, its leaf hash and the interior hashes (ledger.tree); roots
and proofs are computed from the stored hashes, so an edit of the stored bytes alone would not
change what the server signs.  Before it signs, the server therefore re-derives, from the bytes,
every entry added since its last checkpoint (``recheck(session, log_id, start=last.size)``):

- the bytes are a valid canonical entry (SPEC §2.1) whose ``seq`` is its position and whose
  ``type`` and ``time`` are the stored columns;
- its leaf hash SHA-256(0x00 ‖ bytes) is the stored leaf hash, and ``prev`` is the leaf hash of
  the entry before;
- every stored hash it completes equals the hash recomputed from the leaves.

``recheck(session, log_id)`` does the same for the whole log and also checks every signed
checkpoint (its signature, and the root recomputed from the first ``size`` entries): what
``gongjue export`` and the server's periodic self-check run.  The result names the first bad
entry (``Finding``), in Chinese and English.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from ledger import log as logs
from ledger.checkpoint import CheckpointError, history, open_checkpoint
from ledger.entry import ZERO_PREV, EntryError, parse_entry
from ledger.models import CheckpointRow, Entry, StoredHash
from ledger.note import NoteError, parse_vkey
from ledger.tree import RootBuilder, compact_range_index, leaf_hash, stored_hash_index

BATCH = 4096


@dataclass(frozen=True)
class Finding:
    """The first thing wrong with a stored log: the entry (or entries ``seq`` … ``last``) concerned."""

    seq: int | None
    message: str  # "中文 / English"
    last: int | None = None

    def to_json(self) -> dict:
        return {"seq": self.seq, "last": self.last, "message": self.message}


def recheck(session: Session, log_id: int, start: int = 0, stop: int | None = None) -> Finding | None:
    """Re-hash entries ``start`` … ``stop``-1 (default: to the end) from their stored bytes.

    With ``start`` = 0 every signed checkpoint whose size is reached is also checked (signature
    and root).  With ``start`` > 0 the entries before are taken as they are stored (the caller
    checks them against the last checkpoint by a consistency proof).  Returns None when all holds.
    """
    stop = logs.size(session, log_id) if stop is None else stop
    signed = _signed_roots(session, log_id) if start == 0 else {}
    if isinstance(signed, Finding):
        return signed
    compact, prev = _state_at(session, log_id, start)
    if isinstance(compact, Finding):
        return compact
    found = _walk(session, log_id, start, stop, compact, prev, signed)
    if found is not None:
        return found
    beyond = [size for size in signed if size > stop]
    if beyond and start == 0 and stop == logs.size(session, log_id):
        return Finding(stop, f"第 {stop} 条及以后的条目不见了：签名检查点 {min(beyond)} 包含它们（账本被截短）/ "
                             f"entry {stop} and later are missing: signed checkpoint {min(beyond)} covers them "
                             "(log truncated)")
    return None


def _signed_roots(session: Session, log_id: int) -> dict[int, tuple[bytes, int]] | Finding:
    """{size: (root, index among checkpoints)} of every signed checkpoint, each note verified."""
    out: dict[int, tuple[bytes, int]] = {}
    for i, row in enumerate(history(session, log_id)):
        problem = _checkpoint_problem(row)
        if problem:
            return Finding(None, f"签名检查点 {row.size} 不成立 / signed checkpoint {row.size} does not hold: {problem}")
        out[row.size] = (row.root, i)
    return out


def _checkpoint_problem(row: CheckpointRow) -> str | None:
    try:
        cp = open_checkpoint(row.note, parse_vkey(row.vkey))
    except (CheckpointError, NoteError) as exc:
        return str(exc)
    if (cp.size, cp.root) != (row.size, row.root):
        return f"the stored size/root ({row.size}, {row.root.hex()[:16]}…) are not the signed ones ({cp.size}, " \
               f"{cp.root.hex()[:16]}…)"
    return None


def _state_at(session: Session, log_id: int, start: int) -> tuple[RootBuilder, str] | tuple[Finding, None]:
    """The tree of the first ``start`` leaves (from stored hashes) and entry ``start``-1's leaf hash."""
    if start == 0:
        return RootBuilder(), ZERO_PREV
    try:
        compact = logs.hash_reader(session, log_id)(compact_range_index(start))
    except logs.LogError as exc:
        return Finding(start - 1, f"存储的哈希缺失 / stored hashes missing: {exc}"), None
    before = session.connection().execute(_LEAF, {"log_id": log_id, "seq": start - 1}).scalar()
    if before is None:
        return Finding(start - 1, f"第 {start - 1} 条不见了 / entry {start - 1} is missing"), None
    return RootBuilder.resume(start, compact), before.hex()


_LEAF = select(Entry.leaf_hash).where(Entry.log_id == bindparam("log_id"), Entry.seq == bindparam("seq"))
_ENTRIES = (select(Entry.seq, Entry.type, Entry.time, Entry.data, Entry.leaf_hash)
            .where(Entry.log_id == bindparam("log_id"), Entry.seq >= bindparam("lo"), Entry.seq < bindparam("hi"))
            .order_by(Entry.seq))
_STORED = (select(StoredHash.idx, StoredHash.hash)
           .where(StoredHash.log_id == bindparam("log_id"), StoredHash.idx >= bindparam("lo"),
                  StoredHash.idx < bindparam("hi"))
           .order_by(StoredHash.idx))


def _walk(session: Session, log_id: int, start: int, stop: int, compact: RootBuilder, prev: str,
          signed: dict[int, tuple[bytes, int]]) -> Finding | None:
    conn = session.connection()
    agreed = 0  # the largest signed size whose root held so far
    for lo in range(start, stop, BATCH):
        hi = min(stop, lo + BATCH)
        rows = conn.execute(_ENTRIES, {"log_id": log_id, "lo": lo, "hi": hi}).all()
        first_idx = stored_hash_index(0, lo)
        stored = conn.execute(_STORED, {"log_id": log_id, "lo": first_idx, "hi": stored_hash_index(0, hi)}).all()
        hashes = {r.idx: r.hash for r in stored}
        expect, idx = lo, first_idx  # idx: where entry ``expect``'s stored hashes begin
        for row in rows:
            if row.seq != expect:
                return Finding(expect, f"第 {expect} 条不见了 / entry {expect} is missing")
            found = _entry_problem(row, prev)
            if found:
                return found
            prev = row.leaf_hash.hex()
            for h in compact.add_stored(row.leaf_hash):
                have = hashes.get(idx)
                if have is None or not hmac.compare_digest(have, h):
                    return _hash_finding(row.seq, idx - stored_hash_index(0, row.seq), idx, have)
                idx += 1
            expect += 1
            if compact.size in signed:
                root, _ = signed[compact.size]
                if not hmac.compare_digest(compact.root(), root):
                    return _root_finding(agreed, compact.size)
                agreed = compact.size
        if expect < hi:
            return Finding(expect, f"第 {expect} 条不见了 / entry {expect} is missing")
    return None


def _entry_problem(row, prev: str) -> Finding | None:  # noqa: ANN001
    seq = row.seq
    got = leaf_hash(row.data)
    if not hmac.compare_digest(got, row.leaf_hash):
        return Finding(seq, f"第 {seq} 条：存储的字节被改过（其哈希 {got.hex()[:16]}… 不是存储的叶哈希 "
                            f"{row.leaf_hash.hex()[:16]}…）/ entry {seq}: its stored bytes were edited (they hash to "
                            f"{got.hex()[:16]}…, not the stored leaf hash {row.leaf_hash.hex()[:16]}…)")
    try:
        entry = parse_entry(row.data)
    except EntryError as exc:
        return Finding(seq, f"第 {seq} 条：存储的字节不是有效条目 / entry {seq}: its stored bytes are not a valid "
                            f"entry: {exc}")
    if entry.seq != seq:
        return Finding(seq, f"第 {seq} 条：字节中的序号是 {entry.seq} / entry {seq}: its bytes hold seq {entry.seq}")
    if entry.prev != prev:
        if seq == 0:
            return Finding(0, "第 0 条：prev 必须是 64 个 0 / entry 0: prev must be 64 zeros")
        return Finding(seq - 1, f"第 {seq - 1} 条：其叶哈希 {prev[:16]}… 不是第 {seq} 条记下的 prev {entry.prev[:16]}… / "
                                f"entry {seq - 1}: its leaf hash {prev[:16]}… is not the prev {entry.prev[:16]}… that "
                                f"entry {seq} committed to (entry {seq - 1} or {seq} was altered)")
    if (entry.type, entry.time) != (row.type, row.time):
        return Finding(seq, f"第 {seq} 条：存储的类型或时间列与字节不符 / entry {seq}: the stored type/time columns "
                            f"({row.type}, {row.time}) are not the entry's ({entry.type}, {entry.time})")
    return None


def _hash_finding(seq: int, level: int, idx: int, have: bytes | None) -> Finding:
    first = seq + 1 - (1 << level)
    zh, en = ((f"第 {first}–{seq} 条的子树", f"the subtree of entries {first}…{seq}") if level
              else (f"第 {seq} 条的叶", f"the leaf of entry {seq}"))
    if have is None:
        return Finding(first, f"存储的哈希 #{idx}（{zh}）缺失 / stored hash {idx} ({en}) is missing",
                       None if level == 0 else seq)
    return Finding(first, f"存储的哈希 #{idx}（{zh}）与由条目字节重算的不符 / stored hash {idx} ({en}) differs "
                          "from the hash recomputed from the entry bytes", None if level == 0 else seq)


def _root_finding(agreed: int, size: int) -> Finding:
    where = (f"第 {agreed} 条与签名时不同 / entry {agreed} differs from the entry it signed" if size - agreed == 1
             else f"第 {agreed}–{size - 1} 条中有条目与签名时不同 / an entry in seq {agreed}…{size - 1} differs from "
                  "the entries it signed")
    return Finding(agreed, f"签名检查点 {size} 的根与由前 {size} 条重算的根不符 / signed checkpoint {size}: the root "
                           f"recomputed from the first {size} entries is not the signed root — {where}",
                   None if size - agreed == 1 else size - 1)
