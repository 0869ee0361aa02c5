"""Property tests (hypothesis) of counting and deciding: exactness, monotonicity, consistency."""

from fractions import Fraction

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from identity.roll import Part, Roll
from identity.scope import Scope, totals, voters_in_scope
from voting.count import Counts, count_ballots
from voting.decide import decide, decide_election, rank_key
from voting.paper import PaperBallot
from voting.rules import CIVIL_CODE_2021, MATTERS, RULE_SETS, Amount, Threshold, matter_passes, percent, quorum

from tests.voting.helpers import agenda_of, choice, election, motion

rule_sets = st.sampled_from(list(RULE_SETS.values()))
thresholds = st.sampled_from([t for r in RULE_SETS.values() for t in (r.quorum, r.special, r.ordinary)])
sizes = st.integers(min_value=0, max_value=10**12)


@given(thresholds, sizes, st.integers(min_value=1, max_value=10**12))
def test_threshold_is_the_exact_rational_comparison(t: Threshold, value, base):
    exact = Fraction(value, base)
    line = Fraction(t.numerator, t.denominator)
    assert t.holds(value, base) == (exact > line if t.strict else exact >= line)


@given(thresholds, st.integers(min_value=1, max_value=10**9))
def test_boundary_exactness(t: Threshold, k):
    # base = d·k puts the line exactly at n·k: inclusive thresholds take it, strict ones need one more.
    base = t.denominator * k
    at = t.numerator * k
    assert t.holds(at, base) is (not t.strict)
    assert t.holds(at + 1, base)
    assert not t.holds(at - 1, base)


@given(thresholds, sizes, sizes, st.integers(min_value=1, max_value=10**12), st.integers(min_value=0, max_value=10**6))
def test_monotone_in_value_and_base(t: Threshold, value, extra, base, less):
    if t.holds(value, base):
        assert t.holds(value + extra, base)
        if base - less >= 1:
            assert t.holds(value, base - less)


@given(sizes, st.integers(min_value=1, max_value=10**12))
def test_percent_never_overstates(value, base):
    text = percent(value, base)
    whole, frac = text.rstrip("%").split(".")
    shown = Fraction(int(whole) * 100 + int(frac), 10000)
    assert shown <= Fraction(value, base) < shown + Fraction(1, 10000)


# --- counting from ballots ------------------------------------------------------------------

owners = [f"O{i}" for i in range(8)] + ["DEV"]


@st.composite
def rolls(draw):
    parts = []
    for i in range(draw(st.integers(min_value=1, max_value=25))):
        owner = draw(st.sampled_from(owners))
        parts.append(Part(draw(st.sampled_from("12")), draw(st.sampled_from("12")), str(100 + i),
                          draw(st.integers(1, 10**7)), "registered", owner, owner == "DEV"))
    return Roll(tuple(parts))


AGENDA_ITEMS = (motion("m", "hire_manager"), motion("s", "rebuild"),
                election("e", seats=2, candidates=("A", "B", "C")), choice("c", options=("X", "Y", "Z")))


@st.composite
def marks(draw):
    picked = draw(st.lists(st.sampled_from("ABC"), unique=True, max_size=3))
    return {"m": draw(st.sampled_from(["agree", "oppose", "abstain"])),
            "s": draw(st.sampled_from(["agree", "oppose", "abstain"])),
            "e": tuple(picked) if len(picked) <= 2 else None,
            "c": draw(st.sampled_from(["X", "Y", "Z", None]))}


@st.composite
def rounds(draw):
    roll = draw(rolls())
    scope = draw(st.sampled_from([Scope(), Scope(buildings=("1",)), Scope(units=(("2", "1"),))]))
    assume(voters_in_scope(roll, scope))
    voters = voters_in_scope(roll, scope)
    voting = draw(st.lists(st.sampled_from([v.voter_id for v in voters]), unique=True))
    ballots = tuple(PaperBallot(n + 2, vid, draw(marks())) for n, vid in enumerate(voting))
    rules = draw(st.sampled_from(list(RULE_SETS)))
    agenda = agenda_of(*AGENDA_ITEMS, rules=rules)
    return roll, scope, agenda, ballots


def _count(roll, scope, agenda, ballots) -> Counts:
    return count_ballots(agenda, voters_in_scope(roll, scope), ballots)


