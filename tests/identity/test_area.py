import pytest
from hypothesis import given
from hypothesis import strategies as st

from identity.area import format_area, format_area_grouped, parse_area


@pytest.mark.parametrize("text, value", [
    ("88", 8800), ("88.5", 8850), ("88.05", 8805), ("0.01", 1), (" 120.00 ", 12000), ("007.10", 710),
    ("８８．５０", 8850),  # full-width digits and point: NFKC-normalised (issue #8.4)
    ("90071992547409.91", 2**53 - 1),  # the largest area (SPEC §1)
])
def test_parse_area_exact(text, value):
    assert parse_area(text) == value


@pytest.mark.parametrize("text, message", [
    ("88.505", "more than two decimals"),
    ("88.000", "more than two decimals"),
    ("0", "greater than 0"),
    ("0.00", "greater than 0"),
    ("-5", "not a number"),
    ("1,234.50", "not a number"),
    ("1e3", "not a number"),
    ("88.", "not a number"),
    (".5", "not a number"),
    ("", "empty"),
    ("八十", "not a number"),
    ("٨٨", "not a number"),  # Arabic-Indic digits: \d matched them, only ASCII digits count (#8.4)
    ("８８\u200b", "not a number"),
    ("१२", "not a number"),  # Devanagari
    ("90071992547409.92", "above the limit"),  # 2^53 (0.01 m²): beyond exact JSON integers (#8.3)
    ("9" * 40, "above the limit"),
])
def test_parse_area_refuses(text, message):
    with pytest.raises(ValueError, match=message):
        parse_area(text)


def test_format_area():
    assert format_area(123450) == "1234.50"
    assert format_area(5) == "0.05"
    assert format_area(0) == "0.00"
    assert format_area_grouped(1234567) == "12,345.67"


@given(st.integers(min_value=1, max_value=10**12))
def test_format_then_parse_round_trips(value):
    assert parse_area(format_area(value)) == value
