"""Signed checkpoints (c2sp.org/tlog-checkpoint) of a log, and witness cosignatures.

A checkpoint's text is ``<origin>\\n<size>\\n<base64 root>\\n`` (no extension lines are written;
any are refused when parsing); the server signs it as a signed note with its Ed25519 log key
(ledger.note).  ``sign`` never signs a tree that is not consistent with the previous checkpoint
it signed: it re-hashes the new entries from their stored bytes (ledger.recheck), checks an RFC
9162 consistency proof from the stored hashes, and it keeps every checkpoint it signed.  Witnesses add ``cosignature/v1`` lines (``add_cosignature``).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import bindparam, insert, select
from sqlalchemy.orm import Session

from ledger import log as logs
from ledger import tree
from ledger.keys import LogKey
from ledger.models import CheckpointRow, Cosignature, Entry
from ledger.note import (
    Note,
    NoteError,
    Verifier,
    parse_note,
    parse_vkey,
    verify_cosignature,
    verify_note,
)
from ledger.proof import ProofError, verify_consistency
from ledger.rotation import sign_note_by
from ledger.tree import HASH_SIZE


class CheckpointError(ValueError):
    """A malformed checkpoint, or one the server refuses to sign."""


@dataclass(frozen=True)
class Checkpoint:
    """The three lines of a checkpoint body, and the note that carries them."""

    origin: str
    size: int
    root: bytes
    note: Note


def checkpoint_text(origin: str, size: int, root: bytes) -> str:
    """``<origin>\\n<size>\\n<base64 root>\\n``."""
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"


def parse_checkpoint(note_text: str) -> Checkpoint:
    """Parse a signed checkpoint note (signatures are not verified here)."""
    try:
        note = parse_note(note_text)
    except NoteError as exc:
        raise CheckpointError(f"not a signed note: {exc}") from None
    lines = note.text.split("\n")[:-1]
    if len(lines) != 3:
        raise CheckpointError(f"checkpoint body must have 3 lines (origin, size, root), has {len(lines)}")
    origin, size_text, root_text = lines
    if not origin:
        raise CheckpointError("empty origin line")
    if not size_text.isascii() or not size_text.isdigit() or (size_text != "0" and size_text[0] == "0"):
        raise CheckpointError(f"size {size_text!r} must be a decimal number without leading zeros")
    try:
        root = base64.b64decode(root_text, validate=True)
    except (binascii.Error, ValueError):
        raise CheckpointError("root is not valid base64") from None
    if len(root) != HASH_SIZE or base64.b64encode(root).decode() != root_text:
        raise CheckpointError("root must be the base64 of 32 bytes")
    return Checkpoint(origin, int(size_text), root, note)


def open_checkpoint(note_text: str, verifier: Verifier, origin: str | None = None) -> Checkpoint:
    """Parse a checkpoint and verify the log's signature (and the origin, when given)."""
    cp = parse_checkpoint(note_text)
    try:
        verify_note(cp.note, verifier)
    except NoteError as exc:
        raise CheckpointError(str(exc)) from None
    if origin is not None and cp.origin != origin:
        raise CheckpointError(f"checkpoint origin {cp.origin!r} is not {origin!r}")
    return cp


def sign(session: Session, log_id: int, key: LogKey) -> str:
    """Sign a checkpoint for the log's current size, after checking consistency with the last one.

    First the entries added since the last checkpoint are re-hashed from their stored bytes (leaf
    hash, prev chain, the stored hashes they complete: ledger.recheck), so an edited byte is
    never signed.  Idempotent: when the size has not changed since the last checkpoint, that
    checkpoint's note is returned.  Raises CheckpointError (naming the first bad entry) if the
    stored bytes do not give the stored hashes, if the stored tree does not extend the last
    signed one, or if ``key`` is not the key that signed the log's earlier checkpoints.
    """
    return sign_size(session, log_id, key)[1]