@settings(max_examples=150, deadline=None)
@given(rounds())
def test_counts_are_sums_of_voter_weights_and_heads_never_exceed_parts(r):
    roll, scope, agenda, ballots = r
    counts = _count(roll, scope, agenda, ballots)
    weight = {v.voter_id: v.area for v in voters_in_scope(roll, scope)}
    parts_in_scope = sum(1 for p in roll.parts if scope.contains(p))
    p = counts.participation
    assert p == Amount(len(ballots), sum(weight[b.voter_id] for b in ballots))
    assert p.heads <= totals(roll, scope).heads <= parts_in_scope
    assert p.area <= totals(roll, scope).area
    motion_sum = [counts.items["m"][w] for w in ("agree", "oppose", "abstain")]
    assert Amount(sum(a.heads for a in motion_sum), sum(a.area for a in motion_sum)) == p
    for cand in "ABC":
        expected = [b for b in ballots if b.marks["e"] is not None and cand in b.marks["e"]]
        assert counts.items["e"][cand] == Amount(len(expected), sum(weight[b.voter_id] for b in expected))
        assert counts.items["e"][cand].heads <= p.heads
    chosen = [counts.items["c"][o] for o in "XYZ"] + [counts.blank["c"]]
    assert Amount(sum(a.heads for a in chosen), sum(a.area for a in chosen)) == p


@settings(max_examples=150, deadline=None)
@given(rounds())
def test_decisions_are_consistent(r):
    roll, scope, agenda, ballots = r
    t = totals(roll, scope)
    result = decide(agenda, Amount(t.heads, t.area), _count(roll, scope, agenda, ballots))
    assert result.quorum.holds == quorum(agenda.rules, result.participation, result.totals).holds
    for item_result in result.items.values():
        if not result.quorum.holds:
            assert item_result.outcome == "no_quorum"
    c = result.items["c"]
    if c.outcome == "passed":
        assert c.adopted in "XYZ" and c.decisions[c.adopted].holds
    e = result.items["e"]
    if e.outcome in ("elected", "partial", "runoff"):
        assert set(e.elected) | set(e.alternates) | set(e.runoff) == set(e.qualified)
        assert len(e.elected) <= 2


@settings(max_examples=150, deadline=None)
@given(rounds(), st.data())
def test_turning_one_no_into_yes_never_undoes_a_pass(r, data):
    roll, scope, agenda, ballots = r
    assume(any(b.marks["m"] != "agree" for b in ballots))
    t = totals(roll, scope)
    t = Amount(t.heads, t.area)
    before = decide(agenda, t, _count(roll, scope, agenda, ballots)).items["m"].outcome
    index = data.draw(st.sampled_from([i for i, b in enumerate(ballots) if b.marks["m"] != "agree"]))
    changed = list(ballots)
    b = changed[index]
    changed[index] = PaperBallot(b.line, b.voter_id, {**b.marks, "m": "agree"})
    after = decide(agenda, t, _count(roll, scope, agenda, tuple(changed))).items["m"].outcome
    if before == "passed":
        assert after == "passed"


@settings(max_examples=100, deadline=None)
@given(rule_sets, st.sampled_from(MATTERS), st.integers(1, 1000), st.integers(1, 10**6), st.data())
def test_more_agreement_never_hurts(rules, matter, p_heads, p_area, data):
    t = Amount(data.draw(st.integers(p_heads, 2000)), data.draw(st.integers(p_area, 2 * 10**6)))
    p = Amount(p_heads, p_area)
    y = Amount(data.draw(st.integers(0, p_heads)), data.draw(st.integers(0, p_area)))
    y2 = Amount(data.draw(st.integers(y.heads, p_heads)), data.draw(st.integers(y.area, p_area)))
    if matter_passes(rules, matter, y, p, t).holds:
        assert matter_passes(rules, matter, y2, p, t).holds


# --- election ranking --------------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(st.integers(1, 4), st.lists(st.tuples(st.integers(5, 8), st.integers(500, 503)), min_size=1, max_size=7),
       st.sampled_from(["heads", "area"]))
def test_election_ranking_and_runoff(seats, scores, rank_by):
    cands = [f"K{i}" for i in range(len(scores))]
    agenda = agenda_of(election("e", seats=seats, candidates=cands, rank_by=rank_by))
    marks = {c: Amount(h, a) for c, (h, a) in zip(cands, scores)}
    p = Amount(10, 1000)  # every candidate with ≥ 6 heads and ≥ 501 area qualifies
    d = {c: matter_passes(CIVIL_CODE_2021, "elect_committee", marks[c], p, p) for c in cands}
    res = decide_election(agenda.items[0], marks, d)
    qualified = [c for c in cands if marks[c].heads >= 6 and marks[c].area >= 501]
    assert sorted(res.qualified) == sorted(qualified)
    key = {c: rank_key(marks[c], rank_by) for c in cands}
    ranked = list(res.elected) + list(res.runoff) + list(res.alternates)
    assert [key[c] for c in ranked] == sorted((key[c] for c in ranked), reverse=True)
    if len(qualified) < seats:
        assert res.outcome == "partial" and sorted(res.elected) == sorted(qualified)
    elif res.outcome == "runoff":
        assert len(res.elected) < seats < len(res.elected) + len(res.runoff)
        assert len({key[c] for c in res.runoff}) == 1
        assert all(key[e] > key[res.runoff[0]] > key[a] for e in res.elected for a in res.alternates)
    else:
        assert res.outcome == "elected" and len(res.elected) == seats
        assert len(qualified) == seats or key[res.elected[-1]] > key[res.alternates[0]]
