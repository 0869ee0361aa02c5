"""Deciding from counts: requires/void, no_quorum, choices, elections, runoff, and bad counts."""

import pytest

from voting.count import Counts
from voting.decide import decide
from voting.report import to_json
from voting.rules import Amount

from tests.voting.helpers import agenda_of, choice, election, motion

T = (10, 1000)


def a(heads, area):
    return Amount(heads, area)


def motion_counts(agree, oppose, abstain=(0, 0)):
    return {"agree": a(*agree), "oppose": a(*oppose), "abstain": a(*abstain)}


def run(agenda, p, items, totals=T):
    return decide(agenda, a(*totals), Counts(a(*p), items))


def test_requires_void_and_met():
    agenda = agenda_of(motion("install", "rebuild"), motion("fund", "use_maintenance_fund", requires=["install"]),
                       motion("paint", "other_major", requires=["fund"]))
    # install: 4·6 ≥ 3·8 both measures → passed; fund passes on its own.
    ok = run(agenda, (8, 800), {"install": motion_counts((6, 600), (2, 200)), "fund": motion_counts((5, 500), (3, 300)),
                                "paint": motion_counts((5, 500), (3, 300))})
    assert [r.outcome for r in ok.items.values()] == ["passed", "passed", "passed"]
    # install one head short of 3/4 → failed; fund void though it has a majority; paint void in turn.
    bad = run(agenda, (8, 800), {"install": motion_counts((5, 600), (3, 200)), "fund": motion_counts((5, 500), (3, 300)),
                                 "paint": motion_counts((5, 500), (3, 300))})
    assert [r.outcome for r in bad.items.values()] == ["failed", "void", "void"]
    assert bad.items["fund"].unmet == ("install",) and bad.items["paint"].unmet == ("fund",)


def test_requires_met_by_elected_only():
    agenda = agenda_of(election("e", seats=1, candidates=["A", "B"]), motion("m", requires=["e"]))
    counts = {"m": motion_counts((6, 600), (2, 200))}
    elected = run(agenda, (8, 800), counts | {"e": {"A": a(5, 500), "B": a(3, 300)}})
    assert (elected.items["e"].outcome, elected.items["m"].outcome) == ("elected", "passed")
    runoff = run(agenda, (8, 800), counts | {"e": {"A": a(5, 500), "B": a(5, 500)}})
    assert (runoff.items["e"].outcome, runoff.items["m"].outcome) == ("runoff", "void")
    partial = run(agenda_of(election("e", seats=2, candidates=["A", "B"]), motion("m", requires=["e"])),
                  (8, 800), counts | {"e": {"A": a(5, 500), "B": a(3, 300)}})
    assert (partial.items["e"].outcome, partial.items["m"].outcome) == ("partial", "void")


def test_no_quorum_comes_before_void_and_decides_nothing():
    agenda = agenda_of(motion("x"), motion("y", requires=["x"]), election("e", seats=1, candidates=["A"]), choice("c"))
    # 6 of 10 heads: 3·6 < 2·10
    r = run(agenda, (6, 900), {"x": motion_counts((6, 900), (0, 0)), "y": motion_counts((0, 0), (6, 900)),
                               "e": {"A": a(6, 900)}, "c": {"X": a(6, 900), "Y": a(0, 0), "none": a(0, 0)}})
    assert not r.quorum.holds
    j = to_json(r)
    assert {k: v["outcome"] for k, v in j["items"].items()} == {"x": "no_quorum", "y": "no_quorum", "e": "no_quorum",
                                                              "c": "no_quorum"}
    assert j["items"]["e"] == {"outcome": "no_quorum", "candidates": {"A": {"heads": 6, "area": "9.00", "qualified": False}},
                               "elected": [], "alternates": [], "runoff": []}
    assert j["items"]["c"]["adopted"] is None


def test_choice_adopts_the_passing_option_or_none():
    agenda = agenda_of(choice("c", options=["X", "Y", "none"]))
    passed = run(agenda, (9, 900), {"c": {"X": a(5, 451), "Y": a(3, 300), "none": a(1, 100)}})
    assert (passed.items["c"].outcome, passed.items["c"].adopted) == ("passed", "X")
    # exactly half of the area: 2·450 is not > 900
    failed = run(agenda, (9, 900), {"c": {"X": a(5, 450), "Y": a(3, 350), "none": a(1, 100)}})
    assert (failed.items["c"].outcome, failed.items["c"].adopted) == ("failed", None)


def test_choice_under_property_law_measures_against_totals():
    agenda = agenda_of(choice("c", options=["X", "Y"]), rules="property-law-2007")
    # quorum 2·P > T: 6 of 10, 600 of 1000; X has all 6 heads and 600 area: 2·6 > 10 ✓
    r = run(agenda, (6, 600), {"c": {"X": a(6, 600), "Y": a(0, 0)}})
    assert r.items["c"].adopted == "X"
    r = run(agenda, (6, 600), {"c": {"X": a(5, 600), "Y": a(1, 0)}})  # 2·5 = 10, not > 10
    assert r.items["c"].outcome == "failed"