def sign_size(session: Session, log_id: int, key: LogKey, *, appended: Sequence[Entry] = (),
              origin: str | None = None) -> tuple[int, str]:
    """``sign``, returning (size, note) of the checkpoint it signed (or found already signed).

    ``appended``: the entries this very transaction appended, in order (``log.append``'s return
    values), when the caller knows them (the cast path). If they are the log's last entries they
    are not read back for the re-hash (SPEC §2.3): their bytes and hashes were made here, under the
    log lock, and no other writer can reach them before this transaction commits. Every entry
    before them since the last checkpoint is re-hashed as always.

    ``origin``: the log's origin, when this transaction already holds the log lock (``log.lock``
    returns it); the lock is then not taken again.
    """
    session.flush()  # what the session holds goes to the database first (Core statements follow)
    conn = session.connection()
    if origin is None:
        origin = logs.lock(session, log_id)
    # read under the lock, in a statement of their own (a statement that waited for the lock may read
    # an older snapshot): the log's size, so the stored hashes of every size ≤ it exist, and the last
    # checkpoint
    last = conn.execute(_SIZE_AND_LATEST, {"log_id": log_id}).first()
    if last is None:
        size = logs.size(session, log_id)  # no checkpoint yet
    else:
        size = 0 if last.top is None else last.top + 1
    if appended and appended[-1].seq >= size:
        raise logs.LogError(f"entry {appended[-1].seq} was appended but is not stored (log size {size}): "
                            "write the appends (log.Later.write) before signing")
    _recheck_new_entries(session, log_id, 0 if last is None else last.size, _first_appended(appended, size))
    root = tree.tree_hash(size, logs.hash_reader(session, log_id))
    signers = [key.signer]
    if last is not None:
        if last.vkey != key.vkey:
            signers = _handover_signers(session, log_id, last, size, key)
        if last.size == size and bytes(last.root) == root:
            return size, last.note
        _check_extends(session, log_id, last, size, root)
    note = sign_note_by(checkpoint_text(origin, size, root), signers)
    conn.execute(_INSERT, {"log_id": log_id, "size": size, "root": root, "note": note, "vkey": key.vkey,
                           "created_at": datetime.now(UTC)})
    return size, note


_LATEST = (select(CheckpointRow.size, CheckpointRow.root, CheckpointRow.note, CheckpointRow.vkey)
           .where(CheckpointRow.log_id == bindparam("log_id")).order_by(CheckpointRow.size.desc()).limit(1))
_SIZE_AND_LATEST = _LATEST.add_columns(logs.LAST_SEQ.scalar_subquery().label("top"))
_INSERT = insert(CheckpointRow)


def _handover_signers(session: Session, log_id: int, last: CheckpointRow, size: int, key: LogKey) -> list:
    """Signers of the checkpoint that first covers a log.key entry: the old key and the new one.

    Allowed only when the log holds, after the last checkpoint (seq ≥ its size), exactly one
    log.key entry, naming ``key``, and it is the last entry (the hand-over checkpoint has size seq + 1,
    SPEC §2.4); the old key is read from ``<key file>.old-<id>`` (SPEC §2.4)."""
    from ledger import keys, rotation

    found = rotation.db_rotations(session, log_id, last.size)
    if len(found) != 1 or found[0][1] != key.vkey or found[0][0] != size - 1:
        raise CheckpointError(f"this log's checkpoints are signed by {last.vkey}, not {key.vkey}, and no "
                              "log.key entry since the last checkpoint hands the log over to it: refusing to "
                              "sign with another key (check GONGJUE_LOG_KEY_FILE; rotate with gongjue log rotate-key)")
    try:
        old = keys.old_key(last.vkey)
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"the hand-over checkpoint needs the old key's signature: {exc}") from None
    return [old.signer, key.signer]


