"""Paper ballots entered twice by two scrutineers (issue #9 part 5, SPEC §7.9), both databases.

``build`` makes a real estate ledger: a roll over two buildings and three stairwells, the
credential authority and a signed credential list, and an announced round (secret with two
trustees, or open) built with ``voting.round_record.round_body``; electronic ballots are appended
as tests/voting/round_scenario.py does.  The tests enter paper ballots through
``voting.paper_entry.enter`` and audit the ledger with ``voting.round_audit``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from identity import authority, store
from identity.roll import Part, Roll
from ledger import log
from ledger.db import reading, transaction
from ledger.entry import parse_entry
from tests.voting.round_scenario import AUTHORITY_KEY, TRUSTEE_SECRETS, credential_key
from voting import paper_entry, round_audit
from voting.agenda import parse_agenda
from voting.crypto import ballot, tally, trustee
from voting.lifecycle import china_date, format_time
from voting.paper_entry import PaperDisagreement, PaperError
from voting.round_record import (
    BALLOT,
    ROUND,
    ballot_body,
    collect_rounds,
    item_shapes,
    round_body,
    trustee_context,
)
from voting.rounds import credentials_digest

SLUG = "maple-court"
ROUND_ID = "r1"
# (building, unit, room, area in 0.01 m², owner id); E-05 holds a flat in each building.
PARTS = (("1", "1", "101", 9000, "A-01"), ("1", "1", "102", 12000, "B-02"), ("1", "2", "201", 6000, "C-03"),
         ("2", "1", "101", 10000, "D-04"), ("2", "1", "102", 5000, "E-05"), ("1", "2", "202", 3000, "E-05"),
         ("2", "1", "103", 9000, "F-06"))
NAMES = {"A-01": "张三", "B-02": "=HYPERLINK(\"http://x\")", "C-03": "王五", "D-04": "赵六", "E-05": "钱七",
         "F-06": "孙八"}
AGENDA = parse_agenda({"rules": "civil-code-2021", "items": [
    {"id": "m1", "kind": "motion", "matter": "hire_manager"},
    {"id": "e1", "kind": "election", "matter": "elect_committee", "seats": 2, "candidates": ["K1", "K2", "K3"]},
    {"id": "c1", "kind": "choice", "matter": "hire_manager", "options": ["P1", "P2", "none"]}]}, "agenda.json")
SCAN = hashlib.sha256(b"scan of the paper ballot").hexdigest()
MARKS = {"m1": "同意", "e1": ["K1", "K3"], "c1": "P2"}
AGENDA_NO_ELECTION = parse_agenda({"rules": "civil-code-2021", "items": [
    i for i in AGENDA.as_json()["items"] if i["kind"] != "election"]}, "agenda.json")


@dataclass
class Built:
    engine: object
    origin: str
    secrecy: str
    pseudonym: dict[str, str] = field(default_factory=dict)  # owner id → voter pseudonym
    fingerprint: bytes = b""
    joint_key: bytes | None = None
    trustees: trustee.TrusteeSet | None = None
    agenda: object = AGENDA

    def cast(self, owner: str, choices: dict[str, list[int]]) -> int:
        """Append an electronic ballot of ``owner`` (as round_scenario does); its seq."""
        items = item_shapes(self.agenda)
        choices = {k: v for k, v in choices.items() if k in {i.id for i in self.agenda.items}}
        key = credential_key(owner)
        if self.secrecy == "secret":
            signed, _ = ballot.encrypt_ballot(fingerprint=self.fingerprint, joint_key=self.joint_key, items=items,
                                              choices=choices, signing_key=key)
        else:
            signed = ballot.make_open_ballot(fingerprint=self.fingerprint, items=items, choices=choices,
                                             signing_key=key)
        with transaction(self.engine) as session:
            lid = store.get_estate(session, SLUG).log_id
            return log.append(session, lid, BALLOT, ballot_body(ROUND_ID, signed, "sms")).seq

    def enter(self, owner: str, by: str, marks: dict = MARKS, scan: str = SCAN, now: datetime | None = None):
        dropped = {i.id for i in AGENDA.items} - {i.id for i in self.agenda.items}
        marks = {k: v for k, v in marks.items() if k not in dropped}
        with transaction(self.engine) as session:
            return paper_entry.enter(session, SLUG, ROUND_ID, voter=self.pseudonym[owner], marks=marks,
                                     scan_sha256=scan, by=by, now=now)

    def entries(self) -> list:
        with reading(self.engine) as session:
            lid = store.get_estate(session, SLUG).log_id
            return [parse_entry(bytes(e.data)) for e in log.entries(session, lid)]

    def audit(self) -> round_audit.RoundAudit:
        entries = self.entries()
        rounds, problems = collect_rounds(entries)
        assert problems == []
        return round_audit.audit_round(entries, rounds[ROUND_ID], self.origin)


def roll(parts=PARTS) -> Roll:
    return Roll(tuple(Part(b, u, r, a, "registered", o) for b, u, r, a, o in parts), dict(NAMES))


def lifecycle(announced: datetime, credentials_seq: int, pairs: list[tuple[str, str]],
              duplicate: str = "first") -> dict:
    """The lifecycle members of a ``round`` body (SPEC §7.1) for an announcement at ``announced``:
    voting opens at once for ten days (short notice, with its recorded reason)."""
    return {"form": "written",
            "notice": {"date": china_date(announced).isoformat(), "days": 0, "short_reason": "临时会议 / test"},
            "window": {"opens": format_time(announced), "closes": format_time(announced + timedelta(days=10))},
            "attachments": [],
            "policies": {"duplicate": duplicate, "revote": False, "proxy_cap": None, "deemed_consent": False,
                         "objection_days": 7},
            "credentials": {"seq": credentials_seq, "keys": len(pairs), "digest": credentials_digest(pairs)},
            "candidates": None}


def build(engine, secrecy: str = "secret", parts=PARTS, scope: dict | None = None,
          duplicate: str | None = None, rules: str | None = None) -> Built:
    """The estate and its announced round: a bare announcement (open until closed), or with
    ``duplicate`` one with the lifecycle members (SPEC §7.1; a window of ten days from now, the
    agenda without its election: candidates need seven days of publicity)."""
    agenda = AGENDA if scope is None else parse_agenda({**AGENDA.as_json(), "scope": scope}, "agenda.json")
    if duplicate is not None:
        agenda = AGENDA_NO_ELECTION
    if rules is not None:
        agenda = parse_agenda({**agenda.as_json(), "rules": rules}, "agenda.json")
    announced = datetime.now(UTC).replace(microsecond=0)
    with transaction(engine) as session:
        store.import_roll(session, SLUG, roll(parts), filename="roll.csv", data=b"roll", name="枫林苑")
        estate = store.get_estate(session, SLUG)
        lid, origin = estate.log_id, estate.origin
        b = Built(engine, origin, secrecy)
        roll_row = [e for e in log.entries(session, lid) if e.type == "roll"][-1]
        roll_entry = parse_entry(bytes(roll_row.data))
        weights = round_audit.voter_weights(roll_entry.body)
        owners = list(dict.fromkeys(o for *_, o in parts))
        for owner in owners:
            p = next(p for p in parts if p[4] == owner)
            b.pseudonym[owner] = store.voter_for_part(session, SLUG, p[0], p[1], p[2])
        authority.record_authority(session, SLUG, "街道办 / street office", "", AUTHORITY_KEY.verify_key.encode().hex())
        pk = AUTHORITY_KEY.verify_key.encode().hex()
        pairs = [(b.pseudonym[o], credential_key(o).verify_key.encode().hex()) for o in owners]
        statement = authority.credentials_statement(origin, pk, roll_entry.body["version"], pairs)
        cred_seq, _ = authority.record_statement(session, SLUG, authority.sign_statement(statement, AUTHORITY_KEY))
        context = trustee_context(origin, ROUND_ID)
        publics = [trustee.public_key_json(s, j, context=context) for j, s in TRUSTEE_SECRETS.items()]
        b.trustees = trustee.trustee_set([trustee.verify_public_key(p, context=context) for p in publics])
        secret = secrecy == "secret"
        if scope is None:
            voters = list(weights.items())
        else:  # in-scope areas from the roll (SPEC §7.1)
            from identity.scope import voters_in_scope
            in_scope = {v.voter_id: v.area for v in voters_in_scope(roll(parts), agenda.scope)}
            voters = [(b.pseudonym[o], in_scope[o]) for o in owners if o in in_scope]
        life = None
        if duplicate is not None:
            key_of = dict(pairs)
            life = lifecycle(announced, cred_seq, [(v, key_of[v]) for v, _ in voters], duplicate)
        body = round_body(origin=origin, round_id=ROUND_ID, secrecy=secrecy, agenda=agenda, roll_seq=roll_row.seq,
                          roll_leaf_hash=bytes(roll_row.leaf_hash).hex(), voters=voters,
                          trustees={"threshold": None, "keys": publics} if secret else None,
                          joint_key=b.trustees.joint_key.hex() if secret else None, lifecycle=life)
        log.append(session, lid, ROUND, body, time=announced)
        b.agenda = agenda
        b.fingerprint = bytes.fromhex(body["fingerprint"])
        b.joint_key = b.trustees.joint_key if secret else None
    return b


def paper_entries(b: Built) -> list:
    return [e for e in b.entries() if e.type == paper_entry.PAPER]


def pending_rows(b: Built) -> list[str]:
    with reading(b.engine) as session:
        return paper_entry.pending_voters(session, SLUG, ROUND_ID)


def decrypt(b: Built, audit: round_audit.RoundAudit) -> dict:
    """Aggregates → totals with both trustees' shares: {item: (heads, area)}."""
    shares = [trustee.verify_shares(trustee.compute_shares(s, j, audit.aggregates), aggregates=audit.aggregates,
                                    trustees=b.trustees) for j, s in TRUSTEE_SECRETS.items()]
    return {r.id: (r.heads, r.area) for r in trustee.combine(audit.aggregates, shares, trustees=b.trustees)}


