"""Consultations on the server (SPEC §10): announce, respond, moderate, close, read.

Every write runs in one transaction under the log lock: the estate's consultation entries are
replayed (``voting.consultation.Book`` in strict mode, the verifier's own rules), the new entry
is tried on that replay — a refusal raises ``ConsultError`` with a stable code and nothing is
written — then appended with a signed checkpoint.  Free text is kept beside the ledger in
``voting_consult_texts`` (text and salt, erasable); the ledger holds only its commitment.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, Session, mapped_column

from identity import authority, record
from identity.models import Estate
from ledger import checkpoint, keys, log
from ledger.db import Base, reading, transaction
from ledger.entry import ParsedEntry, format_time, parse_entry
from ledger.models import Entry
from ledger.receipt import build_receipt
from voting import consultation as cs
from voting import follow
from voting.consultation import ConsultError

READ_TYPES = (record.ESTATE, record.ROLL, *authority.ENTRY_TYPES, *cs.TYPES, *follow.TYPES, "round.result")
SALT_RE = re.compile(r"[0-9a-f]{32}\Z")


class ConsultText(Base):
    """A response's free text beside the ledger (SPEC §10.2): erasable; the ledger keeps the commitment."""

    __tablename__ = "voting_consult_texts"
    log_id: Mapped[int] = mapped_column(ForeignKey("ledger_logs.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    consult: Mapped[str] = mapped_column(String(63))
    commitment: Mapped[str] = mapped_column(String(64))
    salt: Mapped[str | None] = mapped_column(String(32), nullable=True)
    text: Mapped[str | None] = mapped_column(Text, nullable=True)
    erased_at: Mapped[int | None] = mapped_column(Integer, nullable=True)


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)


def estate_of(session: Session, slug: str) -> Estate:
    estate = session.scalar(select(Estate).where(Estate.slug == slug))
    if estate is None or estate.log_id is None:
        raise ConsultError("not_found", f"小区 '{slug}' 不存在 / no estate '{slug}'", 404)
    return estate


def entries(session: Session, log_id: int, types=READ_TYPES) -> list[ParsedEntry]:
    rows = session.scalars(select(Entry.data).where(Entry.log_id == log_id, Entry.type.in_(tuple(types)))
                           .order_by(Entry.seq))
    return [parse_entry(bytes(d)) for d in rows]


def book(session: Session, log_id: int, *, strict: bool = False) -> cs.Book:
    b = cs.replay(entries(session, log_id))
    b.strict = strict
    b.follows.strict = strict
    return b


def trial(session: Session, log_id: int, bk, entry_type: str, body: dict, now: datetime) -> None:
    """Apply the entry about to be appended to the strict replay ``bk`` (raises on any rule)."""
    size = log.size(session, log_id)
    last = log.get_entry(session, log_id, size - 1) if size else None
    prev = bytes(last.leaf_hash).hex() if last is not None else "0" * 64
    bk.apply(ParsedEntry(size, prev, entry_type, format_time(now), body))


def append(session: Session, log_id: int, entry_type: str, body: dict, now: datetime) -> dict:
    entry = log.append(session, log_id, entry_type, body, time=now)
    checkpoint.sign(session, log_id, keys.log_key())
    return build_receipt(session, log_id, entry.seq)


def owner_text(text: str) -> str:
    """An owner's free text as committed (SPEC §10.2): NFC, trimmed, 1–1000 characters, line breaks
    allowed, no other control, format, private-use or unassigned character; else ConsultError(bad_text)."""
    clean = unicodedata.normalize("NFC", text).strip()
    if not 1 <= len(clean) <= cs.MAX_TEXT:
        raise ConsultError("bad_text", f"文字意见须为 1–{cs.MAX_TEXT} 字 / a free text of 1–{cs.MAX_TEXT} characters")
    for ch in clean:
        if ch != "\n" and unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs", "Cn"):
            raise ConsultError("bad_text", f"文字含有控制字符 U+{ord(ch):04X} / the text holds a control character "
                                           f"U+{ord(ch):04X}")
    return clean


# --- announce -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """What staff give to announce a consultation (SPEC §10.1)."""

    consult: str
    title: str
    questions: list[dict]
    free_text: bool
    anonymous: bool
    opens: datetime
    closes: datetime
    follow: str | None = None


def announce(engine: Engine, slug: str, spec: Spec, *, now: datetime | None = None) -> dict:
    """Append the ``consult`` entry; the receipt."""
    now = _now(now)
    if not isinstance(spec.consult, str) or cs.ID_RE.match(spec.consult) is None:
        raise ConsultError("bad_request", "编号须为小写字母、数字和连字符 / id: lowercase letters, digits and hyphens")
    opens = max(_now(spec.opens), now)
    with transaction(engine) as s:
        estate = estate_of(s, slug)
        log.lock_log(s, estate.log_id)
        bk = book(s, estate.log_id, strict=True)
        if bk.roll is None:
            raise ConsultError("no_roll", f"小区 '{slug}' 还没有名册 / estate '{slug}' has no roll yet", 409)
        if spec.consult in bk.consults:
            raise ConsultError("duplicate", f"编号 {spec.consult} 已用过 / the id {spec.consult} is taken", 409)
        weights = record.voter_weights(bk.roll[2])
        body = cs.consult_body(consult_id=spec.consult, title=spec.title, questions=spec.questions,
                               free_text=spec.free_text, anonymous=spec.anonymous, follow=spec.follow,
                               opens=format_time(opens), closes=format_time(_now(spec.closes)), roll_seq=bk.roll[0],
                               roll_leaf_hash=bk.roll[1], voters=list(weights.items()))
        trial(s, estate.log_id, bk, cs.CONSULT, body, now)
        return append(s, estate.log_id, cs.CONSULT, body, now)


# --- respond --------------------------------------------------------------------------------


def respond(engine: Engine, slug: str, consult_id: str, payload: object, *, voter: str, factor: str,
            now: datetime | None = None) -> dict:
    """Append an owner's ``consult.response`` (SPEC §10.2).  ``payload``: {statement, key, sig,
    text?, salt?} as the owner's browser sent it; ``voter``/``factor``: the owner session's."""
    now = _now(now)
    if not isinstance(payload, dict) or not {"statement", "key", "sig"} <= set(payload) \
            or not set(payload) <= {"statement", "key", "sig", "text", "salt"}:
        raise ConsultError("bad_request", "须为 {statement, key, sig, text?, salt?} / expected {statement, key, sig, "
                                          "text?, salt?}")
    st = payload["statement"]
    text = payload.get("text")
    salt = payload.get("salt")
    commitment = st.get("text") if isinstance(st, dict) else None
    clean = None
    if commitment is not None:
        if not isinstance(text, str) or not isinstance(salt, str) or SALT_RE.match(salt) is None:
            raise ConsultError("bad_text", "文字意见须附原文和随机盐 / a free text needs its text and salt")
        clean = owner_text(text)
        if not clean or clean != text or cs.text_commitment(salt, text) != commitment:
            raise ConsultError("bad_text", "文字与签名中的承诺值不符 / the text does not match the signed commitment")
    elif text not in (None, "") or salt is not None:
        raise ConsultError("bad_text", "签名中没有文字意见的承诺值 / the signed statement holds no text commitment")
    body = {"v": 1, "consult": consult_id, "statement": st, "key": payload["key"], "sig": payload["sig"],
            "factor": factor}
    with transaction(engine) as s:
        estate = estate_of(s, slug)
        log.lock_log(s, estate.log_id)
        bk = book(s, estate.log_id, strict=True)
        c = bk.consults.get(consult_id)
        if c is None:
            raise ConsultError("not_found", f"没有意见征集 {consult_id} / no consultation {consult_id}", 404)
        if c.state(now) != "open":
            raise ConsultError("not_open", f"意见征集 {consult_id} 现在不接受回答 / consultation {consult_id} is not "
                                           "taking responses now", 409)
        key = payload["key"]
        holder = bk.registry.voter_of(key) if isinstance(key, str) else None
        if holder is not None and holder != voter:
            raise ConsultError("wrong_voter", "签名的凭证不属于已登录的业主 / the key that signed is not the signed-in "
                                              "owner's", 403)
        trial(s, estate.log_id, bk, cs.RESPONSE, body, now)
        receipt = append(s, estate.log_id, cs.RESPONSE, body, now)
        if commitment is not None:
            s.add(ConsultText(log_id=estate.log_id, seq=receipt["seq"], consult=consult_id, commitment=commitment,
                              salt=salt, text=clean))
        return receipt


# --- moderate, close, erase -----------------------------------------------------------------


def moderate(engine: Engine, slug: str, consult_id: str, seq: int, decision: str, reason: str | None, *,
             now: datetime | None = None) -> dict:
    """Publish or withhold the free text of response ``seq`` (SPEC §10.3)."""
    now = _now(now)
    with transaction(engine) as s:
        estate = estate_of(s, slug)
        log.lock_log(s, estate.log_id)
        bk = book(s, estate.log_id, strict=True)
        c = bk.consults.get(consult_id)
        if c is None or seq not in c.texts:
            raise ConsultError("not_found", f"第 {seq} 条不是本次征集中带文字的回答 / entry {seq} is not a response "
                                            "with text in this consultation", 404)
        row = s.get(ConsultText, (estate.log_id, seq))
        if decision == "publish" and (row is None or row.text is None):
            raise ConsultError("erased", "原文已删除，不能公开 / the text was erased: it cannot be published", 409)
        body = {"v": 1, "consult": consult_id, "response": seq, "text": c.texts[seq], "decision": decision,
                "reason": reason if decision == "withhold" else None}
        trial(s, estate.log_id, bk, cs.MODERATE, body, now)
        return append(s, estate.log_id, cs.MODERATE, body, now)


def close(engine: Engine, slug: str, consult_id: str, *, now: datetime | None = None) -> dict:
    """Append the ``consult.close`` with the recomputed counts (SPEC §10.4), at or after the window's end."""
    now = _now(now)
    with transaction(engine) as s:
        estate = estate_of(s, slug)
        log.lock_log(s, estate.log_id)
        bk = book(s, estate.log_id, strict=True)
        c = bk.consults.get(consult_id)
        if c is None:
            raise ConsultError("not_found", f"没有意见征集 {consult_id} / no consultation {consult_id}", 404)
        if c.close is not None:
            raise ConsultError("already_closed", "已统计过 / already counted", 409)
        if c.state(now) != "closed":
            raise ConsultError("window_open", "征集期尚未结束 / the window has not ended yet", 409)
        (heads, area), counts = c.counts()
        body = {"v": 1, "consult": consult_id, "responses": heads, "participation": {"heads": heads, "area": area},
                "counts": counts}
        trial(s, estate.log_id, bk, cs.CLOSE, body, now)
        return append(s, estate.log_id, cs.CLOSE, body, now)


def due(session: Session, slug: str, now: datetime | None = None) -> list[str]:
    """The consultations whose window has ended and which have no ``consult.close`` yet, in log
    order (the count scheduler closes them, ``voting.scheduler``).  Reads the announcements and
    closes only, no responses."""
    stamp = format_time(_now(now))
    estate = session.scalar(select(Estate).where(Estate.slug == slug))
    if estate is None or estate.log_id is None:
        return []
    announced, closed = [], set()
    for e in entries(session, estate.log_id, (cs.CONSULT, cs.CLOSE)):
        body = e.body if isinstance(e.body, dict) else {}
        if e.type == cs.CLOSE:
            closed.add(body.get("consult"))
            continue
        window = body.get("window")
        closes = window.get("closes") if isinstance(window, dict) else None
        if isinstance(body.get("consult"), str) and isinstance(closes, str) and closes <= stamp:
            announced.append(body["consult"])
    return [c for c in announced if c not in closed]


def erase_text(engine: Engine, slug: str, seq: int, *, now: datetime | None = None) -> bool:
    """Erase a response's text and salt beside the ledger (the commitment stays); True if erased."""
    with transaction(engine) as s:
        estate = estate_of(s, slug)
        row = s.get(ConsultText, (estate.log_id, seq))
        if row is None or row.text is None:
            return False
        row.text, row.salt, row.erased_at = None, None, int(_now(now).timestamp())
        return True


# --- reading --------------------------------------------------------------------------------


def load(engine: Engine, slug: str) -> tuple[Estate, cs.Book]:
    with reading(engine) as s:
        estate = estate_of(s, slug)
        s.expunge(estate)
        return estate, book(s, estate.log_id)


def texts(engine: Engine, log_id: int, seqs: list[int]) -> dict[int, ConsultText]:
    """The stored texts of response ``seqs`` (erased ones have text None)."""
    if not seqs:
        return {}
    with reading(engine) as s:
        rows = s.scalars(select(ConsultText).where(ConsultText.log_id == log_id, ConsultText.seq.in_(seqs))).all()
        for r in rows:
            s.expunge(r)
        return {r.seq: r for r in rows}