def _first_appended(appended: Sequence[Entry], size: int) -> int:
    """Where the run of ``appended`` begins if it is the tail ``seq`` … ``size``-1 of the log, else ``size``."""
    if not appended or appended[-1].seq != size - 1:
        return size
    first = appended[0].seq
    if any(e.seq != first + i for i, e in enumerate(appended)):
        return size
    return first


def _recheck_new_entries(session: Session, log_id: int, start: int, size: int) -> None:
    """Re-hash the entries added since the last checkpoint from their stored bytes (ledger.recheck)."""
    from ledger.recheck import (
        recheck,  # ledger.recheck reads checkpoints: imported here, not at the top
    )

    if start >= size:
        return  # nothing new; or a shrunk log: _check_extends refuses it with the sizes
    found = recheck(session, log_id, start, size)
    if found is not None:
        raise CheckpointError(f"账本存储与条目字节不符，拒绝签署 / the stored log does not match its entry bytes, "
                              f"refusing to sign: {found.message}")


def _check_extends(session: Session, log_id: int, last: CheckpointRow, size: int, root: bytes) -> None:
    """Refuse to sign unless the tree (size, root) is consistent with checkpoint ``last``."""
    if size < last.size:
        raise CheckpointError(f"log shrank from {last.size} to {size} entries: refusing to sign")
    try:
        if last.size == 0:
            verify_consistency(0, 0, last.root, last.root, [])
        else:
            proof = tree.consistency_proof(size, last.size, logs.hash_reader(session, log_id))
            verify_consistency(last.size, size, last.root, root, proof)
    except (ProofError, logs.LogError) as exc:
        raise CheckpointError(f"stored log is not consistent with checkpoint {last.size}: {exc}; refusing to sign") from None


def latest(session: Session, log_id: int) -> CheckpointRow | None:
    """The last checkpoint signed for the log."""
    return session.scalars(
        select(CheckpointRow).where(CheckpointRow.log_id == log_id).order_by(CheckpointRow.size.desc()).limit(1)
    ).one_or_none()


def history(session: Session, log_id: int) -> list[CheckpointRow]:
    """Every checkpoint signed for the log, smallest size first."""
    return list(session.scalars(select(CheckpointRow).where(CheckpointRow.log_id == log_id)
                                .order_by(CheckpointRow.size)))


def at_size(session: Session, log_id: int, size: int) -> CheckpointRow | None:
    """The checkpoint signed for ``size``, or None (also for a size beyond 2^63−1)."""
    if not logs.in_range(size):
        return None
    return session.scalars(select(CheckpointRow).where(CheckpointRow.log_id == log_id,
                                                       CheckpointRow.size == size)).one_or_none()


def with_cosignatures(session: Session, row: CheckpointRow) -> str:
    """The checkpoint note with every witness cosignature line appended."""
    lines = session.scalars(select(Cosignature.line).where(Cosignature.checkpoint_id == row.id)
                            .order_by(Cosignature.id)).all()
    return row.note + "".join(lines)


def cosignature_count(session: Session, row: CheckpointRow) -> int:
    """How many witnesses cosigned ``row``."""
    return len(session.scalars(select(Cosignature.id).where(Cosignature.checkpoint_id == row.id)).all())


def cosigned(session: Session, row: CheckpointRow, witness_vkey: str) -> bool:
    """Whether the witness with ``witness_vkey`` already cosigned ``row``."""
    return session.scalar(select(Cosignature.id).where(Cosignature.checkpoint_id == row.id,
                                                       Cosignature.witness == witness_vkey)) is not None


def add_cosignature(session: Session, row: CheckpointRow, witness_vkey: str, line: str) -> None:
    """Record a witness's cosignature line on ``row`` after verifying it."""
    verifier = parse_vkey(witness_vkey)
    note = parse_note(row.note + line)
    verify_cosignature(note, verifier)
    session.add(Cosignature(checkpoint_id=row.id, witness=witness_vkey, line=line, created_at=datetime.now(UTC)))
    session.flush()
