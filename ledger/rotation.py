"""Log-key rotation (SPEC §2.4): the ``log.key`` entry and the key in force for a checkpoint.

A ``log.key`` entry ``{"v": 1, "vkey": <new verifier key>, "reason": <text>}`` at seq r hands the
log over to a new key of the same name.  The hand-over checkpoint, of size r + 1 (the first that
covers the entry), carries two signatures, the old key's and the new key's; every later checkpoint
is signed by the new key alone.  The key in force for a checkpoint of size n is the vkey of the last
``log.key`` entry with seq < n, else the log key recorded by entry 0 (the ``estate`` entry).
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterable

from sqlalchemy import literal_column, select
from sqlalchemy.orm import Session

from ledger.models import Entry
from ledger.note import Note, NoteError, Signature, Signer, check_text, parse_vkey

LOG_KEY = "log.key"
ESTATE = "estate"
MARK = b'"type":"log.key"}'  # canonical JSON: "type" is the last member of every entry


class RotationError(ValueError):
    """A broken key chain: a bad log.key entry, or a log.key entry where it cannot be."""


def key_body(vkey: str, reason: str) -> dict:
    return {"v": 1, "vkey": vkey, "reason": reason}


def check_key_body(body: dict, previous: str) -> list[str]:
    """Problems of a log.key body, given the key in force before it."""
    problems = []
    if set(body) != {"v", "vkey", "reason"} or body.get("v") != 1:
        problems.append('log.key body must be {"v": 1, "vkey", "reason"}')
    if not isinstance(body.get("reason"), str):
        problems.append("log.key reason must be text")
    vkey = body.get("vkey")
    try:
        new = parse_vkey(vkey) if isinstance(vkey, str) else None
    except NoteError as exc:
        problems.append(f"log.key vkey: {exc}")
        return problems
    if new is None:
        problems.append("log.key vkey must be text")
    elif new.name != parse_vkey(previous).name:
        problems.append(f"log.key vkey is named {new.name!r}, the key it replaces {parse_vkey(previous).name!r}")
    elif vkey == previous:
        problems.append("log.key vkey is the key already in force")
    return problems


class KeyChain:
    """The log's keys: entry 0's, then one per log.key entry (seq, vkey), in log order."""

    def __init__(self, first: str, rotations: Iterable[tuple[int, str]] = ()) -> None:
        self.first = first
        self.rotations = sorted(rotations)
        self._seqs = [seq for seq, _ in self.rotations]

    def in_force(self, size: int) -> str:
        """The vkey of the last log.key entry with seq < size, else the first key."""
        i = bisect.bisect_left(self._seqs, size)
        return self.rotations[i - 1][1] if i else self.first

    def handover(self, size: int) -> tuple[str, str] | None:
        """(old key, new key) when ``size`` is a hand-over size (a log.key entry at seq size − 1)."""
        i = bisect.bisect_left(self._seqs, size - 1)
        if i < len(self._seqs) and self._seqs[i] == size - 1:
            return self.in_force(size - 1), self.rotations[i][1]
        return None


_IS_LOG_KEY = Entry.type == literal_column("'log.key'")  # a literal: the partial index of ledger_0005 applies


def db_rotations(session: Session, log_id: int, start: int = 0, stop: int | None = None) -> list[tuple[int, str]]:
    """(seq, vkey) of the log's log.key entries with start ≤ seq (< stop), from the database."""
    where = [Entry.log_id == log_id, _IS_LOG_KEY, Entry.seq >= start]
    if stop is not None:
        where.append(Entry.seq < stop)
    rows = session.execute(select(Entry.seq, Entry.data).where(*where).order_by(Entry.seq)).all()
    return [(seq, json.loads(data)["body"]["vkey"]) for seq, data in rows]


