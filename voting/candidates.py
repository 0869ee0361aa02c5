"""Candidates of a round's elections: nominated, vetted, fixed and published in the announcement.

Decision (SPEC §7.7): the candidates are fixed **in** the ``round`` entry.  Before the
announcement, nominations and their vetting live beside the draft (``voting_candidates``);
announcing a round with an election writes every nomination of it — who nominated (the
organiser, owners jointly, or the candidate), the SHA-256 of the candidate's statement, the
owners' signatures, the vetting status and note — into the entry's ``candidates`` member, and
refuses unless the approved candidates of each election item are exactly the item's candidates.
So the ballot's candidates, the nominations behind them and the statements' hashes are one
entry that every ballot's fingerprint covers, and publication (the announcement) comes at least
``CANDIDATE_DAYS`` (7) days before voting opens.  The statement texts are served beside the
ledger (``GET /api/v1/estates/<slug>/rounds/<id>``); anyone compares their hashes.

Signatures (owners' joint nominations and self-nominations): Ed25519 by a voter's registered
credential key over ``"gongjue/v1/nomination" ‖ 0x00 ‖ JCS({"estate": origin, "round", "item",
"candidate", "statement": sha256 hex})``.  At the announcement each signing key must be the
current, unrevoked key of a distinct voter of the round's snapshot (``identity.authority.Registry``
at that point of the log): a joint nomination needs ``cosigners`` of them, a self-nomination
exactly one (the candidate's own).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime

import nacl.exceptions
import nacl.signing
import rfc8785
from sqlalchemy import DateTime, Integer, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from identity.authority import Registry
from ledger.db import Base
from voting.agenda import Agenda
from voting.lifecycle import CANDIDATE_DAYS, MAX_NOTE, NOMINATED_BY, VETTING, notice_days
from voting.rounds import RoundError, _estate, _now, open_draft

DOMAIN = b"gongjue/v1/nomination"
MAX_STATEMENT = 20000


class Candidate(Base):
    """One nomination of a draft round's election item (migration ``voting_0001``)."""

    __tablename__ = "voting_candidates"
    __table_args__ = (UniqueConstraint("estate_slug", "round_id", "item", "candidate"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    estate_slug: Mapped[str] = mapped_column(String(64), nullable=False)
    round_id: Mapped[str] = mapped_column(String(64), nullable=False)
    item: Mapped[str] = mapped_column(String(64), nullable=False)
    candidate: Mapped[str] = mapped_column(String(64), nullable=False)
    nominated_by: Mapped[str] = mapped_column(String(16), nullable=False)  # organiser | owners | self
    statement: Mapped[str] = mapped_column(Text, nullable=False)
    statement_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    signatures: Mapped[str] = mapped_column(Text, nullable=False)  # JSON [{key, sig}]
    status: Mapped[str | None] = mapped_column(String(16), nullable=True)  # None until vetted
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_by: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    vetted_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    vetted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


def statement_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def nomination_message(origin: str, round_id: str, item: str, candidate: str, statement_sha256: str) -> bytes:
    """The bytes each owner signs for a nomination (SPEC §7.7)."""
    return DOMAIN + b"\x00" + rfc8785.dumps({"estate": origin, "round": round_id, "item": item,
                                             "candidate": candidate, "statement": statement_sha256})


def sign_nomination(key: nacl.signing.SigningKey, origin: str, round_id: str, item: str, candidate: str,
                    statement: str) -> dict:
    """``{"key", "sig"}`` of one owner's signature (what an owner's browser or tool makes)."""
    msg = nomination_message(origin, round_id, item, candidate, statement_hash(statement))
    return {"key": key.verify_key.encode().hex(), "sig": key.sign(msg).signature.hex()}


def _err(code: str, message: str, status: int = 409) -> RoundError:
    return RoundError(code, message, status)


def _open_draft(session: Session, slug: str, round_id: str) -> tuple[object, dict]:
    estate, row = open_draft(session, slug, round_id, ("候选人已确定", "its candidates are fixed"))
    return estate, json.loads(row.spec)


def _election(spec: dict, item: str) -> None:
    if not any(i["id"] == item and i["kind"] == "election" for i in spec["agenda"]["items"]):
        raise _err("bad_nomination", f"议程中没有选举事项 {item} / the agenda has no election item {item!r}", 422)


def check_signatures(origin: str, round_id: str, item: str, candidate: str, sha256: str, signatures: object,
                     registry: Registry, voters: Iterable[str] | None = None) -> list[str]:
    """The voters who signed, in order; RoundError ``bad_signature`` / ``not_eligible`` /
    ``revoked_credential`` / ``duplicate_signer`` naming the signature."""
    if not isinstance(signatures, list):
        raise _err("bad_nomination", "signatures 须为 [{key, sig}] / signatures must be a list of {key, sig}", 422)
    allowed = set(voters) if voters is not None else None
    msg = nomination_message(origin, round_id, item, candidate, sha256)
    signers: list[str] = []
    for i, s in enumerate(signatures):
        if not (isinstance(s, dict) and set(s) == {"key", "sig"} and isinstance(s["key"], str)
                and isinstance(s["sig"], str)):
            raise _err("bad_nomination", f"signatures[{i}] 须为 {{key, sig}} / signatures[{i}] must be {{key, sig}}", 422)
        try:
            nacl.signing.VerifyKey(bytes.fromhex(s["key"])).verify(msg, bytes.fromhex(s["sig"]))
        except (ValueError, nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, TypeError):
            raise _err("bad_signature", f"第 {i + 1} 个签名无效 / signature {i + 1} does not verify for this "
                                        "nomination", 422) from None
        voter = registry.voter_of(s["key"])
        if voter is None:
            code = "revoked_credential" if registry.revoked(s["key"]) else "not_eligible"
            raise _err(code, f"第 {i + 1} 个签名的凭证未登记或已注销 / signature {i + 1}: the key is not a current "
                             "registered credential", 422)
        if allowed is not None and voter not in allowed:
            raise _err("not_eligible", f"第 {i + 1} 个签名人不在本轮投票范围内 / signature {i + 1}: the voter is not "
                                       "in the round's scope", 422)
        if voter in signers:
            raise _err("duplicate_signer", f"第 {i + 1} 个签名与前面的签名属于同一业主 / signature {i + 1}: the same "
                                           "voter signed twice", 422)
        signers.append(voter)
    return signers


def nominate(session: Session, slug: str, round_id: str, *, item: str, candidate: str, nominated_by: str,
             statement: str, signatures: list | None = None, by: str, registry: Registry | None = None,
             now: datetime | None = None) -> None:
    """Record a nomination of a draft round's election item (database only, until the announcement).

    ``nominated_by``: ``organiser`` (no signature), ``owners`` (at least the draft's ``cosigners``
    owners' signatures) or ``self`` (one signature, the candidate's own credential).
    """
    from identity import authority

    estate, spec = _open_draft(session, slug, round_id)
    _election(spec, item)
    if not (isinstance(candidate, str) and 0 < len(candidate) <= 64 and candidate == candidate.strip()
            and ";" not in candidate and "；" not in candidate):
        raise _err("bad_nomination", "候选人名称须为 1–64 个字符，不含分号 / the candidate must be 1–64 characters "
                                     "without ';'", 422)
    if nominated_by not in NOMINATED_BY:
        raise _err("bad_nomination", "nominated_by 须为 organiser、owners 或 self / nominated_by must be organiser, "
                                     "owners or self", 422)
    if not isinstance(statement, str) or len(statement) > MAX_STATEMENT:
        raise _err("bad_nomination", f"候选人陈述须为不超过 {MAX_STATEMENT} 个字符的文本 / the statement must be a "
                                     f"text of at most {MAX_STATEMENT} characters", 422)
    sigs = list(signatures or [])
    need = {"organiser": (0, 0), "self": (1, 1), "owners": (spec["cosigners"], None)}[nominated_by]
    if len(sigs) < need[0] or (need[1] is not None and len(sigs) > need[1]):
        raise _err("not_enough_signatures",
                   f"{nominated_by} 推荐需要 {need[0]} 个业主签名，收到 {len(sigs)} 个 / a nomination by {nominated_by} "
                   f"needs {need[0]}{'' if need[1] is not None else ' or more'} owner signatures, got {len(sigs)}", 422)
    sha = statement_hash(statement)
    reg = registry or authority.registry(session, slug)
    check_signatures(estate.origin, round_id, item, candidate, sha, sigs, reg)
    exists = session.scalar(select(Candidate).where(Candidate.estate_slug == slug, Candidate.round_id == round_id,
                                                    Candidate.item == item, Candidate.candidate == candidate))
    if exists is not None:
        raise _err("candidate_exists", f"{candidate} 已被提名 / {candidate!r} is already nominated for {item}")
    session.add(Candidate(estate_slug=slug, round_id=round_id, item=item, candidate=candidate,
                          nominated_by=nominated_by, statement=statement, statement_sha256=sha,
                          signatures=json.dumps(sigs), status=None, note="", created_by=by, created_at=_now(now)))
    session.flush()


def vet(session: Session, slug: str, round_id: str, *, item: str, candidate: str, status: str, note: str = "",
        by: str, now: datetime | None = None) -> None:
    """Record the vetting of a nomination (``approved`` or ``rejected``, with a note) before the
    announcement; a later vetting replaces an earlier one (the announcement records the last)."""
    _open_draft(session, slug, round_id)
    row = session.scalar(select(Candidate).where(Candidate.estate_slug == slug, Candidate.round_id == round_id,
                                                 Candidate.item == item, Candidate.candidate == candidate))
    if row is None:
        raise _err("no_such_candidate", f"{item} 没有候选人 {candidate} / no nomination of {candidate!r} for {item}", 404)
    if status not in VETTING:
        raise _err("bad_nomination", "status 须为 approved 或 rejected / status must be approved or rejected", 422)
    if not isinstance(note, str) or len(note) > MAX_NOTE:
        raise _err("bad_nomination", f"审核说明最多 {MAX_NOTE} 个字符 / the note is at most {MAX_NOTE} characters", 422)
    row.status, row.note, row.vetted_by, row.vetted_at = status, note, by, _now(now)
    session.flush()


def nominations(session: Session, slug: str, round_id: str) -> list[Candidate]:
    return list(session.scalars(select(Candidate).where(Candidate.estate_slug == slug, Candidate.round_id == round_id)
                                .order_by(Candidate.id)))


def statements(session: Session, slug: str, round_id: str) -> dict[tuple[str, str], str]:
    """(item, candidate) → statement text, for texts whose hash matches what they were recorded with."""
    return {(r.item, r.candidate): r.statement for r in nominations(session, slug, round_id)
            if statement_hash(r.statement) == r.statement_sha256}


def announcement_member(session: Session, slug: str, round_id: str, agenda: Agenda, cosigners: int, *,
                        voters: dict[str, int], registry: Registry, opens: datetime,
                        now: datetime) -> dict | None:
    """The ``candidates`` member of the ``round`` entry (SPEC §7.7), or None without an election.

    Refuses: ``candidates_too_late`` (voting opens fewer than 7 days after the announcement),
    ``candidates_not_vetted``, ``candidates_mismatch`` (approved ≠ the item's candidates), and a
    signature that no longer holds (``not_eligible``, ``revoked_credential``, …).
    """
    elections = [i for i in agenda.items if i.kind == "election"]
    if not elections:
        return None
    days = notice_days(now, opens)
    if days < CANDIDATE_DAYS:
        raise _err("candidates_too_late", f"候选人须在投票开始至少 {CANDIDATE_DAYS} 天前公示（现为 {days} 天） / "
                                          f"candidates must be published at least {CANDIDATE_DAYS} days before voting "
                                          f"opens ({days} days here)")
    estate = _estate(session, slug)
    rows = nominations(session, slug, round_id)
    out = []
    for item in elections:
        mine = [r for r in rows if r.item == item.id]
        pending = [r.candidate for r in mine if r.status is None]
        if pending:
            raise _err("candidates_not_vetted", f"{item.id} 的候选人 {', '.join(pending)} 尚未审核 / the nominations of "
                                                f"{', '.join(pending)} for {item.id} are not vetted yet")
        approved = {r.candidate: r for r in mine if r.status == "approved"}
        if set(approved) != set(item.candidates) or len(approved) != len(item.candidates):
            missing = [c for c in item.candidates if c not in approved]
            extra = [c for c in approved if c not in item.candidates]
            raise _err("candidates_mismatch",
                       f"{item.id}：议程候选人与审核通过的提名不一致（未通过或未提名：{', '.join(missing) or '无'}；"
                       f"通过但不在议程：{', '.join(extra) or '无'}） / {item.id}: the agenda's candidates are not the "
                       f"approved nominations (not approved or not nominated: {', '.join(missing) or 'none'}; approved "
                       f"but not on the agenda: {', '.join(extra) or 'none'})")
        ordered = [approved[c] for c in item.candidates] + [r for r in mine if r.status == "rejected"]
        for r in ordered:
            sigs = json.loads(r.signatures)
            check_signatures(estate.origin, round_id, r.item, r.candidate, r.statement_sha256, sigs, registry, voters)
            out.append({"item": r.item, "candidate": r.candidate, "by": r.nominated_by,
                        "statement": r.statement_sha256, "signatures": sigs, "status": r.status, "note": r.note})
    return {"cosigners": cosigners, "list": out}


def check_recorded(origin: str, round_id: str, member: dict | None, registry: Registry,
                   voters: Iterable[str]) -> list[str]:
    """For the audit (SPEC §7.7): every signature of the ``candidates`` member at the round entry's
    place in the log; the problems, each naming the candidate."""
    problems = []
    if not member:
        return problems
    voters = set(voters)
    for c in member["list"]:
        try:
            check_signatures(origin, round_id, c["item"], c["candidate"], c["statement"], c["signatures"], registry,
                             voters)
        except RoundError as e:
            problems.append(f"候选人 {c['candidate']}（{c['item']}）的提名签名无效 / the nomination of {c['candidate']} "
                            f"({c['item']}): {e.message}")
    return problems


_ = UTC
