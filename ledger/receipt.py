"""Receipts: an entry with its inclusion proof against a signed checkpoint (SPEC §2.6).

A receipt is a JSON object::

    {"origin": <origin>, "seq": <n>, "entry": <the entry's exact bytes as a UTF-8 string>,
     "leaf_hash": <hex>, "tree_size": <size>, "proof": [<hex>, …], "checkpoint": <signed note>}

``proof`` is the RFC 9162 §2.1.3.1 audit path of leaf ``seq`` in the tree of ``tree_size``
entries, and ``checkpoint`` a note the log signed for exactly that size.  Anyone holding the
log's verifier key checks it with ``verify_receipt`` (RFC 9162 §2.1.3.2).  A consistency proof
is ``{"origin", "size1", "size2", "proof": [<hex>, …]}`` (RFC 9162 §2.1.4).
"""

from __future__ import annotations

import threading
import weakref

from sqlalchemy import Engine, bindparam, select
from sqlalchemy.orm import Session

from ledger import checkpoint, tree
from ledger import log as logs
from ledger.checkpoint import CheckpointError, open_checkpoint
from ledger.db import reading, transaction
from ledger.entry import EntryError, ParsedEntry, parse_entry
from ledger.keys import LogKey
from ledger.models import CheckpointRow, Entry, Log
from ledger.note import parse_vkey
from ledger.proof import ProofError, verify_inclusion
from ledger.tree import leaf_hash


class ReceiptError(ValueError):
    """A receipt that cannot be built or does not verify."""


def build_receipt(session: Session, log_id: int, seq: int, tree_size: int | None = None) -> dict:
    """Receipt for entry ``seq`` against the signed checkpoint of ``tree_size`` (default: the latest)."""
    row = (checkpoint.latest(session, log_id) if tree_size is None
           else checkpoint.at_size(session, log_id, tree_size))
    if row is None:
        raise ReceiptError("没有这个大小的签名检查点 / no signed checkpoint of that size")
    if not 0 <= seq < row.size:
        raise ReceiptError(f"第 {seq} 条不在检查点（{row.size} 条）内 / entry {seq} is not covered by "
                           f"the checkpoint of size {row.size}")
    entry = logs.get_entry(session, log_id, seq)
    proof = logs.inclusion_proof(session, log_id, seq, row.size)
    return {"origin": _origin(session, log_id), "seq": seq, "entry": entry.data.decode("utf-8"),
            "leaf_hash": entry.leaf_hash.hex(), "tree_size": row.size, "proof": [p.hex() for p in proof],
            "checkpoint": checkpoint.with_cosignatures(session, row)}


def after_append(engine: Engine, log_id: int, origin: str, entry: Entry, key: LogKey) -> dict:
    """Receipt for ``entry``, just appended and committed, against a checkpoint that covers it
    (SPEC §2.6, group-committed checkpoints).

    The newest signed checkpoint is used when its size is already beyond ``entry.seq`` (another
    caster signed it after this entry committed: concurrent casters share one signature);
    otherwise one of the log's current size is signed under the log lock (``checkpoint.sign``,
    with all its checks) — its size is ``entry.seq + 1`` or more.  Called after the entry's
    commit, so the entry is never lost when this fails: the receipt then simply is not given.
    """
    with reading(engine) as s:
        row = s.connection().execute(_NEWEST, {"log_id": log_id}).first()
        if row is not None and row.size > entry.seq:
            return receipt_at(s, log_id, origin, entry, row.size, row.note)
    with _signer(engine, log_id):  # this process's casters take turns to sign: one signature covers the waiters
        with reading(engine) as s:
            row = s.connection().execute(_NEWEST, {"log_id": log_id}).first()
            if row is not None and row.size > entry.seq:
                return receipt_at(s, log_id, origin, entry, row.size, row.note)
        return _sign_and_prove(engine, log_id, origin, entry, key)


_signers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # engine → {log id: lock}
_signers_lock = threading.Lock()


