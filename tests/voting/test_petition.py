"""Proposals and petitions (SPEC §9): the 20% line by heads at its exact boundary, withdrawals,
the committee's response, and every refusal writing nothing; the record verifies (SPEC §9.7)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from identity import store
from ledger import bundle
from ledger.db import reading, transaction
from ledger.entry import parse_entry
from ledger.models import Entry
from ledger.verify import verify_bundle
from tests.voting import petition_estate as pe
from voting import petition as pt
from voting import petition_store as ps
from voting.petition import PetitionError
from web.cli.ledger import content_checks

T0 = datetime(2026, 12, 1, 1, 30, tzinfo=UTC)  # 09:30 in Beijing on 1 December


def publish(engine, est, author="O01", scope=None, **kw):
    with transaction(engine) as s:
        p, _ = ps.publish(s, pe.SLUG, author=est.voters[author], title="更换电梯维保单位",
                            text="现维保单位响应慢，提议召开临时会议另行选聘。", matter="hire_manager",
                            scope=scope or {}, attachments=kw.pop("attachments", []), now=T0, **kw)
    return p


def signed(engine, est, p, owner, kind=pt.SIGN, *, by=None, key_owner=None, now=T0):
    voter = est.voters[owner]
    key, sig = pt.sign(kind, p.hash, voter, est.key(key_owner or owner))
    with transaction(engine) as s:
        return ps.record_signed(s, pe.SLUG, kind, p.id, voter=voter, key=key, sig=sig,
                                by_voter=by or voter, now=now)


def size(engine) -> int:
    with reading(engine) as s:
        log_id = store.get_estate(s, pe.SLUG).log_id
        return s.scalar(select(func.count()).select_from(Entry).where(Entry.log_id == log_id))


def state(engine, pid="p1") -> pt.Petition:
    with reading(engine) as s:
        return ps.book(s, pe.SLUG).get(pid)


def verify(engine, tmp_path):
    with reading(engine) as s:
        bundle.write_dir(s, store.get_estate(s, pe.SLUG).log_id, tmp_path / "b")
    return verify_bundle(tmp_path / "b", checks=content_checks())


def test_line_is_reached_at_exactly_20_percent_by_heads_not_one_owner_short(engine, tmp_path):
    est = pe.make(engine)
    p = publish(engine, est)
    assert p.totals == (10, sum(pe.AREA.values()))  # O01's two flats: one voter (SPC Art. 9)
    assert pt.signers_needed(10) == 2
    first = signed(engine, est, p, "O01")
    assert first["line"] is None
    now = state(engine)
    assert now.support() == (1, 10050) and now.state() == "collecting"  # 1 of 10: 5·1 < 10, one owner short
    second = signed(engine, est, p, "O07", now=datetime(2026, 12, 3, 17, 0, tzinfo=UTC))  # 01:00 on 4 Dec, Beijing
    assert second["line"] == {"v": 1, "petition": "p1", "support": {"heads": 2, "area": 10050 + 10025},
                              "at": second["seq"], "date": "2026-12-04", "deadline": "2026-12-19"}
    now = state(engine)
    assert now.state() == "line_reached" and now.line_seq == second["seq"] + 1
    # more owners may still sign after the line; nobody may withdraw any more
    signed(engine, est, p, "O02")
    before = size(engine)
    with pytest.raises(PetitionError) as exc:
        signed(engine, est, p, "O07", pt.WITHDRAW)
    assert exc.value.code == "line_reached" and size(engine) == before
    report = verify(engine, tmp_path)
    assert report.ok, report.problems


def test_eleven_owners_in_scope_need_three(engine):
    assert [pt.reaches_line(n, 11) for n in (2, 3)] == [False, True]
    assert [pt.reaches_line(n, 10) for n in (1, 2)] == [False, True]
    assert pt.signers_needed(11) == 3 and pt.signers_needed(5) == 1 and pt.signers_needed(1) == 1


def test_withdrawn_signature_stops_counting_and_can_be_given_again(engine, tmp_path):
    est = pe.make(engine)
    p = publish(engine, est)
    signed(engine, est, p, "O03")
    signed(engine, est, p, "O03", pt.WITHDRAW)
    assert state(engine).support() == (0, 0)
    assert est.voters["O03"] in state(engine).withdrawn
    signed(engine, est, p, "O04")
    assert state(engine).state() == "collecting"
    signed(engine, est, p, "O03")  # signs again: now two of ten
    assert state(engine).support() == (2, 18000) and state(engine).state() == "line_reached"
    assert verify(engine, tmp_path).ok


def test_building_scope_counts_only_its_owners(engine, tmp_path):
    est = pe.make(engine)
    p = publish(engine, est, author="O08", scope={"buildings": ["2"]})
    assert p.totals == (4, 4 * 10025)
    before = size(engine)
    with pytest.raises(PetitionError) as exc:
        signed(engine, est, p, "O01")  # building 1: outside the scope
    assert exc.value.code == "not_eligible" and size(engine) == before
    r = signed(engine, est, p, "O08")
    assert r["line"]["support"] == {"heads": 1, "area": 10025}  # 5·1 ≥ 4
    assert verify(engine, tmp_path).ok


@pytest.mark.parametrize(("case", "code"), [
    ("duplicate", "already_signed"), ("forged", "bad_signature"), ("other_key", "bad_signature"),
    ("for_someone_else", "wrong_voter"), ("withdraw_unsigned", "not_signed"), ("unknown", "no_petition"),
    ("no_credential", "bad_signature"),
])
def test_refusals_write_nothing(engine, case, code):
    est = pe.make(engine, unregistered=("O10",))
    p = publish(engine, est)
    signed(engine, est, p, "O02")
    before = size(engine)
    with pytest.raises(PetitionError) as exc:
        if case == "duplicate":
            signed(engine, est, p, "O02")
        elif case == "forged":
            voter = est.voters["O05"]
            key, sig = pt.sign(pt.SIGN, "ab" * 32, voter, est.key("O05"))  # signed another proposal's hash
            with transaction(engine) as s:
                ps.record_signed(s, pe.SLUG, pt.SIGN, p.id, voter=voter, key=key, sig=sig, by_voter=voter)
        elif case == "other_key":
            signed(engine, est, p, "O05", key_owner="O06")
        elif case == "for_someone_else":
            signed(engine, est, p, "O05", by=est.voters["O06"])
        elif case == "withdraw_unsigned":
            signed(engine, est, p, "O05", pt.WITHDRAW)
        elif case == "unknown":
            p.body["petition"] = "p9"
            signed(engine, est, p, "O05")
        else:
            signed(engine, est, p, "O10")
    assert exc.value.code == code
    assert size(engine) == before


def test_committee_response_round_or_reasoned_refusal(engine, tmp_path):
    est = pe.make(engine)
    p = publish(engine, est)
    signed(engine, est, p, "O01")
    signed(engine, est, p, "O02")
    with transaction(engine) as s, pytest.raises(PetitionError) as exc:
        ps.respond(s, pe.SLUG, "p1", kind="round", round_id="r9", reason=None)
    assert exc.value.code == "no_round"
    with transaction(engine) as s, pytest.raises(PetitionError) as exc:
        ps.respond(s, pe.SLUG, "p1", kind="refusal", round_id=None, reason="  ")
    assert exc.value.code == "bad_request"
    with transaction(engine) as s:
        seq = ps.respond(s, pe.SLUG, "p1", kind="refusal", round_id=None,
                         reason="所提事项已由上次业主大会决定，不属临时会议事项。")
    got = state(engine)
    assert got.state() == "answered" and got.response_seq == seq and got.response["kind"] == "refusal"
    with transaction(engine) as s, pytest.raises(PetitionError) as exc:
        ps.respond(s, pe.SLUG, "p1", kind="refusal", round_id=None, reason="再次答复")
    assert exc.value.code == "answered"
    with pytest.raises(PetitionError) as exc:
        signed(engine, est, p, "O03")
    assert exc.value.code == "answered"
    assert verify(engine, tmp_path).ok


def test_attachments_hash_in_the_entry_file_beside_it(engine):
    est = pe.make(engine)
    data = b"%PDF-1.4 quotation"
    p = publish(engine, est, attachments=[ps.Attachment("报价单.pdf", "application/pdf", data)])
    import hashlib
    digest = hashlib.sha256(data).hexdigest()
    assert p.body["attachments"] == [{"name": "报价单.pdf", "sha256": digest}]
    with reading(engine) as s:
        assert ps.attachment(s, pe.SLUG, digest).data == data
        row = s.scalar(select(Entry.data).where(Entry.type == pt.PETITION))
    body = parse_entry(bytes(row)).body
    assert body["hash"] == pt.proposal_hash(pe.ORIGIN, body)
    assert all(set(v) == {"voter", "area"} for v in body["voters"])  # pseudonyms only
    assert "O01" not in row.decode()


@pytest.mark.parametrize("title", ["", "   ", "a\x00b", "右\u202e左", "x" * 201, "\ud800"])
def test_bad_titles_are_refused(engine, title):
    est = pe.make(engine)
    before = size(engine)
    with pytest.raises(PetitionError) as exc, transaction(engine) as s:
        ps.publish(s, pe.SLUG, author=est.voters["O01"], title=title, text="正文", matter="hire_manager",
                   scope={}, attachments=[], now=T0)
    assert exc.value.code == "bad_request" and size(engine) == before


def test_line_breaks_from_a_form_are_kept_as_lf(engine):
    est = pe.make(engine)
    with transaction(engine) as s:
        p, _ = ps.publish(s, pe.SLUG, author=est.voters["O01"], title="标题", text="第一段\r\n第二段\r\n",
                          matter="other_major", scope={}, attachments=[], now=T0)
    assert p.body["text"] == "第一段\n第二段"
