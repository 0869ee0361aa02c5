"""The round lifecycle through the library (voting.rounds), on SQLite and PostgreSQL: every
transition and every refusal, the 15-day notice at its boundary, extensions, and what the
``round`` entry freezes (SPEC §7.1, §7.6)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from identity.store import get_estate
from ledger import log
from ledger.db import reading, transaction
from ledger.entry import parse_entry
from tests.voting.rounds_fixtures import SLUG, T0, make_estate, revoke, spec
from voting import rounds
from voting.round_audit import check_log
from voting.rounds import RoundError

CST_MIDNIGHT_DEC16 = datetime(2026, 12, 15, 16, 0, 0, tzinfo=UTC)  # 16 December 00:00 in China


def draft(engine, s: dict, by: str = "sup") -> None:
    with transaction(engine) as session:
        rounds.create_draft(session, SLUG, s, by=by, now=T0)


def announce(engine, rid: str = "r1", now: datetime = T0):
    with transaction(engine) as session:
        return rounds.announce(session, SLUG, rid, by="sup", now=now)


def view(engine, rid: str = "r1") -> rounds.RoundView:
    with reading(engine) as session:
        return rounds.load(session, SLUG, rid)


def refused(engine, fn, code: str) -> RoundError:
    size = _size(engine)
    with pytest.raises(RoundError) as e, transaction(engine) as session:
        fn(session)
    assert e.value.code == code, e.value
    assert " / " in e.value.message  # 中文 / English
    assert _size(engine) == size  # nothing written
    return e.value


def _size(engine) -> int:
    with reading(engine) as session:
        return log.size(session, get_estate(session, SLUG).log_id)


def entries(engine):
    with reading(engine) as session:
        return [parse_entry(bytes(e.data)) for e in log.entries(session, get_estate(session, SLUG).log_id)]


@pytest.fixture
def est(engine):
    return make_estate(engine)


# --- drafts -----------------------------------------------------------------------------------


def test_draft_then_announce_then_states(engine, est):
    draft(engine, spec(attachments=[{"name": "通知.pdf", "sha256": "ab" * 32}], policies={"proxy_cap": 3}))
    assert view(engine).state(T0) == "draft"
    assert view(engine).announcement is None
    entry = announce(engine)
    v = view(engine)
    assert v.seq == entry.seq and v.state(T0) == "announced"
    assert v.state(v.opens - timedelta(seconds=1)) == "announced"
    assert v.state(v.opens) == "open"
    assert v.state(v.closes - timedelta(seconds=1)) == "open"
    assert v.state(v.closes) == "closed"
    assert v.policies == rounds.Policies("first", False, 3, False, 7)
    assert v.totals == rounds.Totals(6, 58493) and len(v.voters) == 6
    life = v.lifecycle
    assert life["notice"] == {"date": "2026-12-01", "days": 16, "short_reason": None}
    assert life["attachments"] == [{"name": "通知.pdf", "sha256": "ab" * 32}]
    assert life["credentials"]["keys"] == 6 and life["credentials"]["seq"] == 3
    assert life["candidates"] is None and life["form"] == "written"
    assert v.fingerprint is not None and v.joint_key is None and v.secrecy == "open"
    assert check_log(entries(engine), est.origin) == []
    with reading(engine) as session:
        assert [r.round_id for r in rounds.list_rounds(session, SLUG)] == ["r1"]


def test_states_after_close_come_from_entries(engine, est):
    draft(engine, spec())
    announce(engine)
    v = view(engine)
    late = v.closes + timedelta(days=1)
    with transaction(engine) as session:
        lid = get_estate(session, SLUG).log_id
        for type_, state in (("round.close", "closed"), ("round.shares", "counted"), ("round.result", "published"),
                             ("round.final", "final")):
            log.append(session, lid, type_, {"round": "r1"}, time=late)
            session.flush()
            assert rounds.load(session, SLUG, "r1").state(late) == state
            assert rounds.load(session, SLUG, "r1").state(v.opens) == state  # the entries decide, not the clock


def test_secret_round_with_trustees(engine, est):
    draft(engine, spec(secrecy="secret", trustees=est.trustees("r1")))
    announce(engine)
    v = view(engine)
    assert v.secrecy == "secret" and len(v.joint_key) == 32
    assert check_log(entries(engine), est.origin) == []


@pytest.mark.parametrize("bad, words", [
    ({"round": "R 1"}, "round id"),
    ({"agenda": {"items": []}}, "agenda"),
    ({"agenda": {"rules": "civil-code-2021+estate:quorum=1/2", "items": [{"id": "m", "kind": "motion",
                                                                          "matter": "hire_manager"}]}}, "looser"),
    ({"secrecy": "hidden"}, "secrecy"),
    ({"form": "phone"}, "form"),
    ({"opens": "2026-12-17 02:00"}, "opens"),
    ({"closes": "2026-12-17T02:00:00Z", "opens": "2026-12-17T02:00:00Z"}, "close after"),
    ({"short_notice_reason": ""}, "short_notice_reason"),
    ({"attachments": [{"name": "a", "sha256": "AB" * 32}]}, "attachments"),
    ({"attachments": [{"name": "a", "sha256": "ab" * 32}, {"name": "a", "sha256": "cd" * 32}]}, "share a name"),
    ({"policies": {"duplicate": "last"}}, "duplicate"),
    ({"policies": {"revote": "yes"}}, "revote"),
    ({"policies": {"proxy_cap": -1}}, "proxy_cap"),
    ({"policies": {"turnout": 1}}, "policies"),
    ({"cosigners": 0}, "cosigners"),
    ({"extra": 1}, "unknown"),
    ({"trustees": {"threshold": None, "keys": []}}, "open round has no trustees"),
])
def test_bad_spec_refused(engine, est, bad, words):
    e = refused(engine, lambda s: rounds.create_draft(s, SLUG, spec() | bad, by="sup"), "bad_spec")
    assert words in e.message


def test_trustee_keys_for_another_round_refused(engine, est):
    e = refused(engine, lambda s: rounds.create_draft(s, SLUG, spec(secrecy="secret", trustees=est.trustees("r2")),
                                                      by="sup"), "bad_spec")
    assert "/r1" in e.message


def test_duplicate_and_unknown(engine, est):
    draft(engine, spec())
    refused(engine, lambda s: rounds.create_draft(s, SLUG, spec(), by="sup"), "round_exists")
    refused(engine, lambda s: rounds.create_draft(s, "no-such", spec(), by="sup"), "no_estate")
    refused(engine, lambda s: rounds.announce(s, SLUG, "r9", by="sup", now=T0), "no_such_round")
    with reading(engine) as session, pytest.raises(RoundError) as e:
        rounds.load(session, SLUG, "r9")
    assert e.value.code == "no_such_round"


def test_draft_editable_until_announced_then_locked(engine, est):
    draft(engine, spec())
    with transaction(engine) as session:
        rounds.update_draft(session, SLUG, "r1", spec(form="meeting"), by="sup2")
    assert view(engine).form == "meeting"
    announce(engine)
    refused(engine, lambda s: rounds.update_draft(s, SLUG, "r1", spec(), by="sup"), "agenda_locked")
    refused(engine, lambda s: rounds.announce(s, SLUG, "r1", by="sup", now=T0), "already_announced")
    refused(engine, lambda s: rounds.create_draft(s, SLUG, spec(), by="sup"), "round_exists")
    assert view(engine).form == "meeting"


# --- notice -----------------------------------------------------------------------------------


def test_notice_exactly_fifteen_days(engine, est):
    """Notice on 1 December (CST), voting opens 16 December 00:00 CST: 15 days, the notice day not counted."""
    draft(engine, spec(opens=CST_MIDNIGHT_DEC16))
    announce(engine, now=datetime(2026, 12, 1, 15, 59, 59, tzinfo=UTC))  # 23:59:59 CST on 1 December
    assert view(engine).lifecycle["notice"] == {"date": "2026-12-01", "days": 15, "short_reason": None}
    assert check_log(entries(engine), est.origin) == []


def test_notice_one_day_short_refused(engine, est):
    draft(engine, spec(opens=CST_MIDNIGHT_DEC16))
    now = datetime(2026, 12, 1, 16, 0, 0, tzinfo=UTC)  # 00:00 CST on 2 December: 14 days
    e = refused(engine, lambda s: rounds.announce(s, SLUG, "r1", by="sup", now=now), "notice_too_short")
    assert "14" in e.message


def test_short_notice_with_a_reason_is_recorded(engine, est):
    draft(engine, spec(opens=T0 + timedelta(days=3), short_notice_reason="临时会议：电梯故障需紧急维修 / urgent repair"))
    announce(engine)
    notice = view(engine).lifecycle["notice"]
    assert notice == {"date": "2026-12-01", "days": 3, "short_reason": "临时会议：电梯故障需紧急维修 / urgent repair"}
    assert check_log(entries(engine), est.origin) == []


def test_reason_not_recorded_when_notice_is_long_enough(engine, est):
    draft(engine, spec(short_notice_reason="不需要"))
    announce(engine)
    assert view(engine).lifecycle["notice"]["short_reason"] is None


def test_opens_in_the_past_refused(engine, est):
    draft(engine, spec(opens=T0 - timedelta(hours=1), short_notice_reason="x"))
    refused(engine, lambda s: rounds.announce(s, SLUG, "r1", by="sup", now=T0), "opens_in_past")


def test_secret_round_needs_trustees(engine, est):
    draft(engine, spec(secrecy="secret"))
    refused(engine, lambda s: rounds.announce(s, SLUG, "r1", by="sup", now=T0), "no_trustees")


# --- scope and the frozen roll ------------------------------------------------------------------


def test_scope_weights_from_the_openings(engine, est):
    items = [{"id": "lift", "kind": "motion", "matter": "rebuild"}]
    s = spec(items=items)
    s["agenda"]["scope"] = {"units": [{"building": "1", "unit": "2"}]}
    draft(engine, s)
    announce(engine)
    v = view(engine)
    p = est.pseudonym
    assert v.voters == {p["O-3"]: 6543, p["O-5"]: 5000}  # O-5's flat in 1-2 only, not its flat in building 2
    assert list(v.voters) == sorted(v.voters)  # the roll entry's order
    assert v.totals == rounds.Totals(2, 11543)
    assert v.lifecycle["credentials"]["keys"] == 2
    assert check_log(entries(engine), est.origin) == []


def test_scope_naming_an_unknown_building_refused(engine, est):
    s = spec()
    s["agenda"]["scope"] = {"buildings": ["9"]}
    draft(engine, s)
    refused(engine, lambda x: rounds.announce(x, SLUG, "r1", by="sup", now=T0), "bad_scope")


def test_revoked_credentials_are_not_frozen(engine, est):
    revoke(engine, est, "O-2")
    draft(engine, spec())
    announce(engine)
    cred = view(engine).lifecycle["credentials"]
    assert cred["keys"] == 5 and cred["seq"] == 4
    assert check_log(entries(engine), est.origin) == []


def test_estate_without_roll(engine):
    from identity import store

    with transaction(engine) as session:
        store.create_estate(session, SLUG, "空小区")
    draft(engine, spec())
    refused(engine, lambda s: rounds.announce(s, SLUG, "r1", by="sup", now=T0), "no_roll")


# --- extensions -------------------------------------------------------------------------------


def extend(engine, closes: datetime, reason: str = "业主外出较多 / many owners away", now: datetime = T0):
    with transaction(engine) as session:
        return rounds.extend(session, SLUG, "r1", closes=closes, reason=reason, by="sup", now=now)


def test_extend_before_and_during_the_window(engine, est):
    draft(engine, spec())
    announce(engine)
    v = view(engine)
    first = v.closes + timedelta(days=2)
    extend(engine, first)  # still announced
    assert view(engine).closes == first
    second = first + timedelta(days=1)
    extend(engine, second, now=v.opens + timedelta(hours=1))  # open
    v2 = view(engine)
    assert v2.closes == second and [b["previous"] for _, b in v2.extensions] == [
        v.closes.strftime("%Y-%m-%dT%H:%M:%SZ"), first.strftime("%Y-%m-%dT%H:%M:%SZ")]
    assert v2.state(first) == "open" and v2.state(second) == "closed"
    assert check_log(entries(engine), est.origin) == []


def test_extension_refusals(engine, est):
    draft(engine, spec())
    refused(engine, lambda s: rounds.extend(s, SLUG, "r1", closes=T0 + timedelta(days=40), reason="x", by="sup",
                                            now=T0), "not_announced")
    announce(engine)
    v = view(engine)
    for closes in (v.closes, v.closes - timedelta(seconds=1)):  # no shortening, not even to the same time
        refused(engine, lambda s, closes=closes: rounds.extend(s, SLUG, "r1", closes=closes, reason="x", by="sup",
                                                                now=T0),
                "not_later")
    refused(engine, lambda s: rounds.extend(s, SLUG, "r1", closes=v.closes + timedelta(days=1), reason=" ",
                                            by="sup", now=T0), "no_reason")
    # at the close and after it: no reopening
    for now in (v.closes, v.closes + timedelta(days=3)):
        refused(engine, lambda s, now=now: rounds.extend(s, SLUG, "r1", closes=v.closes + timedelta(days=9),
                                                         reason="x", by="sup", now=now), "round_closed")


def test_no_extension_after_a_close_entry(engine, est):
    draft(engine, spec())
    announce(engine)
    v = view(engine)
    with transaction(engine) as session:
        log.append(session, get_estate(session, SLUG).log_id, "round.close", {"round": "r1"}, time=v.closes)
    refused(engine, lambda s: rounds.extend(s, SLUG, "r1", closes=v.closes + timedelta(days=9), reason="x",
                                            by="sup", now=v.opens), "round_closed")


def test_audit_reports_an_extension_after_the_close(engine, est):
    """An extension appended behind the library's back after the window closed: reported."""
    draft(engine, spec())
    announce(engine)
    v = view(engine)
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    with transaction(engine) as session:
        lid = get_estate(session, SLUG).log_id
        log.append(session, lid, "round.extend", {"v": 1, "round": "r1", "previous": v.closes.strftime(fmt),
                                                  "closes": (v.closes + timedelta(days=1)).strftime(fmt),
                                                  "reason": "late"}, time=v.closes + timedelta(hours=1))
    problems = [m for _, m in check_log(entries(engine), est.origin)]
    assert any("no reopening" in m for m in problems), problems
    assert view(engine).closes == v.closes  # and the round's view does not take it either