def _signer(engine: Engine, log_id: int) -> threading.Lock:
    with _signers_lock:
        return _signers.setdefault(engine, {}).setdefault(log_id, threading.Lock())


def _sign_and_prove(engine: Engine, log_id: int, origin: str, entry: Entry, key: LogKey) -> dict:
    with transaction(engine) as s:
        logs.lock(s, log_id)
        row = s.connection().execute(_NEWEST, {"log_id": log_id}).first()
        if row is not None and row.size > entry.seq:
            size, note = row.size, row.note
        else:
            size, note = checkpoint.sign_size(s, log_id, key)
        return receipt_at(s, log_id, origin, entry, size, note)


_NEWEST = (select(CheckpointRow.size, CheckpointRow.note).where(CheckpointRow.log_id == bindparam("log_id"))
           .order_by(CheckpointRow.size.desc()).limit(1))


def receipt_at(s: Session, log_id: int, origin: str, entry: Entry, size: int, note: str) -> dict:
    """Receipt for ``entry`` against the checkpoint ``note`` of ``size`` (> entry.seq), in ``s``'s
    transaction: the inclusion proof is read from the stored hashes (the caller makes sure the
    checkpoint is the log's, e.g. it signed it in that transaction)."""
    proof = tree.inclusion_proof(size, entry.seq, logs.hash_reader(s, log_id))
    return {"origin": origin, "seq": entry.seq, "entry": entry.data.decode("utf-8"),
            "leaf_hash": entry.leaf_hash.hex(), "tree_size": size, "proof": [p.hex() for p in proof],
            "checkpoint": note}


def consistency(session: Session, log_id: int, size1: int, size2: int) -> dict:
    """Consistency proof between two sizes of the log."""
    proof = logs.consistency_proof(session, log_id, size1, size2)
    return {"origin": _origin(session, log_id), "size1": size1, "size2": size2, "proof": [p.hex() for p in proof]}


def _origin(session: Session, log_id: int) -> str:
    return session.get(Log, log_id).origin


def verify_receipt(receipt: dict, vkey: str) -> ParsedEntry:
    """Check a receipt against the log's verifier key; return the entry it proves."""
    _check_shape(receipt)
    try:
        cp = open_checkpoint(receipt["checkpoint"], parse_vkey(vkey), receipt["origin"])
        if cp.size != receipt["tree_size"]:
            raise ReceiptError(f"checkpoint size {cp.size} is not tree_size {receipt['tree_size']}")
        data = receipt["entry"].encode("utf-8")
        entry = parse_entry(data)
        leaf = leaf_hash(data)
        if leaf.hex() != receipt["leaf_hash"] or entry.seq != receipt["seq"]:
            raise ReceiptError("entry does not match the receipt's leaf hash or seq")
        verify_inclusion(receipt["seq"], cp.size, leaf, [bytes.fromhex(p) for p in receipt["proof"]], cp.root)
    except (KeyError, TypeError, ValueError, RecursionError) as exc:
        if isinstance(exc, ReceiptError):
            raise
        kind = type(exc).__name__ if not isinstance(exc, (CheckpointError, EntryError, ProofError)) else ""
        raise ReceiptError(f"receipt does not verify: {kind} {exc}".replace("  ", " ")) from None
    return entry


_TEXT = ("origin", "entry", "leaf_hash", "checkpoint")


def _check_shape(receipt: object) -> None:
    """Each member of the right JSON type (ReceiptError otherwise), before anything is parsed."""
    if not isinstance(receipt, dict):
        raise ReceiptError("receipt does not verify: a receipt is a JSON object")
    for name in _TEXT:
        if not isinstance(receipt.get(name), str):
            raise ReceiptError(f"receipt does not verify: {name} must be a string")
    for name in ("seq", "tree_size"):
        value = receipt.get(name)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ReceiptError(f"receipt does not verify: {name} must be an integer")
    proof = receipt.get("proof")
    if not isinstance(proof, list) or not all(isinstance(p, str) for p in proof):
        raise ReceiptError("receipt does not verify: proof must be a list of hex strings")