# --- double entry ---------------------------------------------------------------------------------


@pytest.mark.parametrize("secrecy", ["secret", "open"])
def test_two_agreeing_entries_record_one_paper_ballot_that_counts(engine, secrecy):
    b = build(engine, secrecy)
    first = b.enter("A-01", "zhao")
    assert first.status == "pending" and paper_entries(b) == []
    assert pending_rows(b) == [b.pseudonym["A-01"]]
    # the second scrutineer writes the same marks in other words (agree = 同意, the same candidates)
    second = b.enter("A-01", "qian", marks={"m1": "agree", "e1": "K3；K1", "c1": "P2"})
    assert second.status == "recorded" and second.seq is not None
    [entry] = paper_entries(b)
    body = entry.body
    assert body["voter"] == b.pseudonym["A-01"] and body["scan"] == SCAN
    assert len({e["scrutineer"] for e in body["entries"]}) == 2
    assert "zhao" not in json.dumps(body) and "qian" not in json.dumps(body) and "A-01" not in json.dumps(body)
    assert pending_rows(b) == []
    if secrecy == "open":  # open rounds record the marks
        assert [i["selections"] for i in body["ballot"]["ballot"]["items"]] == [[1, 0, 0], [1, 0, 1], [0, 1, 0]]
    else:  # the plaintext never reaches the ledger
        assert "selections" in json.dumps(body) and '"P2"' not in json.dumps(body)
        assert all("alpha" in s for i in body["ballot"]["ballot"]["items"] for s in i["selections"])
    audit = b.audit()
    assert audit.problems == [] and audit.counted == 1


