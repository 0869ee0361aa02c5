"""collect_rounds groups every round entry type of SPEC §7 with its round (issue #9, PLAN9 list)."""

from ledger.entry import ParsedEntry
from ledger.verify import VerifyContext
from tests.voting import round_scenario as rs
from voting import round_record as rr

H = "ab" * 32


def _e(seq: int, type_: str, body: dict) -> ParsedEntry:
    return ParsedEntry(seq=seq, type=type_, prev="00" * 32, time="2026-01-01T00:00:00Z", body=body)


def _round(rid: str) -> dict:
    return rr.round_body(origin="gongjue.local/maple-court", round_id=rid, secrecy="open", agenda=rs.AGENDA,
                         roll_seq=1, roll_leaf_hash=H, voters=[("v1", 100), ("v2", 250)], trustees=None,
                         joint_key=None)


OTHER = ("round.extend", "candidate.nominate", "candidate.vet", "proxy.grant", "proxy.revoke", "paper.ballot",
         "round.shares", "round.result", "round.final")


def test_every_round_entry_type_is_grouped_with_its_round():
    assert all(rr.is_round_type(t) for t in (*OTHER, rr.ROUND, rr.BALLOT, rr.CLOSE, "candidate.withdraw"))
    assert not rr.is_round_type("roll") and not rr.is_round_type("credentials")
    entries = [_e(0, "estate", {}), _e(1, rr.ROUND, _round("r1")), _e(2, rr.ROUND, _round("r2"))]
    for i, t in enumerate(OTHER):
        entries.append(_e(3 + 2 * i, t, {"v": 1, "round": "r1", "n": i}))
        entries.append(_e(4 + 2 * i, t, {"v": 1, "round": "r2", "n": i}))
    rounds, problems = rr.collect_rounds(entries)
    assert problems == []
    for rid, first in (("r1", 3), ("r2", 4)):
        rec = rounds[rid]
        assert rec.body["round"] == rid and rec.of(rr.ROUND) == [(rec.announce_seq, rec.body)]
        for i, t in enumerate(OTHER):
            assert rec.of(t) == [(first + 2 * i, {"v": 1, "round": rid, "n": i})]


def test_other_round_entries_naming_no_announced_round_are_reported():
    entries = [_e(0, "proxy.grant", {"v": 1, "round": "r1"}), _e(1, rr.ROUND, _round("r1")),
               _e(2, "paper.ballot", {"v": 1}), _e(3, "round.result", {"v": 1, "round": "r9"}),
               _e(4, "round.shares", {"v": 1, "round": "r1"})]
    rounds, problems = rr.collect_rounds(entries)
    assert [s for s, _ in problems] == [0, 2, 3]
    assert "round r1 was not announced before this entry" in problems[0][1]
    assert "paper.ballot: the round member must be a round id" in problems[1][1]
    assert rounds["r1"].of("round.shares") == [(4, {"v": 1, "round": "r1"})]


def test_whole_log_checks_get_the_jobs_of_the_verifier():
    assert VerifyContext("o", "k").jobs == 1 and VerifyContext("o", "k", 4).jobs == 4


def test_gongjue_verify_json_lists_each_check_with_its_count(tmp_path, capsys):
    """Issue #9 part 8: `gongjue verify --json` lists every check and what it counted."""
    import json

    from ledger.db import make_engine, migrate
    from web.cli import main

    eng = make_engine(f"sqlite:///{tmp_path / 'g.db'}")
    migrate(eng)
    rs.build(eng, tmp_path / "good")
    eng.dispose()
    assert main(["verify", str(tmp_path / "good"), "--json", "--jobs", "2"]) == 0
    found = json.loads(capsys.readouterr().out)
    counts = {row["check"]: row["count"] for row in found["checks"]}
    assert list(counts) == ["entries", "roll entries", "credential statements", "rounds", "ballots verified",
                            "proxies", "paper ballots", "aggregates", "decryption shares", "decisions", "deliveries",
                            "consultation responses", "follow-through payments"]
    assert counts["deliveries"] == 0 and counts["consultation responses"] == 0
    assert counts["entries"] == found["entries"] and counts["roll entries"] == 1
    assert counts["credential statements"] >= 1 and counts["rounds"] == 1
    assert counts["ballots verified"] == 3
    assert counts["aggregates"] > 0 and found["jobs"] == 2
    assert main(["verify", str(tmp_path / "good"), "--jobs", "1"]) == 0
    assert "ballots verified (signature, eligibility, proofs, duplicates and revotes): 3" in capsys.readouterr().out


def test_whole_log_checks_share_one_parse_and_fall_back_past_the_budget(tmp_path, monkeypatch):
    """The entries parsed in the walk are reused by every whole-log check; past KEEP_PARSED_BYTES
    each check parses again — the report is the same either way."""
    from ledger import verify
    from ledger.db import make_engine, migrate
    from web.cli.ledger import content_checks

    eng = make_engine(f"sqlite:///{tmp_path / 'g.db'}")
    migrate(eng)
    rs.build(eng, tmp_path / "bad", unregistered_casts=True)
    eng.dispose()
    shared = verify.verify_bundle(tmp_path / "bad", checks=content_checks(), jobs=1)
    monkeypatch.setattr(verify, "KEEP_PARSED_BYTES", 100)
    again = verify.verify_bundle(tmp_path / "bad", checks=content_checks(), jobs=1)
    assert not shared.ok and [p.to_json() for p in shared.problems] == [p.to_json() for p in again.problems]
    assert shared.counts == again.counts and shared.counts["ballots verified"] > 0
