"""Live turnout against both two-thirds lines, per building and stairwell, and the canvassing list
(issue #9 part 6), both databases.  The roll (tests/voting/test_paper_entry.py ``PARTS``): six
voters, 540.00 m²; E-05 holds a flat in each building.  Two thirds: 4 heads and 360.00 m²."""

from __future__ import annotations

import csv
import io

from ledger.db import reading
from tests.voting.test_paper_entry import PARTS, ROUND_ID, SLUG, build
from voting import turnout as turnout_

M = {"m1": [1, 0, 0], "e1": [0, 0, 0], "c1": [1, 0, 0]}


def _vote(b, electronic=(), paper=()):
    for owner in electronic:
        b.cast(owner, M)
    for owner in paper:
        b.enter(owner, "zhao")
        b.enter(owner, "qian")


def _turnout(b, **kw):
    with reading(b.engine) as session:
        return turnout_.turnout(session, SLUG, ROUND_ID, **kw)


def test_exactly_two_thirds_by_heads_and_area_reaches_both_lines(engine):
    b = build(engine)
    _vote(b, electronic=("A-01", "B-02"), paper=("C-03", "F-06"))
    t = _turnout(b)
    h, a = t.figures.heads, t.figures.area
    assert (h.total, h.participating, h.needed, h.missing, h.reached) == (6, 4, 4, 0, True)
    assert (a.total, a.participating, a.needed, a.missing, a.reached) == (54000, 36000, 36000, 0, True)
    assert t.figures.reached and (t.electronic, t.paper) == (2, 2)
    assert h.percent == "66.66" and a.percent == "66.66"


def test_one_head_short_and_the_area_missing(engine):
    b = build(engine)
    _vote(b, electronic=("A-01", "B-02", "C-03"))
    t = _turnout(b, places=False)
    h, a = t.figures.heads, t.figures.area
    assert (h.participating, h.reached, h.missing) == (3, False, 1)
    assert (a.participating, a.reached, a.missing) == (27000, False, 9000)
    assert t.buildings == ()


def test_one_hundredth_of_a_square_metre_short(engine):
    parts = tuple((b_, u, r, 5999 if o == "C-03" else a, o) for b_, u, r, a, o in PARTS)
    b = build(engine, parts=parts)
    _vote(b, electronic=("A-01", "B-02"), paper=("C-03", "F-06"))
    t = _turnout(b)
    h, a = t.figures.heads, t.figures.area
    assert h.reached and (a.total, a.participating, a.needed, a.missing) == (53999, 35999, 36000, 1)
    assert not a.reached and 3 * 35999 < 2 * 53999 and not t.figures.reached


def test_per_building_and_stairwell(engine):
    b = build(engine)
    _vote(b, electronic=("A-01", "B-02"), paper=("C-03", "F-06"))
    t = _turnout(b)
    got = {(p.building, p.unit): (p.figures.heads.total, p.figures.heads.participating,
                                  p.figures.area.total, p.figures.area.participating)
           for p in t.buildings + t.units}
    assert got == {("1", None): (4, 3, 30000, 27000), ("2", None): (3, 1, 24000, 9000),
                   ("1", "1"): (2, 2, 21000, 21000), ("1", "2"): (2, 1, 9000, 6000), ("2", "1"): (3, 1, 24000, 9000)}
    by = {p.building: p.figures for p in t.buildings}
    assert by["1"].heads.reached and by["1"].area.reached and not by["2"].heads.reached
    assert by["2"].heads.missing == 1 and by["2"].area.missing == 16000 - 9000


def test_a_building_scope_counts_only_its_flats(engine):
    b = build(engine, scope={"buildings": ["2"]})
    _vote(b, electronic=("E-05",))
    t = _turnout(b)
    assert (t.figures.heads.total, t.figures.heads.participating) == (3, 1)
    assert (t.figures.area.total, t.figures.area.participating) == (24000, 5000)
    assert [p.building for p in t.buildings] == ["2"]
    with reading(engine) as session:
        flats = turnout_.non_voters(session, SLUG, ROUND_ID)
    assert [(f.building, f.unit, f.room) for f in flats] == [("2", "1", "101"), ("2", "1", "103")]


def test_the_non_voters_list_and_its_csv(engine):
    b = build(engine)
    _vote(b, electronic=("A-01",), paper=("C-03", "F-06"))
    with reading(engine) as session:
        flats = turnout_.non_voters(session, SLUG, ROUND_ID)
    assert [(f.building, f.unit, f.room, f.owner_name, f.area) for f in flats] == [
        ("1", "1", "102", "=HYPERLINK(\"http://x\")", 12000), ("2", "1", "101", "赵六", 10000),
        ("2", "1", "102", "钱七", 5000), ("1", "2", "202", "钱七", 3000)]
    data = turnout_.non_voters_csv(flats)
    assert data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == list(turnout_.CSV_HEADER)
    assert rows[1] == ["1", "1", "102", "'=HYPERLINK(\"http://x\")", "120.00"]  # formula neutralised
    assert rows[4] == ["1", "2", "202", "钱七", "30.00"]


def test_the_round_s_own_quorum_beside_the_two_thirds_lines(engine):
    """property-law-2007: 2·P > T — exactly half (3 of 6 heads, 270.00 of 540.00 m²) is not enough."""
    b = build(engine, rules="property-law-2007")
    _vote(b, electronic=("A-01", "B-02", "C-03"))
    t = _turnout(b, places=False)
    assert (t.quorum.rules, t.quorum.formula, t.quorum.holds) == ("property-law-2007", "2·P > T", False)
    assert [(m, h) for m, h, _, _ in t.quorum.checks] == [("area", False), ("heads", False)]
    assert "270.00" in t.quorum.checks[0][3] and "540.00" in t.quorum.checks[0][3]


def test_the_quorum_can_hold_below_the_two_thirds_area_line(engine):
    b = build(engine, rules="property-law-2007")
    _vote(b, electronic=("C-03", "D-04", "E-05", "A-01"))  # 4 heads, 330.00 m²
    t = _turnout(b, places=False)
    assert t.quorum.holds and t.figures.heads.reached and not t.figures.area.reached
    assert t.figures.area.missing == 3000


def test_civil_code_quorum_is_the_two_thirds_line(engine):
    b = build(engine)
    _vote(b, electronic=("A-01", "B-02"), paper=("C-03", "F-06"))
    t = _turnout(b, places=False)
    assert (t.quorum.formula, t.quorum.holds) == ("3·P ≥ 2·T", True) and t.figures.reached


def test_erased_openings_are_refused_even_after_being_read(engine):
    """After the retention period the snapshot's openings are erased (SPEC §6.3): the places and
    the canvassing list are refused, even though they were read (and kept) before."""
    import pytest

    from identity import store
    from ledger.db import transaction
    from tests.voting.test_paper_entry import roll

    b = build(engine)
    _vote(b, electronic=("A-01",))
    assert _turnout(b).buildings
    with transaction(engine) as session:
        store.import_roll(session, SLUG, roll(), filename="roll2.csv", data=b"roll2")
        assert store.erase_openings(session, SLUG, 2, by="tests") == [1]
    with pytest.raises(turnout_.TurnoutError) as exc, reading(engine) as session:
        turnout_.non_voters(session, SLUG, ROUND_ID)
    assert exc.value.code == "no_openings"
    assert _turnout(b, places=False).figures.heads.participating == 1  # the totals stay public