def test_disagreeing_entries_record_nothing_and_name_the_items(engine):
    b = build(engine)
    b.enter("B-02", "zhao")
    with pytest.raises(PaperDisagreement) as exc:
        b.enter("B-02", "qian", marks={"m1": "反对", "e1": ["K1", "K3"], "c1": ""},
                scan=hashlib.sha256(b"another scan").hexdigest())
    assert exc.value.code == "disagreement" and exc.value.items == ["m1", "c1", "scan"]
    assert "m1" in str(exc.value) and "c1" in str(exc.value)
    assert paper_entries(b) == []
    assert pending_rows(b) == [b.pseudonym["B-02"]]  # the first entry keeps waiting
    with transaction(engine) as session:  # the API notes the disagreement for the first scrutineer
        paper_entry.note_dispute(session, SLUG, ROUND_ID, b.pseudonym["B-02"], exc.value.items)
    with reading(engine) as session:
        assert paper_entry.pending(session, SLUG, ROUND_ID) == [(b.pseudonym["B-02"], ["m1", "c1", "scan"])]
    with pytest.raises(PaperError) as mine:
        b.enter("B-02", "zhao")
    assert mine.value.code == "same_scrutineer" and "m1, c1, scan" in mine.value.message
    # the first scrutineer is told the same when the second is entered again differently by a third
    with pytest.raises(PaperDisagreement) as again:
        b.enter("B-02", "sun", marks={"m1": "同意", "e1": ["K1"], "c1": "P2"})
    assert again.value.items == ["e1"]
    # the wrong first entry is dropped; two agreeing entries then record the ballot
    with transaction(engine) as session:
        paper_entry.discard(session, SLUG, ROUND_ID, b.pseudonym["B-02"])
    b.enter("B-02", "qian")
    assert b.enter("B-02", "sun").status == "recorded"
    assert len(paper_entries(b)) == 1


