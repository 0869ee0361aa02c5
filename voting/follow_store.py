"""Follow-through on the server (SPEC §11): open a record for a passed decision, post status
updates with documents, record spending, complete it; the documents beside the ledger.

Each write: one transaction under the log lock, the estate's follow-through entries replayed in
strict mode (``voting.follow.Book``: the verifier's own rules), the new entry tried on it — a
refusal raises ``FollowError`` with a stable code and nothing is written — then appended with a
signed checkpoint.  Documents are stored in ``voting_follow_documents`` by SHA-256 in the same
transaction; the ledger names them by name and hash only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, Session, mapped_column

from ledger import log
from ledger.db import Base, reading, transaction
from voting import follow as fw
from voting.consultation_store import append, entries, estate_of, trial
from voting.follow import FollowError

READ_TYPES = (*fw.TYPES, "round.result")
MAX_DOCUMENT = 10 * 1024 * 1024


class FollowDocument(Base):
    """A document of a follow-through entry, by SHA-256 (beside the ledger, public like the record)."""

    __tablename__ = "voting_follow_documents"
    log_id: Mapped[int] = mapped_column(ForeignKey("ledger_logs.id"), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    added_at: Mapped[int] = mapped_column(Integer)


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)


def _book(session: Session, log_id: int, *, strict: bool = False) -> fw.Book:
    b = fw.replay(entries(session, log_id, READ_TYPES))
    b.strict = strict
    return b


def _documents(session: Session, log_id: int, files: list[tuple[str, bytes]], now: datetime) -> list[dict]:
    out = []
    for name, data in files:
        if len(data) > MAX_DOCUMENT:
            raise FollowError("too_large", f"文件 {name} 超过 10 MB / file {name} is larger than 10 MB", 413)
        digest = hashlib.sha256(data).hexdigest()
        if session.get(FollowDocument, (log_id, digest)) is None:
            session.add(FollowDocument(log_id=log_id, sha256=digest, name=name[:200], size=len(data), data=data,
                                       added_at=int(now.timestamp())))
        out.append({"name": name, "sha256": digest})
    return out


def _write(engine: Engine, slug: str, entry_type: str, make, files: list[tuple[str, bytes]],
           now: datetime | None) -> dict:
    now = _now(now)
    with transaction(engine) as s:
        estate = estate_of(s, slug)
        log.lock_log(s, estate.log_id)
        bk = _book(s, estate.log_id, strict=True)
        docs = _documents(s, estate.log_id, files, now)
        body = make(bk, docs)
        trial(s, estate.log_id, bk, entry_type, body, now)
        s.flush()
        return append(s, estate.log_id, entry_type, body, now)


@dataclass(frozen=True)
class Opening:
    """What staff give to open a record (SPEC §11.1); ``amount`` in 0.01 yuan or None."""

    follow: str
    round: str
    item: str
    title: str
    responsible: str
    amount: int | None
    milestones: list[dict]


def open_record(engine: Engine, slug: str, spec: Opening, *, now: datetime | None = None) -> dict:
    def make(bk: fw.Book, _docs: list) -> dict:
        result = next((seq for seq, (rid, _) in sorted(bk.results.items()) if rid == spec.round), None)
        if result is None:
            raise FollowError("not_decided", f"轮次 {spec.round} 还没有公布结果 / round {spec.round} has no "
                                             "published result", 409)
        return {"v": 1, "follow": spec.follow, "decision": {"round": spec.round, "item": spec.item, "result": result},
                "title": spec.title, "responsible": spec.responsible, "amount": spec.amount,
                "milestones": spec.milestones}
    return _write(engine, slug, fw.FOLLOW, make, [], now)


def update(engine: Engine, slug: str, follow_id: str, *, status: str, milestone: str | None, text: str,
           files: list[tuple[str, bytes]] = (), now: datetime | None = None) -> dict:
    return _write(engine, slug, fw.UPDATE, lambda _bk, docs: {
        "v": 1, "follow": follow_id, "milestone": milestone, "status": status, "text": text, "documents": docs},
        list(files), now)


def spend(engine: Engine, slug: str, follow_id: str, *, amount: int, payee: str, purpose: str,
          overrun_reason: str | None = None, files: list[tuple[str, bytes]] = (),
          now: datetime | None = None) -> dict:
    def make(bk: fw.Book, docs: list) -> dict:
        rec = bk.records.get(follow_id)
        total = (rec.total if rec is not None else 0) + amount
        over = rec is not None and rec.amount is not None and total > rec.amount
        return {"v": 1, "follow": follow_id, "amount": amount, "payee": payee, "purpose": purpose, "documents": docs,
                "total": total, "overrun": {"reason": overrun_reason} if over and overrun_reason else None}
    return _write(engine, slug, fw.SPEND, make, list(files), now)


def complete(engine: Engine, slug: str, follow_id: str, *, text: str, files: list[tuple[str, bytes]] = (),
             now: datetime | None = None) -> dict:
    def make(bk: fw.Book, docs: list) -> dict:
        rec = bk.records.get(follow_id)
        return {"v": 1, "follow": follow_id, "spent": rec.total if rec is not None else 0, "text": text,
                "documents": docs}
    return _write(engine, slug, fw.COMPLETE, make, list(files), now)


# --- reading --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """A passed item of a published result (what a record can be opened for)."""

    round: str
    item: str
    title: str
    matter: str
    result: int
    follow: str | None


def load(engine: Engine, slug: str) -> tuple[object, fw.Book, list[Decision]]:
    """(estate, the replayed book, every passed decision in log order with its record id or None)."""
    with reading(engine) as s:
        estate = estate_of(s, slug)
        s.expunge(estate)
        bk = _book(s, estate.log_id)
        rounds = {e.body.get("round"): e.body for e in entries(s, estate.log_id, ("round",))}
    out = []
    for seq, (rid, body) in sorted(bk.results.items()):
        agenda = (rounds.get(rid) or {}).get("agenda") or {}
        tallied = body.get("tally", {}).get("items") or {}
        order = [i.get("id") for i in agenda.get("items", []) if isinstance(i, dict)]
        by_id = {i.get("id"): i for i in agenda.get("items", []) if isinstance(i, dict)}
        for item_id in order + sorted(set(tallied) - set(order)):  # agenda order (the entry's keys are sorted)
            item = tallied.get(item_id)
            if isinstance(item, dict) and item.get("outcome") in fw.PASSED:
                a = by_id.get(item_id, {})
                out.append(Decision(rid, item_id, a.get("title") or item_id, a.get("matter", ""), seq,
                                    bk.decided.get((rid, item_id))))
    return estate, bk, out


def document(engine: Engine, slug: str, digest: str) -> FollowDocument | None:
    with reading(engine) as s:
        estate = estate_of(s, slug)
        row = s.get(FollowDocument, (estate.log_id, digest))
        if row is not None:
            s.expunge(row)
        return row
