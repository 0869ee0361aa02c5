"""Rule sets beyond the statutes (SPEC §5.3): household-majority and estate fractions that may be
stricter than the statute, never looser — boundaries exactly at each fraction."""

import pytest

from tests.voting.helpers import agenda_of, motion
from voting.agenda import AgendaError
from voting.rules import (
    CIVIL_CODE_2021,
    HOUSEHOLD_MAJORITY,
    PROPERTY_LAW_2007,
    Amount,
    RulesError,
    matter_passes,
    not_looser,
    quorum,
    rule_set,
)


def test_household_majority_counts_heads_only():
    t = Amount(heads=30, area=1)
    # 20 of 30 households take part: 3·20 ≥ 2·30 holds exactly at the line; area is never judged
    d = quorum(HOUSEHOLD_MAJORITY, Amount(20, 0), t)
    assert d.holds and [c.measure for c in d.checks] == ["heads"]
    assert not quorum(HOUSEHOLD_MAJORITY, Amount(19, 10**9), t).holds


@pytest.mark.parametrize("matter", ["elect_committee", "raise_maintenance_fund", "rebuild", "hire_manager"])
def test_household_majority_more_than_half_of_votes_cast(matter):
    p = Amount(heads=20, area=0)
    assert not matter_passes(HOUSEHOLD_MAJORITY, matter, Amount(10, 0), p, Amount(30, 0)).holds  # exactly half
    assert matter_passes(HOUSEHOLD_MAJORITY, matter, Amount(11, 0), p, Amount(30, 0)).holds


def test_household_majority_in_an_agenda():
    assert agenda_of(motion(), rules="household-majority").rules is HOUSEHOLD_MAJORITY


def test_estate_rules_stricter_fractions():
    r = rule_set("civil-code-2021+estate:quorum=3/4,ordinary=2/3")
    assert (r.quorum.numerator, r.quorum.denominator, r.quorum.strict) == (3, 4, False)
    assert (r.ordinary.numerator, r.ordinary.denominator, r.ordinary.strict) == (2, 3, True)
    assert r.special == CIVIL_CODE_2021.special and r.special_matters == CIVIL_CODE_2021.special_matters
    t = Amount(100, 10000)
    assert quorum(r, Amount(75, 7500), t).holds  # 4·75 ≥ 3·100 exactly
    assert not quorum(r, Amount(74, 7500), t).holds
    p = Amount(90, 9000)
    assert not matter_passes(r, "hire_manager", Amount(60, 6000), p, t).holds  # 3·60 > 2·90 fails at equality
    assert matter_passes(r, "hire_manager", Amount(61, 6001), p, t).holds


def test_equal_fraction_is_allowed_and_means_the_statute():
    r = rule_set("civil-code-2021+estate:quorum=2/3")
    assert r.quorum == CIVIL_CODE_2021.quorum


@pytest.mark.parametrize("name, words", [
    ("civil-code-2021+estate:quorum=3/5", "looser"),  # 3/5 < 2/3
    ("civil-code-2021+estate:special=74/100", "lowest terms"),
    ("civil-code-2021+estate:special=37/50", "looser"),  # 37/50 < 3/4
    ("civil-code-2021+estate:ordinary=1/2,quorum=3/4", "order"),
    ("civil-code-2021+estate:ordinary=1/1", "(0, 1)"),  # > base can never hold at 1
    ("civil-code-2021+estate:quorum=0/3", "(0, 1]"),
    ("civil-code-2021+estate:quorum=4/3", "(0, 1]"),
    ("civil-code-2021+estate:quorum=03/4", "cannot read"),
    ("civil-code-2021+estate:quorum=0.7", "cannot read"),
    ("civil-code-2021+estate:", "cannot read"),
    ("civil-code-2021+estate:quorum=3/4,quorum=4/5", "cannot read"),
    ("civil-code-2021+estate:turnout=3/4", "cannot read"),
    ("civil-code-2021+estate:quorum=1/20000", "(0, 1]"),
    ("property-law-2007+estate:quorum=1/3", "looser"),
    ("household-majority+estate:ordinary=1/3", "looser"),
    ("civil-code-2020+estate:quorum=3/4", "unknown"),
])
def test_estate_rules_refused(name, words):
    with pytest.raises(RulesError) as e:
        rule_set(name)
    assert words in str(e.value)


def test_estate_rules_refused_in_an_agenda_with_a_message():
    with pytest.raises(AgendaError) as e:
        agenda_of(motion(), rules="civil-code-2021+estate:quorum=3/5")
    assert "不得比法定标准宽松" in str(e.value) and "looser" in str(e.value)


@pytest.mark.parametrize("statute", [CIVIL_CODE_2021.quorum, CIVIL_CODE_2021.special, CIVIL_CODE_2021.ordinary,
                                     PROPERTY_LAW_2007.quorum, PROPERTY_LAW_2007.special])
def test_cross_multiplication_boundary(statute):
    n, d = statute.numerator, statute.denominator
    assert not_looser((n, d), statute)
    assert not_looser((n * 1000 + 1, d * 1000), statute)  # a hair above
    assert not not_looser((n * 1000 - 1, d * 1000), statute)  # a hair below


def test_custom_rule_name_survives_the_round_fingerprint():
    a = agenda_of(motion(), rules="property-law-2007+estate:quorum=2/3")
    assert a.as_json()["rules"] == "property-law-2007+estate:quorum=2/3"
    assert rule_set(a.as_json()["rules"]).quorum.strict  # keeps the statute's '>'