def test_the_same_scrutineer_twice_is_refused(engine):
    b = build(engine)
    b.enter("C-03", "zhao")
    with pytest.raises(PaperError) as exc:
        b.enter("C-03", "zhao")
    assert exc.value.code == "same_scrutineer"
    assert paper_entries(b) == [] and pending_rows(b) == [b.pseudonym["C-03"]]


def test_bad_marks_scan_and_voter_are_refused_with_nothing_written(engine):
    b = build(engine)
    for marks, word in (({"m1": "maybe", "e1": [], "c1": ""}, "m1"), ({"m1": "agree", "e1": ["K9"], "c1": ""}, "K9"),
                        ({"m1": "agree", "e1": ["K1", "K1"], "c1": ""}, "twice"),
                        ({"m1": "agree", "e1": [], "c1": "P7"}, "P7"), ({"m1": "agree", "e1": []}, "c1"),
                        ({"m1": "agree", "e1": [], "c1": "", "x": "1"}, "x")):
        with pytest.raises(PaperError) as exc:
            b.enter("A-01", "zhao", marks=marks)
        assert exc.value.code == "bad_marks" and word in str(exc.value)
    with pytest.raises(PaperError) as exc:
        b.enter("A-01", "zhao", scan="not a hash")
    assert exc.value.code == "bad_scan"
    with pytest.raises(PaperError) as exc, transaction(engine) as session:
        paper_entry.enter(session, SLUG, ROUND_ID, voter="f" * 32, marks=MARKS, scan_sha256=SCAN, by="zhao")
    assert exc.value.code == "not_eligible"
    with pytest.raises(PaperError) as exc, transaction(engine) as session:
        paper_entry.enter(session, SLUG, "r9", voter=b.pseudonym["A-01"], marks=MARKS, scan_sha256=SCAN, by="zhao")
    assert exc.value.code == "no_round"
    assert pending_rows(b) == [] and paper_entries(b) == []


def test_a_second_paper_ballot_of_one_voter_is_refused(engine):
    b = build(engine)
    b.enter("A-01", "zhao")
    b.enter("A-01", "qian")
    with pytest.raises(PaperError) as exc:
        b.enter("A-01", "sun")
    assert exc.value.code == "already_voted"


# --- paper against electronic: the duplicate policy ----------------------------------------------


@pytest.mark.parametrize("policy", ["first", "electronic"])
def test_paper_after_an_electronic_ballot_is_refused_under_each_policy(engine, policy):
    b = build(engine, duplicate=policy)
    seq = b.cast("D-04", {"m1": [0, 1, 0], "e1": [0, 1, 0], "c1": [1, 0, 0]})
    with pytest.raises(PaperError) as exc:
        b.enter("D-04", "zhao")
    assert exc.value.code == "already_voted" and f"entry {seq}" in str(exc.value)
    assert pending_rows(b) == [] and paper_entries(b) == []
    audit = b.audit()
    assert audit.problems == [] and audit.counted == 1


@pytest.mark.parametrize("policy", ["first", "electronic"])
def test_electronic_after_paper_the_policy_decides_which_counts(engine, policy):
    b = build(engine, duplicate=policy)
    b.enter("D-04", "zhao", marks={"m1": "agree", "e1": [], "c1": "P1"})
    paper_seq = b.enter("D-04", "qian", marks={"m1": "agree", "e1": [], "c1": "P1"}).seq
    e_seq = b.cast("D-04", {"m1": [0, 1, 0], "e1": [0, 0, 0], "c1": [0, 1, 0]})  # oppose, P2
    b.cast("A-01", {"m1": [0, 0, 1], "e1": [0, 0, 0], "c1": [0, 0, 1]})
    audit = b.audit()
    assert audit.counted == 2
    totals = decrypt(b, audit)
    if policy == "electronic":  # the electronic ballot wins; the paper one is not counted, not a problem
        assert audit.problems == []
        assert totals["m1"] == ((0, 1, 1), (0, 10000, 9000)) and totals["c1"][0] == (0, 1, 1)
        assert (paper_seq, b.pseudonym["D-04"]) in audit.later
    else:  # first received: the paper ballot counts; the later electronic one is reported
        assert [s for s, _ in audit.problems] == [e_seq]
        assert totals["m1"] == ((1, 0, 1), (10000, 0, 9000)) and totals["c1"][0] == (1, 0, 1)


