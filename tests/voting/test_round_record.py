"""Round entries (SPEC §7.1–§7.3): builders, shapes, one round out of a log, and the whole-log
content check run by ``gongjue verify`` as a library call (contract C4)."""

import json

import pytest

from ledger.db import make_engine, migrate
from ledger.entry import ParsedEntry
from ledger.verify import ContentChecks, verify_bundle
from tests.voting import round_scenario as rs
from tests.voting.round_scenario import ROUND_ID
from voting import round_record as rr
from voting.agenda import parse_agenda
from voting.crypto.ballot import ItemShape
from voting.trustee_check import decryptable, identity_checks

H = "ab" * 32


def _round(**change) -> dict:
    body = rr.round_body(origin="gongjue.local/maple-court", round_id="r1", secrecy="open", agenda=rs.AGENDA,
                         roll_seq=1, roll_leaf_hash=H, voters=[("v1", 100), ("v2", 250)], trustees=None,
                         joint_key=None)
    body.update(change)
    return body


def test_round_body_round_trips_and_states_its_totals():
    body = _round()
    assert body["totals"] == {"heads": 2, "area": 350}
    ann = rr.parse_round(body)
    assert ann.voters == {"v1": 100, "v2": 250} and ann.items == [ItemShape("m1", 3, 1, 1)]


@pytest.mark.parametrize(("change", "message"), [
    ({"extra": 1}, "round: expected exactly the members"),
    ({"round": "R 1"}, "must match [a-z0-9][a-z0-9-]{0,62}"),
    ({"secrecy": "hidden"}, "secrecy must be"),
    ({"totals": {"heads": 2, "area": 351}}, "totals.area 351 is not the voters' sum (350)"),
    ({"totals": {"heads": 3, "area": 350}}, "totals.heads 3 is not the number of voters (2)"),
    ({"voters": [{"voter": "v1", "area": 1}, {"voter": "v1", "area": 2}]}, "voter v1 listed twice"),
    ({"trustees": {"threshold": None, "keys": []}}, "an open round has trustees null"),
    ({"secrecy": "secret"}, "round: trustees must be"),
    ({"agenda": {"items": [{"id": "m1", "kind": "motion", "matter": "hire_manager"}]}}, "normalised form"),
    ({"roll": {"seq": 1}}, "round: roll must be"),
])
def test_malformed_round_bodies_are_refused(change, message):
    with pytest.raises(rr.RoundRecordError, match=message.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]").replace("{", r"\{").replace("}", r"\}")):
        rr.parse_round(_round(**change))


def test_ballot_and_close_bodies():
    assert rr.ballot_body("r1", {"ballot": {}, "sig": ""}, "pin")["factor"] == "pin"
    with pytest.raises(rr.RoundRecordError, match="factor must be"):
        rr.ballot_body("r1", {}, "password")
    with pytest.raises(rr.RoundRecordError, match="exactly one of aggregates"):
        rr.close_body("r1", ballots=0, aggregates={}, counts=[])
    with pytest.raises(rr.RoundRecordError, match="ballots must be an integer"):
        rr.close_body("r1", ballots=-1, counts=[])
    assert rr.close_body("r1", ballots=0, counts=[{"id": "m1", "heads": [0, 0, 0], "area": [0, 0, 0]}])["v"] == 1


def test_item_shapes_follow_spec_3_5():
    agenda = parse_agenda({"items": [
        {"id": "m", "kind": "motion", "matter": "hire_manager"},
        {"id": "c", "kind": "choice", "matter": "hire_manager", "options": ["X", "Y"]},
        {"id": "e", "kind": "election", "matter": "elect_committee", "seats": 2, "candidates": ["A", "B", "C"]},
    ]}, "agenda.json")
    assert rr.item_shapes(agenda) == [ItemShape("m", 3, 1, 1), ItemShape("c", 2, 1, 1), ItemShape("e", 3, 0, 2)]


def _e(seq: int, type_: str, body: dict) -> ParsedEntry:
    return ParsedEntry(seq, "0" * 64, type_, "2026-11-29T00:00:00Z", body)


def test_collect_rounds_reports_entries_that_fit_no_round():
    ballot = {"v": 1, "round": "r1", "ballot": {}, "factor": "sms"}
    close = {"v": 1, "round": "r1", "ballots": 1, "aggregates": None, "counts": []}
    entries = [_e(0, "estate", {}), _e(1, rr.BALLOT, ballot), _e(2, rr.ROUND, _round()), _e(3, rr.BALLOT, ballot),
               _e(4, rr.ROUND, _round()), _e(5, rr.CLOSE, close), _e(6, rr.BALLOT, ballot), _e(7, rr.CLOSE, close),
               _e(8, rr.BALLOT, {"v": 1})]
    rounds, problems = rr.collect_rounds(entries)
    assert [s for s, _ in problems] == [1, 4, 6, 7, 8]
    assert "round r1 was not announced before this entry" in problems[0][1]
    assert "round r1 was already announced at entry 2" in problems[1][1]
    assert "a ballot after round r1 closed at entry 5" in problems[2][1]
    assert "a second close after round r1 closed" in problems[3][1]
    assert "ballot: expected exactly the members" in problems[4][1]
    rec = rounds["r1"]
    assert (rec.announce_seq, [s for s, _ in rec.ballots], rec.close[0]) == (2, [3], 5)
    assert rr.extract_round(entries, "r1").ballots == rec.ballots
    with pytest.raises(rr.RoundRecordError, match="the record has no round 'r2'"):
        rr.extract_round(entries, "r2")


