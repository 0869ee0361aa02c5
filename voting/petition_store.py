"""Proposals and petitions in the database: publish, co-sign, withdraw, respond (SPEC §9).

Every step is one transaction: lock the estate's log, replay the petition entries (``load_book``:
the ledger is the only state), check every rule of ``voting.petition.Book``, append the entry
(and, for the signature that first reaches the line, the ``petition.line`` entry right after
it), sign a checkpoint.  A refusal raises ``PetitionError`` and writes nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from identity import authority
from identity.models import Estate
from identity.scope import Scope
from ledger import checkpoint, keys, log
from ledger.db import Base
from ledger.entry import format_time, parse_entry
from ledger.models import Entry
from ledger.receipt import build_receipt
from voting import petition as pt
from voting.petition import PetitionError
from voting.round_record import ROUND

MAX_FILE = 4 * 1024 * 1024


class PetitionFile(Base):
    """An attachment's bytes, beside the ``petition`` entry that holds its SHA-256 (voting_0005)."""

    __tablename__ = "voting_petition_files"
    log_id: Mapped[int] = mapped_column(Integer, ForeignKey("ledger_logs.id"), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    media_type: Mapped[str] = mapped_column(String(100))
    data: Mapped[bytes] = mapped_column(LargeBinary)


@dataclass(frozen=True)
class Attachment:
    name: str
    media_type: str
    data: bytes


@dataclass(frozen=True)
class _ScopeOnly:
    scope: Scope


def _estate(session: Session, slug: str) -> Estate:
    estate = session.scalar(select(Estate).where(Estate.slug == slug))
    if estate is None or estate.log_id is None:
        raise PetitionError("no_estate", f"小区 '{slug}' 不存在 / no estate '{slug}'", 404)
    return estate


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now(UTC)).replace(microsecond=0)


def load_book(session: Session, log_id: int) -> tuple[pt.Book, set[str]]:
    """The estate's petitions replayed from its entries (no checks: they were checked when
    appended, and ``gongjue verify`` checks them again) and the ids of the announced rounds."""
    book = pt.Book()
    rounds: set[str] = set()
    rows = session.execute(select(Entry.seq, Entry.type, Entry.time, Entry.data)
                           .where(Entry.log_id == log_id, Entry.type.in_((*pt.TYPES, ROUND)))
                           .order_by(Entry.seq)).all()
    for r in rows:
        if r.type == ROUND:
            rounds.add(parse_entry(bytes(r.data)).body.get("round"))
            continue
        b = parse_entry(bytes(r.data)).body
        if r.type == pt.PETITION:
            book.petitions[b["petition"]] = pt.Petition(b, r.seq, r.time)
            book.hashes.add(b["hash"])
        elif r.type == pt.SIGN:
            book.petitions[b["petition"]].signers[b["voter"]] = r.seq
        elif r.type == pt.WITHDRAW:
            p = book.petitions[b["petition"]]
            p.signers.pop(b["voter"], None)
            p.withdrawn[b["voter"]] = r.seq
        elif r.type == pt.LINE:
            book.apply_line(b, r.seq)
        elif r.type == pt.RESPONSE:
            p = book.petitions[b["petition"]]
            p.response, p.response_seq = b, r.seq
    return book, rounds


def book(session: Session, slug: str) -> pt.Book:
    return load_book(session, _estate(session, slug).log_id)[0]


def answered_by(session: Session, slug: str, round_id: str) -> list[pt.Petition]:
    """The petitions whose committee response names round ``round_id`` (the round convened in
    answer to them), in log order; read from the replay, nothing is stored beside it."""
    return [p for p in book(session, slug).petitions.values()
            if p.response is not None and p.response.get("kind") == "round" and p.response.get("round") == round_id]


def scope_of(value: dict) -> Scope:
    return Scope(tuple(value.get("buildings", ())), tuple((u["building"], u["unit"]) for u in value.get("units", ())))


