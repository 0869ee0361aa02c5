"""Table tests at every threshold boundary of DOMAIN.md "When a decision stands".

Each row moves one measure (area or heads) across its line while the other stays far inside,
so a check that used the wrong measure, the wrong base, or ≥ for > fails here.
"""

import pytest

from voting.rules import CIVIL_CODE_2021, MATTERS, PROPERTY_LAW_2007, Amount, matter_passes, quorum

CIVIL, LEGACY = CIVIL_CODE_2021, PROPERTY_LAW_2007
T = Amount(300, 3_000_000)  # 300 voters, 30,000.00 m²
ALL = Amount(300, 3_000_000)


def with_measure(measure: str, value: int, other: Amount) -> Amount:
    return Amount(value, other.area) if measure == "heads" else Amount(other.heads, value)


# --- quorum -----------------------------------------------------------------------------------

@pytest.mark.parametrize("measure,value,expected", [
    # civil-code-2021: 3·P ≥ 2·T — exactly two thirds passes
    ("heads", 200, True), ("heads", 199, False), ("heads", 201, True),
    ("area", 2_000_000, True), ("area", 1_999_999, False), ("area", 2_000_001, True),
])
def test_civil_quorum_two_thirds_inclusive(measure, value, expected):
    p = with_measure(measure, value, ALL)
    assert quorum(CIVIL, p, T).holds is expected
    assert [c.holds for c in quorum(CIVIL, p, T).checks if c.measure == measure] == [expected]


@pytest.mark.parametrize("measure,value,expected", [
    # property-law-2007: 2·P > T — exactly half fails
    ("heads", 150, False), ("heads", 151, True), ("heads", 149, False),
    ("area", 1_500_000, False), ("area", 1_500_001, True), ("area", 1_499_999, False),
])
def test_legacy_quorum_more_than_half(measure, value, expected):
    assert quorum(LEGACY, with_measure(measure, value, ALL), T).holds is expected


def test_quorum_needs_area_and_heads():
    assert not quorum(CIVIL, Amount(300, 1_999_999), T).holds
    assert not quorum(CIVIL, Amount(199, 3_000_000), T).holds
    assert quorum(CIVIL, Amount(200, 2_000_000), T).holds


def test_quorum_with_odd_totals():
    t = Amount(10, 101)  # 2/3 of 10 heads is 6.67 → 7 needed; of 1.01 m² is 0.6733 → 0.68 needed
    assert not quorum(CIVIL, Amount(6, 101), t).holds
    assert quorum(CIVIL, Amount(7, 68), t).holds
    assert not quorum(CIVIL, Amount(7, 67), t).holds


# --- civil-code-2021 matters, against P ----------------------------------------------------------

P = Amount(200, 2_000_000)


@pytest.mark.parametrize("matter", ["raise_maintenance_fund", "rebuild", "change_common_use"])
@pytest.mark.parametrize("measure,value,expected", [
    # 4·Y ≥ 3·P — exactly three quarters passes
    ("heads", 150, True), ("heads", 149, False), ("heads", 151, True),
    ("area", 1_500_000, True), ("area", 1_499_999, False), ("area", 1_500_001, True),
])
def test_civil_special_three_quarters_of_participation(matter, measure, value, expected):
    y = with_measure(measure, value, P)
    assert matter_passes(CIVIL, matter, y, P, T).holds is expected


@pytest.mark.parametrize("matter", ["rules_of_procedure", "management_statute", "elect_committee",
                                    "hire_manager", "use_maintenance_fund", "other_major"])
@pytest.mark.parametrize("measure,value,expected", [
    # 2·Y > P — exactly half fails
    ("heads", 100, False), ("heads", 101, True), ("heads", 99, False),
    ("area", 1_000_000, False), ("area", 1_000_001, True), ("area", 999_999, False),
])
def test_civil_ordinary_more_than_half_of_participation(matter, measure, value, expected):
    y = with_measure(measure, value, P)
    assert matter_passes(CIVIL, matter, y, P, T).holds is expected


# --- property-law-2007 matters, against T --------------------------------------------------------

@pytest.mark.parametrize("matter", ["raise_maintenance_fund", "use_maintenance_fund", "rebuild"])
@pytest.mark.parametrize("measure,value,expected", [
    # 3·Y ≥ 2·T — exactly two thirds of the totals passes
    ("heads", 200, True), ("heads", 199, False), ("heads", 201, True),
    ("area", 2_000_000, True), ("area", 1_999_999, False), ("area", 2_000_001, True),
])
def test_legacy_special_two_thirds_of_totals(matter, measure, value, expected):
    p = Amount(250, 2_500_000)
    y = with_measure(measure, value, Amount(250, 2_500_000))
    assert matter_passes(LEGACY, matter, y, p, T).holds is expected


