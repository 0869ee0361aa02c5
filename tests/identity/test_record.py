"""The roll as the ledger records it: no names, totals recomputable from the parts."""

import copy

from hypothesis import given, settings

from identity.record import check_roll_body, roll_body, roll_from_body
from identity.roll import read_roll
from tests.identity.test_counting_properties import rolls

ROLL = ("building,unit,room,area,owner,owner_name,developer_held\n"
        "1,1,101,88.50,A,张三,no\n1,2,102,90,A,张三,no\n2,1,101,100.05,D,开发商,yes\n2,1,102,50,D,开发商,yes\n")


def test_roll_body_has_parts_and_totals_but_no_names():
    body = roll_body(3, read_roll(ROLL.encode(), "r.csv"))
    assert "张三" not in repr(body) and "开发商" not in repr(body)
    assert body["version"] == 3
    assert body["parts"][0] == {"building": "1", "unit": "1", "room": "101", "area": 8850,
                                "area_source": "registered", "voter": "A", "developer_held": False}
    assert body["totals"] == {
        "estate": {"heads": 2, "area": 32855},
        "buildings": {"1": {"heads": 1, "area": 17850}, "2": {"heads": 1, "area": 15005}},
        "units": [{"building": "1", "unit": "1", "heads": 1, "area": 8850},
                  {"building": "1", "unit": "2", "heads": 1, "area": 9000},
                  {"building": "2", "unit": "1", "heads": 1, "area": 15005}],
    }
    assert check_roll_body(body) == []


def test_each_tampering_is_named():
    body = roll_body(1, read_roll(ROLL.encode(), "r.csv"))
    cases = []
    b = copy.deepcopy(body); b["totals"]["estate"]["heads"] = 4; cases.append((b, ["totals.estate.heads: stated 4, the parts give 2"]))
    b = copy.deepcopy(body); b["parts"][0]["area"] = 8851
    cases.append((b, ["totals.estate.area: stated 32855, the parts give 32856",
                      "totals.buildings.1.area: stated 17850, the parts give 17851",
                      "totals.units[0].area: stated 8850, the parts give 8851"]))
    b = copy.deepcopy(body); b["parts"][3]["voter"] = "D2"
    cases.append((b, ["developer-held parts carry 2 voter ids; SPC Art. 9 makes them one",
                      "totals.estate.heads: stated 2, the parts give 3",
                      "totals.buildings.2.heads: stated 1, the parts give 2",
                      "totals.units[2].heads: stated 1, the parts give 2"]))
    b = copy.deepcopy(body); b["parts"][1]["room"] = "101"; b["parts"][1]["unit"] = "1"
    assert check_roll_body(b)[0] == "part 1: duplicate part 1-1-101"
    b = copy.deepcopy(body); b["parts"][0]["area"] = 88.5
    cases.append((b, ["malformed roll: part 0: area must be a positive integer of 0.01 m²"]))
    b = copy.deepcopy(body); b["parts"][0]["area_source"] = "guess"
    cases.append((b, ["malformed roll: part 0: unknown area_source 'guess'"]))
    for tampered, expected in cases:
        assert check_roll_body(tampered) == expected


@settings(max_examples=100)
@given(rolls())
def test_body_round_trips(roll):
    body = roll_body(1, roll)
    assert roll_from_body(body) == roll
    assert check_roll_body(body) == []