def _tampered_announce(engine, monkeypatch, change) -> None:
    """Announce with the server's own checks of the notice bypassed and ``change(body)`` applied:
    what a dishonest server could append; the audit must name it."""
    from voting import lifecycle

    real = rounds.round_body

    def tampered(**kw):
        body = real(**kw)
        change(body)
        return body

    monkeypatch.setattr(rounds, "round_body", tampered)
    monkeypatch.setattr(lifecycle, "check_lifecycle", lambda *a, **k: None)
    announce(engine)


def test_audit_reports_a_backdated_notice(engine, est, monkeypatch):
    def backdate(body):
        body["notice"] = {"date": "2026-11-30", "days": body["notice"]["days"] + 1, "short_reason": None}

    draft(engine, spec())
    _tampered_announce(engine, monkeypatch, backdate)
    problems = [m for _, m in check_log(entries(engine), est.origin)]
    assert len(problems) == 1 and "notice.date 2026-11-30 is not the CST date 2026-12-01" in problems[0], problems


def test_audit_reports_forged_frozen_credentials(engine, est, monkeypatch):
    def forge(body):
        body["credentials"]["keys"] -= 1

    draft(engine, spec())
    _tampered_announce(engine, monkeypatch, forge)
    problems = [m for _, m in check_log(entries(engine), est.origin)]
    assert len(problems) == 1 and "credentials: 5 keys" in problems[0], problems