@pytest.mark.parametrize("matter", ["rules_of_procedure", "management_statute", "elect_committee",
                                    "hire_manager", "change_common_use", "other_major"])
@pytest.mark.parametrize("measure,value,expected", [
    # 2·Y > T — exactly half of the totals fails
    ("heads", 150, False), ("heads", 151, True), ("heads", 149, False),
    ("area", 1_500_000, False), ("area", 1_500_001, True), ("area", 1_499_999, False),
])
def test_legacy_ordinary_more_than_half_of_totals(matter, measure, value, expected):
    p = Amount(250, 2_500_000)
    y = with_measure(measure, value, Amount(250, 2_500_000))
    assert matter_passes(LEGACY, matter, y, p, T).holds is expected


def test_legacy_measures_against_totals_not_participation():
    # 160 of 160 participants agree, but 2·160 > 300 only just; 140 of 140 is not enough.
    assert matter_passes(LEGACY, "hire_manager", Amount(151, 1_500_001), Amount(151, 1_500_001), T).holds
    assert not matter_passes(LEGACY, "hire_manager", Amount(150, 1_500_001), Amount(150, 1_500_001), T).holds


def test_matter_classes():
    assert {m for m in MATTERS if CIVIL.matter_class(m) == "special"} == {
        "raise_maintenance_fund", "rebuild", "change_common_use"}
    assert {m for m in MATTERS if LEGACY.matter_class(m) == "special"} == {
        "raise_maintenance_fund", "use_maintenance_fund", "rebuild"}
    with pytest.raises(KeyError):
        CIVIL.matter_class("buy_a_boat")


# --- explanations ---------------------------------------------------------------------------

def test_explanation_states_the_inequality_with_the_numbers():
    d = quorum(CIVIL, Amount(13, 1_234_567), Amount(18, 1_800_000))
    area, heads = d.checks
    assert area.en == ("participating area 12,345.67 m² of total 18,000.00 m² = 68.58% ≥ 2/3 ✓ "
                       "(3 × 12,345.67 ≥ 2 × 18,000.00)")
    assert area.zh == ("参与面积 12,345.67 m² / 总面积 18,000.00 m² = 68.58% ≥ 2/3 ✓"
                       "（3 × 12,345.67 ≥ 2 × 18,000.00）")
    assert heads.en == "participating heads 13 of total 18 = 72.22% ≥ 2/3 ✓ (3 × 13 ≥ 2 × 18)"
    assert d.holds


def test_explanation_of_a_failure_shows_the_reversed_relation():
    d = matter_passes(CIVIL, "hire_manager", Amount(50, 500), Amount(100, 1000), T)
    assert [c.en for c in d.checks] == [
        "agreeing area 5.00 m² of participating 10.00 m² = 50.00% ≤ 1/2 ✗ (2 × 5.00 ≤ 1 × 10.00)",
        "agreeing heads 50 of participating 100 = 50.00% ≤ 1/2 ✗ (2 × 50 ≤ 1 × 100)"]
    d = matter_passes(CIVIL, "rebuild", Amount(74, 7499), Amount(100, 10000), T)
    assert d.checks[0].en.endswith("= 74.99% < 3/4 ✗ (4 × 74.99 < 3 × 100.00)")
    assert d.checks[1].zh == "同意人数 74 / 参与人数 100 = 74.00% < 3/4 ✗（4 × 74 < 3 × 100）"


def test_percent_is_truncated_not_rounded_and_never_decides():
    # exactly two thirds shows 66.66% yet passes: the display never decides.
    d = quorum(CIVIL, Amount(2, 200), Amount(3, 300))
    assert d.holds
    assert "= 66.66% ≥ 2/3 ✓" in d.checks[0].en


def test_formulas_as_printed():
    assert [CIVIL.quorum.formula("P"), CIVIL.special.formula("Y"), CIVIL.ordinary.formula("Y")] == [
        "3·P ≥ 2·T", "4·Y ≥ 3·P", "2·Y > P"]
    assert [LEGACY.quorum.formula("P"), LEGACY.special.formula("Y"), LEGACY.ordinary.formula("Y")] == [
        "2·P > T", "3·Y ≥ 2·T", "2·Y > T"]


def test_legacy_explanation_names_the_totals():
    d = matter_passes(LEGACY, "use_maintenance_fund", Amount(200, 2_000_000), Amount(250, 2_500_000), T)
    assert d.checks[1].en == "agreeing heads 200 of total 300 = 66.66% ≥ 2/3 ✓ (3 × 200 ≥ 2 × 300)"
    assert d.checks[1].zh == "同意人数 200 / 总人数 300 = 66.66% ≥ 2/3 ✓（3 × 200 ≥ 2 × 300）"
