"""Deemed consent and the result body, without a database (voting.count_result, SPEC §7.10)."""

from __future__ import annotations

from voting.agenda import parse_agenda
from voting.count_result import (
    SelectionCounts,
    decide_counts,
    deemed_counts,
    settings_of,
    to_counts,
)
from voting.rules import Amount

AGENDA = parse_agenda({"rules": "civil-code-2021", "items": [
    {"id": "m", "kind": "motion", "matter": "hire_manager"},
    {"id": "c", "kind": "choice", "matter": "hire_manager", "options": ["x", "y", "none"]},
    {"id": "e", "kind": "election", "matter": "elect_committee", "seats": 2, "candidates": ["k1", "k2", "k3"]}]},
    "agenda.json")
T = Amount(10, 1000)
P = Amount(6, 600)


def _counts(m, c, e):
    return [SelectionCounts("m", *m), SelectionCounts("c", *c), SelectionCounts("e", *e)]


def test_non_voters_follow_only_a_majority_by_heads_and_by_area():
    # motion: agree has 4 of 6 heads but only 250 of 600 m²: no majority on both → non-voters abstain
    # choice: x holds 4 heads and 400 m²: non-voters choose x
    # election: k1 (5, 500) and k2 (4, 320) and k3 (4, 310) hold majorities; seats 2 → k1 and k2
    counts = to_counts(AGENDA, P, _counts(((4, 1, 1), (250, 150, 200)), ((4, 2, 0), (400, 200, 0)),
                                          ((5, 4, 4), (500, 320, 310))))
    deemed = deemed_counts(AGENDA, T, counts)
    rest = Amount(4, 400)
    assert deemed.participation == T
    assert deemed.items["m"] == {"agree": Amount(4, 250), "oppose": Amount(1, 150), "abstain": Amount(1 + 4, 200 + 400)}
    assert deemed.items["c"]["x"] == Amount(8, 800) and deemed.items["c"]["y"] == Amount(2, 200)
    assert deemed.items["e"] == {"k1": Amount(9, 900), "k2": Amount(8, 720), "k3": Amount(4, 310)}
    assert rest == Amount(T.heads - P.heads, T.area - P.area)


def test_deemed_result_is_decided_beside_the_actual_one():
    decided = decide_counts(AGENDA, T, P, _counts(((5, 1, 0), (500, 100, 0)), ((3, 3, 0), (300, 300, 0)),
                                                  ((0, 0, 0), (0, 0, 0))), deemed=True)
    assert decided.tally()["quorum"] is False  # 3·6 < 2·10
    deemed = decided.deemed_tally()
    assert deemed["quorum"] is True and deemed["items"]["m"]["outcome"] == "passed"
    assert deemed["items"]["c"]["outcome"] == "failed"  # no option had a majority: non-voters choose none
    assert deemed["items"]["e"]["outcome"] == "partial" and deemed["items"]["e"]["elected"] == []
    assert decide_counts(AGENDA, T, P, _counts(((5, 1, 0), (500, 100, 0)), ((3, 3, 0), (300, 300, 0)),
                                               ((0, 0, 0), (0, 0, 0))), deemed=False).deemed_tally() is None


def test_settings_follow_the_extensions_in_order():
    body = {"window": {"opens": "2026-12-01T00:00:00Z", "closes": "2026-12-10T00:00:00Z"},
            "policies": {"deemed_consent": True, "objection_days": 3}}
    ext = [("2026-12-09T00:00:00Z", {"previous": "2026-12-10T00:00:00Z", "closes": "2026-12-12T00:00:00Z"}),
           ("2026-12-10T00:00:00Z", {"previous": "2026-12-11T00:00:00Z", "closes": "2026-12-20T00:00:00Z"}),
           ("2026-12-11T00:00:00Z", {"previous": "2026-12-12T00:00:00Z", "closes": "2026-12-14T00:00:00Z"}),
           ("2026-12-14T00:00:00Z", {"previous": "2026-12-14T00:00:00Z", "closes": "2026-12-30T00:00:00Z"})]
    # the second is not the close in force; the last comes when the window has ended: no reopening
    s = settings_of(body, ext)
    assert s.closes.isoformat() == "2026-12-14T00:00:00+00:00" and s.deemed_consent and s.objection_days == 3
    assert settings_of({}, []).closes is None and settings_of({}, []).objection_days == 7