def publish(session: Session, slug: str, *, author: str, title: str, text: str, matter: str, scope: dict,
            attachments: list[Attachment], respond_days: int = pt.RESPOND_DAYS,
            now: datetime | None = None) -> tuple[pt.Petition, int]:
    """Publish an owner's proposal: the ``petition`` entry (SPEC §9.1); returns (petition, seq)."""
    from voting import rounds

    estate = _estate(session, slug)
    log.lock_log(session, estate.log_id)
    t = _now(now)
    the_book, _ = load_book(session, estate.log_id)
    pt.parse_scope(scope)
    try:
        roll_seq, roll_leaf, voters = rounds.snapshot(session, estate, _ScopeOnly(scope_of(scope)))
    except rounds.RoundError as e:
        raise PetitionError(e.code, e.message, e.status) from None
    files = []
    for a in attachments:
        if len(a.data) > MAX_FILE:
            raise PetitionError("too_large", f"附件 {a.name} 超过 4 MB / attachment {a.name} is larger than 4 MB", 413)
        files.append((a, hashlib.sha256(a.data).hexdigest()))
    text = text.replace("\r\n", "\n").replace("\r", "\n")  # a form's line breaks are CR LF
    body = {"v": 1, "petition": f"p{len(the_book.petitions) + 1}", "title": title.strip(), "text": text.strip(),
            "matter": matter, "scope": scope, "attachments": [{"name": a.name.strip(), "sha256": h} for a, h in files],
            "author": author, "roll": {"seq": roll_seq, "leaf_hash": roll_leaf},
            "voters": [{"voter": v, "area": w} for v, w in voters],
            "totals": {"heads": len(voters), "area": sum(w for _, w in voters)},
            "respond_days": respond_days, "hash": "0" * 64}
    pt.parse_petition(body)
    body["hash"] = pt.proposal_hash(estate.origin, body)
    p = the_book.publish(body, -1, format_time(t))
    entry = log.append(session, estate.log_id, pt.PETITION, body, time=t)
    for a, h in files:
        if session.get(PetitionFile, (estate.log_id, h)) is None:
            session.add(PetitionFile(log_id=estate.log_id, sha256=h, media_type=a.media_type[:100] or
                                     "application/octet-stream", data=a.data))
    session.flush()
    checkpoint.sign(session, estate.log_id, keys.log_key())
    p.seq = entry.seq
    return p, entry.seq


def record_signed(session: Session, slug: str, kind: str, petition_id: str, *, voter: str, key: str, sig: str,
                  by_voter: str, now: datetime | None = None) -> dict:
    """Append a co-signature or a withdrawal signed by the owner ``by_voter`` (SPEC §9.2); the
    receipt of its entry, plus ``line`` (the ``petition.line`` body) when this signature reached it."""
    if kind not in pt.SIGNED_TYPES:
        raise PetitionError("bad_request", f"unknown type {kind!r}", 422)
    b = {"v": 1, "petition": petition_id, "voter": voter, "key": key, "sig": sig}
    pt.parse_signed(b)
    if by_voter != voter:
        raise PetitionError("wrong_voter", "只能以本人的凭证签名 / an owner signs only for themselves", 403)
    estate = _estate(session, slug)
    log.lock_log(session, estate.log_id)
    t = _now(now)
    the_book, _ = load_book(session, estate.log_id)
    reg = authority.registry(session, slug)
    p = the_book.apply_signed(kind, b, -1, reg.key_of)
    entry = log.append(session, estate.log_id, kind, b, time=t)
    if kind == pt.SIGN:
        p.signers[voter] = entry.seq
    line = None
    if kind == pt.SIGN and the_book.line_due(p):
        line = pt.Book.line_body(p, entry.seq, t)
        log.append(session, estate.log_id, pt.LINE, line, time=t)
    checkpoint.sign(session, estate.log_id, keys.log_key())
    receipt = build_receipt(session, estate.log_id, entry.seq)
    return {**receipt, "line": line}


def respond(session: Session, slug: str, petition_id: str, *, kind: str, round_id: str | None, reason: str | None,
            now: datetime | None = None) -> int:
    """Record the committee's response (SPEC §9.5); returns its seq. The web layer checks the role."""
    b = {"v": 1, "petition": petition_id, "kind": kind, "round": round_id or None,
         "reason": (reason or "").strip() or None}
    pt.parse_response(b)
    estate = _estate(session, slug)
    log.lock_log(session, estate.log_id)
    the_book, rounds = load_book(session, estate.log_id)
    the_book.check_response(b, rounds)
    entry = log.append(session, estate.log_id, pt.RESPONSE, b, time=_now(now))
    checkpoint.sign(session, estate.log_id, keys.log_key())
    return entry.seq


def attachment(session: Session, slug: str, sha256: str) -> PetitionFile | None:
    estate = _estate(session, slug)
    return session.get(PetitionFile, (estate.log_id, sha256))