def _verify(path):
    return verify_bundle(path, checks=ContentChecks.merge(identity_checks(), rr.CHECKS))


def test_verify_bundle_runs_the_round_audit_as_a_library_call(engine, tmp_path):
    rs.build(engine, tmp_path / "good")
    report = _verify(tmp_path / "good")
    assert report.ok, report.problems
    assert report.types["ballot"] == 3 and report.types["round"] == 1 and report.types["round.close"] == 1


def test_verify_bundle_names_the_entry_of_a_fabricated_close(engine, tmp_path):
    rs.build(engine, tmp_path / "bad", one_ballot_aggregate=True)
    report = _verify(tmp_path / "bad")
    close_seq = report.size - 1
    assert not report.ok and report.first.check == "content" and report.first.seq == close_seq
    assert f"entry {close_seq}: 轮次 r1 / round r1: 选票数与重算不符" in report.first.message


def test_a_ballot_cast_before_its_key_was_revoked_still_counts(engine, tmp_path):
    rs.build(engine, tmp_path / "b", revoke_after_cast=True)
    target = decryptable(tmp_path / "b", ROUND_ID)
    assert (target.ballots, target.aggregates.total_weight) == (3, 8850 + 12000 + 6543)


def test_a_reissued_key_does_not_give_a_second_vote(engine, tmp_path):
    sc = rs.build(engine, tmp_path / "b", reissue_and_recast=True)
    report = _verify(tmp_path / "b")
    lines = (tmp_path / "b" / "entries.jsonl").read_text().splitlines()
    first = next(i for i, line in enumerate(lines) if '"type":"ballot"' in line)  # A casts first
    want = (f"entry {report.size - 2}: 轮次 r1 / round r1: 同一投票人的第二张选票 / a second ballot of voter "
            f"{sc.pseudonym['A-01']}: the first, entry {first}, counts; this one does not")
    assert [p.message for p in report.problems if p.check == "content"] == [want]


def test_open_round_counts_are_recomputed(engine, tmp_path):
    rs.build(engine, tmp_path / "b", secrecy="open")
    assert _verify(tmp_path / "b").ok
    path = tmp_path / "b" / "entries.jsonl"
    assert b'"counts":[{"area":[15393,0,12000],"heads":[2,0,1],"id":"m1"}]' in path.read_bytes()


def test_open_round_with_a_changed_count_is_reported(engine, tmp_path):
    rs.build(engine, tmp_path / "b", secrecy="open", one_ballot_aggregate=True)
    messages = [p.message for p in _verify(tmp_path / "b").problems]
    assert any("round.close counts: item 'm1' selection 0 heads is 1, recomputed 2" in m for m in messages)
    assert any("round.close counts: item 'm1' selection 2 area is 0, recomputed 12000" in m for m in messages)


def test_gongjue_verify_reports_a_round_attack_by_its_entry(engine, tmp_path, capsys):
    from web.cli import main

    good = make_engine(f"sqlite:///{tmp_path / 'good.db'}")
    migrate(good)
    rs.build(good, tmp_path / "good")
    good.dispose()
    assert main(["verify", str(tmp_path / "good"), "--json", "--jobs", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["types"]["ballot"] == 3
    rs.build(engine, tmp_path / "bad", unregistered_casts=True)
    assert main(["verify", str(tmp_path / "bad"), "--json", "--jobs", "1"]) == 1
    report = json.loads(capsys.readouterr().out)
    lines = (tmp_path / "bad" / "entries.jsonl").read_text().splitlines()
    intruder = max(i for i, line in enumerate(lines) if '"type":"ballot"' in line)
    assert report["first"]["check"] == "content" and report["first"]["seq"] == intruder
    assert "ballot signed with a credential key that is not registered" in report["first"]["message"]


def test_a_scoped_round_weighs_each_voter_at_most_its_estate_area():
    from voting.round_audit import audit_round

    v1, v2, v3 = "1" * 32, "2" * 32, "3" * 32
    roll = {"version": 1, "voters": [{"voter": v1, "area": 100}, {"voter": v2, "area": 200}]}
    agenda = parse_agenda({"scope": {"buildings": ["1"]},
                           "items": [{"id": "m1", "kind": "motion", "matter": "hire_manager"}]}, "agenda.json")
    origin = "gongjue.local/maple-court"

    def audit(voters):
        body = rr.round_body(origin=origin, round_id="r1", secrecy="open", agenda=agenda, roll_seq=0,
                             roll_leaf_hash=H, voters=voters, trustees=None, joint_key=None)
        entries = [_e(0, "roll", roll), ParsedEntry(1, H, rr.ROUND, "2026-11-29T00:00:00Z", body)]
        return audit_round(entries, rr.extract_round(entries, "r1"), origin, registry_factory=lambda es: None)

    assert audit([(v1, 60), (v2, 200)]).problems == []
    assert [m for _, m in audit([(v1, 101), (v3, 5)]).problems] == [
        f"快照权重超出名册 / voter {v1}: area in scope 101 is not in 1…100",
        f"快照中的投票人不在名册中 / voter {v3} of the snapshot is not in the roll"]