def election_result(seats, scores, rank_by="heads", p=(10, 1000)):
    cands = list(scores)
    agenda = agenda_of(election("e", seats=seats, candidates=cands, rank_by=rank_by))
    return run(agenda, p, {"e": {c: a(*s) for c, s in scores.items()}}, totals=p).items["e"]


def test_election_elected_with_alternates_in_order():
    r = election_result(2, {"A": (6, 600), "B": (8, 510), "C": (7, 700), "D": (6, 650), "E": (5, 900)})
    # E: 2·5 is not > 10 heads → not qualified though it has the most area
    assert r.qualified == ("B", "C", "D", "A")
    assert (r.outcome, r.elected, r.alternates, r.runoff) == ("elected", ("B", "C"), ("D", "A"), ())


def test_election_rank_by_area():
    r = election_result(2, {"A": (6, 600), "B": (8, 510), "C": (7, 700), "D": (6, 650)}, rank_by="area")
    assert (r.elected, r.alternates) == (("C", "D"), ("A", "B"))


def test_election_runoff_at_the_cutoff():
    r = election_result(2, {"A": (9, 900), "B": (7, 700), "C": (7, 700), "D": (7, 700), "E": (6, 600)})
    assert (r.outcome, r.elected, r.runoff, r.alternates) == ("runoff", ("A",), ("B", "C", "D"), ("E",))
    # equal heads but different area is no tie
    r = election_result(2, {"A": (9, 900), "B": (7, 701), "C": (7, 700)})
    assert (r.outcome, r.elected, r.alternates) == ("elected", ("A", "B"), ("C",))
    # a tie below the cutoff is no runoff; the agenda order stands
    r = election_result(1, {"A": (9, 900), "B": (7, 700), "C": (7, 700)})
    assert (r.outcome, r.elected, r.alternates) == ("elected", ("A",), ("B", "C"))
    # a tie for the only seat
    r = election_result(1, {"A": (7, 700), "B": (7, 700)})
    assert (r.outcome, r.elected, r.runoff, r.alternates) == ("runoff", (), ("A", "B"), ())


def test_election_partial():
    r = election_result(3, {"A": (6, 600), "B": (5, 900), "C": (9, 500)})
    assert (r.outcome, r.elected, r.alternates) == ("partial", ("A",), ())
    r = election_result(1, {"A": (5, 500)})
    assert (r.outcome, r.elected) == ("partial", ())


@pytest.mark.parametrize("p,items,message", [
    ((11, 900), {"m": motion_counts((6, 600), (5, 300))}, "participation"),
    ((8, 800), {"m": motion_counts((6, 600), (1, 200))}, "marks sum to"),
    ((8, 800), {"m": motion_counts((9, 600), (0, 200))}, "item m mark agree"),
    ((8, 800), {"m": {"agree": a(8, 800), "oppose": a(0, 0)}}, "must count exactly"),
    ((8, 800), {"m": motion_counts((8, 800), (0, 100), (0, -100))}, "item m mark abstain"),
])
def test_inconsistent_counts_refused(p, items, message):
    with pytest.raises(ValueError, match=message):
        run(agenda_of(motion("m")), p, items)


def test_choice_counts_above_participation_refused():
    with pytest.raises(ValueError, match="item c sum"):
        run(agenda_of(choice("c", options=["X", "Y"])), (8, 800), {"c": {"X": a(5, 500), "Y": a(5, 500)}})


def test_text_report_for_runoff_void_and_no_quorum():
    from voting.report import to_text

    agenda = agenda_of(election("e", seats=1, candidates=["A", "B"], title="补选"), motion("m", requires=["e"]))
    r = run(agenda, (8, 800), {"e": {"A": a(5, 500), "B": a(5, 500)}, "m": motion_counts((8, 800), (0, 0))})
    text = to_text(r)
    assert "事项 / item e 「补选」 — 选举 / election" in text
    assert "结果 / outcome: 末位同票，须另行决定 / runoff (tie at the last seat)" in text
    assert "须另行决定（同票）/ runoff (tied): A, B" in text
    assert "当选 / elected (1 席 seats): 无 / none" in text
    assert "未通过的依赖事项 / required items not passed: e" in text
    r = run(agenda, (6, 800), {"e": {"A": a(5, 500), "B": a(5, 500)}, "m": motion_counts((6, 800), (0, 0))})
    text = to_text(r)
    assert "法定参与 / quorum (3·P ≥ 2·T, 面积与人数 area and heads): 未达到 / not met ✗" in text
    assert "参与人数 6 / 总人数 10 = 60.00% < 2/3 ✗（3 × 6 < 2 × 10）" in text
    assert text.count("结果 / outcome: 参与不足，未形成决定 / no quorum") == 2
    assert "当选 / elected" not in text