# --- secret rounds: the station's ballot decrypts to the marks --------------------------------------


def test_secret_paper_ballots_decrypt_in_the_count_to_their_marks(engine):
    b = build(engine)
    for owner, marks in (("A-01", MARKS), ("B-02", {"m1": "", "e1": ["K1", "K2", "K3"], "c1": ""}),
                         ("C-03", {"m1": "弃权", "e1": "K2", "c1": "none"})):
        b.enter(owner, "zhao", marks=marks)
        assert b.enter(owner, "qian", marks=marks).status == "recorded"
    b.cast("D-04", {"m1": [1, 0, 0], "e1": [0, 1, 1], "c1": [1, 0, 0]})
    audit = b.audit()
    assert audit.problems == [] and audit.counted == 4
    assert audit.aggregates.ballots == 4 and audit.aggregates.total_weight == 9000 + 12000 + 6000 + 10000
    totals = decrypt(b, audit)
    # m1: A agree, B blank = abstain, C abstain, D agree
    assert totals["m1"] == ((2, 0, 2), (19000, 0, 18000))
    # e1: A K1+K3, B over-marked (invalid for e1, still participates), C K2, D K2+K3
    assert totals["e1"] == ((1, 2, 2), (9000, 16000, 19000))
    # c1: A P2, B blank (no option), C none, D P1
    assert totals["c1"] == ((1, 1, 1), (10000, 9000, 6000))


def test_the_audit_catches_a_forged_paper_ballot(engine):
    b = build(engine)
    b.enter("A-01", "zhao")
    b.enter("A-01", "qian")
    [entry] = paper_entries(b)
    forged = json.loads(json.dumps(entry.body))
    forged["voter"] = b.pseudonym["B-02"]
    forged["entries"][1]["scrutineer"] = forged["entries"][0]["scrutineer"]  # one scrutineer only
    with transaction(engine) as session:
        log.append(session, store.get_estate(session, SLUG).log_id, paper_entry.PAPER, forged)
    second = json.loads(json.dumps(entry.body))
    second["voter"] = b.pseudonym["C-03"]  # the same station ballot again for another voter
    with transaction(engine) as session:
        seq = log.append(session, store.get_estate(session, SLUG).log_id, paper_entry.PAPER, second).seq
    audit = b.audit()
    messages = " | ".join(m for _, m in audit.problems)
    assert "same scrutineer" in messages
    assert "station key" in messages and any(s == seq for s, _ in audit.problems)
    assert audit.counted == 1


def test_paper_entry_after_the_close_is_refused(engine):
    b = build(engine)
    b.enter("B-02", "zhao")  # waiting when the round closes: forgotten at the close
    with transaction(engine) as session:
        assert paper_entry.forget_pending(session, store.get_estate(session, SLUG).log_id, ROUND_ID) == 1
    assert pending_rows(b) == []
    from voting.round_record import CLOSE, close_body
    agg = tally.tally_secret([], fingerprint=b.fingerprint, items=item_shapes(AGENDA))
    with transaction(engine) as session:
        log.append(session, store.get_estate(session, SLUG).log_id, CLOSE,
                   close_body(ROUND_ID, ballots=0, aggregates=agg.to_json()))
    with pytest.raises(PaperError) as exc:
        b.enter("A-01", "zhao")
    assert exc.value.code == "round_not_open"


def test_paper_entry_outside_the_window_is_refused(engine):
    b = build(engine, duplicate="first")  # window: ten days from now
    now = datetime.now(UTC)
    for when, state in ((now + timedelta(days=11), "closed"), (now - timedelta(days=1), "announced")):
        with pytest.raises(PaperError) as exc:
            b.enter("A-01", "zhao", now=when)
        assert exc.value.code == "round_not_open" and state in str(exc.value)
    assert pending_rows(b) == []
    b.enter("A-01", "zhao")
    assert b.enter("A-01", "qian").status == "recorded"
    assert b.audit().problems == []


