"""Candidates (voting.candidates, SPEC §7.7) on both databases: nominated by the organiser, by
owners (co-signed with credentials) or by themselves, vetted, fixed in the announcement at least
7 days before voting opens, checked again by the audit."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import nacl.signing
import pytest

from identity.store import get_estate
from ledger import log
from ledger.db import reading, transaction
from ledger.entry import parse_entry
from tests.voting.rounds_fixtures import SLUG, T0, credential_key, make_estate, revoke, spec
from voting import candidates, rounds
from voting.round_audit import check_log
from voting.rounds import RoundError

ITEMS = [{"id": "e1", "kind": "election", "matter": "elect_committee", "seats": 1, "candidates": ["张三", "李四"]}]
STATEMENTS = {"张三": "我愿意为小区服务。", "李四": "公开透明，每月公布账目。", "王五": "我有物业管理经验。"}


def sig(est, owner: str, candidate: str, *, round_id: str = "r1", key=None) -> dict:
    return candidates.sign_nomination(key or credential_key(owner), est.origin, round_id, "e1", candidate,
                                      STATEMENTS[candidate])


def nominate(engine, candidate: str, by: str, sigs=(), *, item: str = "e1") -> None:
    with transaction(engine) as session:
        candidates.nominate(session, SLUG, "r1", item=item, candidate=candidate, nominated_by=by,
                            statement=STATEMENTS[candidate], signatures=list(sigs), by="sup", now=T0)


def vet(engine, candidate: str, status: str = "approved", note: str = "") -> None:
    with transaction(engine) as session:
        candidates.vet(session, SLUG, "r1", item="e1", candidate=candidate, status=status, note=note, by="sup", now=T0)


def refused(engine, fn, code: str) -> RoundError:
    with pytest.raises(RoundError) as e, transaction(engine) as session:
        fn(session)
    assert e.value.code == code, e.value
    assert " / " in e.value.message
    return e.value


def entries(engine):
    with reading(engine) as session:
        return [parse_entry(bytes(e.data)) for e in log.entries(session, get_estate(session, SLUG).log_id)]


@pytest.fixture
def est(engine):
    e = make_estate(engine)
    with transaction(engine) as session:
        rounds.create_draft(session, SLUG, spec(items=ITEMS, cosigners=2), by="sup", now=T0)
    return e


def nominate_all(engine, est) -> None:
    nominate(engine, "张三", "owners", [sig(est, "O-1", "张三"), sig(est, "O-2", "张三")])
    nominate(engine, "李四", "self", [sig(est, "O-3", "李四")])
    nominate(engine, "王五", "organiser")
    vet(engine, "张三")
    vet(engine, "李四", note="资格审核通过")
    vet(engine, "王五", "rejected", "非本小区业主 / not an owner")


def announce(engine, now=T0):
    with transaction(engine) as session:
        return rounds.announce(session, SLUG, "r1", by="sup", now=now)


def test_candidates_fixed_in_the_announcement(engine, est):
    nominate_all(engine, est)
    entry = announce(engine)
    body = parse_entry(bytes(entry.data)).body
    listed = body["candidates"]["list"]
    assert body["candidates"]["cosigners"] == 2
    assert [(c["candidate"], c["by"], c["status"], len(c["signatures"])) for c in listed] == [
        ("张三", "owners", "approved", 2), ("李四", "self", "approved", 1), ("王五", "organiser", "rejected", 0)]
    assert listed[0]["statement"] == hashlib.sha256(STATEMENTS["张三"].encode()).hexdigest()
    assert listed[1]["note"] == "资格审核通过"
    assert check_log(entries(engine), est.origin) == []
    with reading(engine) as session:
        texts = candidates.statements(session, SLUG, "r1")
    assert texts[("e1", "李四")] == STATEMENTS["李四"]


def test_nomination_refusals(engine, est):
    refused(engine, lambda s: candidates.nominate(s, SLUG, "r1", item="e1", candidate="张三", nominated_by="owners",
                                                  statement="", signatures=[sig(est, "O-1", "张三")], by="sup"),
            "not_enough_signatures")
    # a signature over another candidate's nomination
    refused(engine, lambda s: candidates.nominate(s, SLUG, "r1", item="e1", candidate="张三", nominated_by="self",
                                                  statement=STATEMENTS["张三"], signatures=[sig(est, "O-1", "李四")],
                                                  by="sup"), "bad_signature")
    stranger = nacl.signing.SigningKey(hashlib.sha256(b"stranger").digest())
    refused(engine, lambda s: candidates.nominate(s, SLUG, "r1", item="e1", candidate="张三", nominated_by="self",
                                                  statement=STATEMENTS["张三"],
                                                  signatures=[sig(est, "X", "张三", key=stranger)], by="sup"),
            "not_eligible")
    refused(engine, lambda s: candidates.nominate(s, SLUG, "r1", item="e1", candidate="张三", nominated_by="owners",
                                                  statement=STATEMENTS["张三"],
                                                  signatures=[sig(est, "O-1", "张三"), sig(est, "O-1", "张三")],
                                                  by="sup"), "duplicate_signer")
    refused(engine, lambda s: candidates.nominate(s, SLUG, "r1", item="m1", candidate="张三", nominated_by="organiser",
                                                  statement="", by="sup"), "bad_nomination")
    refused(engine, lambda s: candidates.nominate(s, SLUG, "r1", item="e1", candidate="张;三", nominated_by="organiser",
                                                  statement="", by="sup"), "bad_nomination")
    refused(engine, lambda s: candidates.nominate(s, SLUG, "r1", item="e1", candidate="张三", nominated_by="friends",
                                                  statement="", by="sup"), "bad_nomination")
    revoke(engine, est, "O-3")
    refused(engine, lambda s: candidates.nominate(s, SLUG, "r1", item="e1", candidate="李四", nominated_by="self",
                                                  statement=STATEMENTS["李四"], signatures=[sig(est, "O-3", "李四")],
                                                  by="sup"), "revoked_credential")
    nominate(engine, "王五", "organiser")
    refused(engine, lambda s: candidates.nominate(s, SLUG, "r1", item="e1", candidate="王五", nominated_by="organiser",
                                                  statement="", by="sup"), "candidate_exists")
    refused(engine, lambda s: candidates.vet(s, SLUG, "r1", item="e1", candidate="赵六", status="approved", by="sup"),
            "no_such_candidate")
    refused(engine, lambda s: candidates.vet(s, SLUG, "r1", item="e1", candidate="王五", status="maybe", by="sup"),
            "bad_nomination")


def test_announcement_refusals(engine, est):
    nominate(engine, "张三", "owners", [sig(est, "O-1", "张三"), sig(est, "O-2", "张三")])
    nominate(engine, "李四", "self", [sig(est, "O-3", "李四")])
    vet(engine, "张三")
    refused(engine, lambda s: rounds.announce(s, SLUG, "r1", by="sup", now=T0), "candidates_not_vetted")
    vet(engine, "李四", "rejected")
    e = refused(engine, lambda s: rounds.announce(s, SLUG, "r1", by="sup", now=T0), "candidates_mismatch")
    assert "李四" in e.message
    vet(engine, "李四")
    # a co-signer's key revoked after the nomination: the nomination no longer holds at the announcement
    revoke(engine, est, "O-2")
    refused(engine, lambda s: rounds.announce(s, SLUG, "r1", by="sup", now=T0), "revoked_credential")


def test_candidates_published_at_least_seven_days_before_voting(engine, est):
    nominate(engine, "张三", "organiser")
    nominate(engine, "李四", "organiser")
    vet(engine, "张三")
    vet(engine, "李四")
    opens6 = T0 + timedelta(days=6)
    with transaction(engine) as session:
        rounds.update_draft(session, SLUG, "r1", spec(items=ITEMS, opens=opens6, short_notice_reason="临时会议 / "
                                                                                                  "temporary meeting"),
                            by="sup")
    refused(engine, lambda s: rounds.announce(s, SLUG, "r1", by="sup", now=T0), "candidates_too_late")
    with transaction(engine) as session:
        rounds.update_draft(session, SLUG, "r1", spec(items=ITEMS, opens=T0 + timedelta(days=7),
                                                      short_notice_reason="临时会议 / temporary meeting"), by="sup")
    announce(engine)  # exactly 7 days: 1 → 8 December
    assert check_log(entries(engine), est.origin) == []


def test_no_nomination_or_vetting_after_the_announcement(engine, est):
    nominate_all(engine, est)
    announce(engine)
    refused(engine, lambda s: candidates.nominate(s, SLUG, "r1", item="e1", candidate="赵六", nominated_by="organiser",
                                                  statement="", by="sup"), "agenda_locked")
    refused(engine, lambda s: candidates.vet(s, SLUG, "r1", item="e1", candidate="王五", status="approved", by="sup"),
            "agenda_locked")


def test_audit_catches_a_forged_nomination_signature(engine, est, monkeypatch):
    """A server that slips a signature over another nomination into the entry is caught."""
    nominate_all(engine, est)
    forged = sig(est, "O-4", "王五")  # a valid signature by a registered owner, over another nomination
    real = rounds.round_body

    def tampered(**kw):
        body = real(**kw)
        body["candidates"]["list"][0]["signatures"][1] = forged
        return body

    monkeypatch.setattr(rounds, "round_body", tampered)
    announce(engine)
    problems = [m for _, m in check_log(entries(engine), est.origin)]
    assert len(problems) == 1 and "张三" in problems[0] and "does not verify" in problems[0], problems