def test_audit_reports_ballots_outside_the_window(engine, est):
    """Ballot entries before the window opens and after it closed (the count's own checks of the
    ballots aside): each named by the lifecycle audit."""
    draft(engine, spec())
    announce(engine)
    v = view(engine)
    with transaction(engine) as session:
        lid = get_estate(session, SLUG).log_id
        early = log.append(session, lid, "ballot", {"v": 1, "round": "r1", "ballot": {}, "factor": "sms"},
                           time=v.opens - timedelta(seconds=1)).seq
        late = log.append(session, lid, "ballot", {"v": 1, "round": "r1", "ballot": {}, "factor": "sms"},
                          time=v.closes).seq
    problems = check_log(entries(engine), est.origin)
    assert any(s == early and "before the window opens" in m for s, m in problems), problems
    assert any(s == late and "after the window closed" in m for s, m in problems), problems


def test_k_of_n_trustees(engine, est):
    import nacl.signing

    from voting.crypto import dkg

    context = f"{est.origin}/r1"
    dealers = [dkg.commitments_json(dkg.Polynomial(c), i, context=context, transport=bytes([i]) * 32,
                                    signing_key=nacl.signing.SigningKey(bytes([i]) * 32).verify_key)
               for i, c in {1: (11, 12), 2: (21, 22), 3: (31, 32)}.items()]
    draft(engine, spec(secrecy="secret", trustees={"threshold": 2, "dealers": dealers}))
    announce(engine)
    v = view(engine)
    assert v.announcement.trustees["threshold"] == 2 and len(v.joint_key) == 32
    assert check_log(entries(engine), est.origin) == []
    bad = {"threshold": 4, "dealers": dealers}  # k > n
    e = refused(engine, lambda s: rounds.create_draft(s, SLUG, spec("r2", secrecy="secret", trustees=bad), by="x"),
                "bad_spec")
    assert "trustees" in e.message