def test_gongjue_verify_checks_paper_ballots_and_names_a_tampered_one(engine, tmp_path):
    """The exported bundle verifies with every content check; a paper ballot moved to another voter
    with a second entry forged by the first scrutineer is named by its entry."""
    from ledger import bundle, checkpoint, keys
    from ledger.verify import verify_bundle
    from web.cli.ledger import content_checks

    b = build(engine)
    b.enter("A-01", "zhao")
    b.enter("A-01", "qian")
    b.cast("B-02", {"m1": [1, 0, 0], "e1": [0, 0, 1], "c1": [0, 0, 1]})

    def export(out):
        with transaction(engine) as session:
            lid = store.get_estate(session, SLUG).log_id
            checkpoint.sign(session, lid, keys.log_key())
            bundle.write_dir(session, lid, out)
        return verify_bundle(out, [], checks=content_checks())

    report = export(tmp_path / "honest")
    assert report.ok, [p.message for p in report.problems]
    forged = json.loads(json.dumps(paper_entries(b)[0].body))
    forged["voter"] = b.pseudonym["C-03"]
    forged["entries"][1] = {"scrutineer": forged["entries"][0]["scrutineer"], "digest": "1" * 64}
    with transaction(engine) as session:
        seq = log.append(session, store.get_estate(session, SLUG).log_id, paper_entry.PAPER, forged).seq
    report = export(tmp_path / "tampered")
    assert not report.ok
    assert any(p.seq == seq and "same scrutineer" in p.message for p in report.problems), \
        [(p.seq, p.message) for p in report.problems]


@pytest.mark.parametrize("policy", ["first", "electronic"])
def test_the_cast_after_a_paper_ballot_follows_the_policy(engine, policy):
    """Through voting.cast (helper B's): a voter with a recorded paper ballot casts electronically;
    under "first" the cast is refused (already_voted), under "electronic" it is recorded and counts."""
    from voting import cast as casting

    b = build(engine, duplicate=policy)
    b.enter("D-04", "zhao", marks={"m1": "agree", "c1": "P1"})
    b.enter("D-04", "qian", marks={"m1": "agree", "c1": "P1"})
    signed, _ = ballot.encrypt_ballot(fingerprint=b.fingerprint, joint_key=b.joint_key, items=item_shapes(b.agenda),
                                      choices={"m1": [0, 1, 0], "c1": [0, 1, 0]}, signing_key=credential_key("D-04"))
    voter = b.pseudonym["D-04"]
    if policy == "first":
        with pytest.raises(casting.CastError) as exc:
            casting.cast(engine, SLUG, ROUND_ID, casting.dumps(signed), voter=voter, factor="sms")
        assert exc.value.code == "already_voted"
        expected = ((1, 0, 0), (10000, 0, 0))
    else:
        casting.cast(engine, SLUG, ROUND_ID, casting.dumps(signed), voter=voter, factor="sms")
        expected = ((0, 1, 0), (0, 10000, 0))
    audit = b.audit()
    assert audit.problems == [] and audit.counted == 1
    assert decrypt(b, audit)["m1"] == expected


def test_a_paper_ballot_ends_the_voter_s_proxy_grant(engine):
    """D-04 authorised A-01 in writing, then voted on paper in person: A-01 can no longer cast for D-04."""
    from voting import cast as casting
    from voting import proxy as proxies

    b = build(engine, duplicate="electronic")
    casting.record_proxy(engine, SLUG, ROUND_ID, proxies.GRANT, voter=b.pseudonym["D-04"], proxy=b.pseudonym["A-01"],
                         authorisation=proxies.written_authorisation(b"signed paper"))
    b.enter("D-04", "zhao", marks={"m1": "agree", "c1": "P1"})
    b.enter("D-04", "qian", marks={"m1": "agree", "c1": "P1"})
    with pytest.raises(casting.CastError) as exc:
        casting.record_proxy(engine, SLUG, ROUND_ID, proxies.REVOKE, voter=b.pseudonym["D-04"],
                             proxy=b.pseudonym["A-01"], authorisation=proxies.written_authorisation(b"revoked"))
    assert exc.value.code in ("no_proxy_grant", "already_voted")
    with transaction(engine) as session:
        lid = store.get_estate(session, SLUG).log_id
        assert session.get(casting.ProxyGrant, (lid, ROUND_ID, b.pseudonym["D-04"])) is None
