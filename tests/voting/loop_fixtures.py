"""A scenario for consultations and follow-through (SPEC §10, §11): the e2e estate of
``tests.web.e2e_fixtures`` with its secret round counted and both items passed (every owner
votes; A–E agree and choose greenleaf), plus helpers that sign consultation responses with an
owner's credential key as ``web/static/owner/consult.js`` does."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from ledger import bundle, checkpoint, keys
from ledger.db import transaction
from tests.web import e2e_fixtures as e2e
from voting import consultation as cs
from voting import consultation_store as store

PASSING = {"A": ("agree", "greenleaf"), "B": ("agree", "greenleaf"), "C": ("agree", "greenleaf"),
           "D": ("agree", "greenleaf"), "E": ("agree", "greenleaf"), "F": ("oppose", "harbour"),
           "G": ("abstain", "none")}
QUESTIONS = [{"id": "overall", "kind": "rating", "text": "对物业服务的总体评价"},
             {"id": "renew", "kind": "choice", "text": "是否续聘", "options": ["续聘", "不续聘", "无意见"]}]


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def spec(consult_id: str = "survey", *, follow: str | None = None, free_text: bool = True,
         opens: datetime | None = None, closes: datetime | None = None, questions=None) -> store.Spec:
    t = now()
    return store.Spec(consult_id, "2026 年度物业服务满意度", questions or QUESTIONS, free_text, True,
                      opens or t - timedelta(hours=1), closes or t + timedelta(days=1), follow)


def response(sc, owner: str, consult: cs.Consultation, answers: list, text: str | None = None,
             signer: str | None = None) -> dict:
    """The payload the owner's browser posts: the statement signed with the owner's key."""
    salt = secrets.token_hex(16) if text is not None else None
    st = cs.statement(consult.hash, answers, cs.text_commitment(salt, text) if text is not None else None)
    key = sc.key(signer or owner)
    payload = {"statement": st, "key": bytes(key.verify_key).hex(), "sig": key.sign(cs.signing_bytes(st)).signature.hex()}
    if text is not None:
        payload.update(text=text, salt=salt)
    return payload


def consult_of(sc, consult_id: str) -> cs.Consultation:
    _, book = store.load(sc.engine, sc.slug)
    return book.consults[consult_id]


def export(sc, out):
    with transaction(sc.engine) as s:
        checkpoint.sign(s, sc.log_id, keys.log_key())
        bundle.write_dir(s, sc.log_id, out)
    return out


def decided(engine, work):
    """The e2e estate with its round counted and both items passed."""
    return e2e.build(engine, work, votes=PASSING)