def first_key(session: Session, log_id: int) -> str | None:
    """The log key recorded by entry 0 (an estate entry), or None."""
    row = session.scalar(select(Entry.data).where(Entry.log_id == log_id, Entry.seq == 0))
    if row is None:
        return None
    entry = json.loads(row)
    return entry["body"].get("log_key") if entry.get("type") == ESTATE else None


def scan(lines: Iterable[bytes]) -> tuple[str | None, list[tuple[int, str]]]:
    """(entry 0's log key, [(seq, vkey) of log.key entries]) from a bundle's entries.jsonl lines.

    Unverified: the caller checks the entries against the signed roots afterwards, and the hand-over
    checkpoint of every rotation must carry the old key's signature."""
    first, found = None, []
    for seq, line in enumerate(lines):
        if seq == 0 or MARK in line:
            try:
                entry = json.loads(line)
                body = entry["body"]
            except (ValueError, KeyError, TypeError):
                continue
            if seq == 0 and entry.get("type") == ESTATE and isinstance(body, dict):
                first = body.get("log_key") if isinstance(body.get("log_key"), str) else None
            elif entry.get("type") == LOG_KEY and isinstance(body, dict) and isinstance(body.get("vkey"), str):
                found.append((seq, body["vkey"]))
    return first, found


def sign_note_by(text: str, signers: list[Signer]) -> str:
    """A note of ``text`` carrying one Ed25519 signature by each signer, in order."""
    check_text(text)
    data = text.encode("utf-8")
    sigs = tuple(Signature(s.name, s.verifier.key_id, s.sign(data)) for s in signers)
    return Note(text, sigs).render()


def rotate_site(engine, reason: str, new_key_file=None, say=lambda text: None):  # noqa: ANN001, ANN201
    """Rotate the site's log key (SPEC §2.4): every log first signed with the current key, the key file
    replaced (the old one kept as ``<file>.old-<id>``), then per non-empty log a log.key entry and its
    hand-over checkpoint signed by both keys.  Returns the new LogKey.  Run with the server stopped.
    Re-run after an interruption, it finishes the same rotation (logs whose last checkpoint is by a
    key kept as ``.old-<id>`` get their log.key entry) instead of starting another."""
    from ledger import checkpoint, keys
    from ledger import log as logs
    from ledger.db import reading, transaction
    from ledger.models import Log

    current = keys.log_key()
    with reading(engine) as session:
        log_ids = list(session.scalars(select(Log.id).order_by(Log.id)))
    pending = []  # logs an interrupted rotation left behind: signed by the kept old key, no log.key yet
    for log_id in log_ids:  # every entry so far covered by a checkpoint of the current key
        with transaction(engine) as session:
            if logs.size(session, log_id):
                last = checkpoint.latest(session, log_id)
                if last is not None and last.vkey != current.vkey:
                    if keys.old_key_path(keys.key_file(), last.vkey).exists():
                        pending.append(log_id)
                        continue
                    raise RotationError(f"log {log_id}: its last checkpoint is signed by {last.vkey}, not by the key "
                                        f"file's key {current.vkey}")
                if first_key(session, log_id) is None:
                    raise RotationError(f"log {log_id}: entry 0 is not an estate entry recording the log key")
                checkpoint.sign(session, log_id, current)
    if pending:
        new = current
        log_ids = pending
        say(f"继续未完成的轮换 / finishing an interrupted rotation to {new.vkey} for logs {pending}")
    else:
        old, new = keys.rotate_key_file(new_key_file=new_key_file)
        say(f"旧密钥保存在 / old key kept at {keys.old_key_path(keys.key_file(), old.vkey)}")
    for log_id in log_ids:
        with transaction(engine) as session:
            logs.lock_log(session, log_id)
            if not logs.size(session, log_id):
                continue
            logs.append(session, log_id, LOG_KEY, key_body(new.vkey, reason))
            size, _ = checkpoint.sign_size(session, log_id, new)
        say(f"log {log_id}: log.key at seq {size - 1}, hand-over checkpoint {size} signed by both keys")
    return new
