"""The roll as the ledger records it (SPEC §6.2): pseudonymous weights, part commitments, totals;
and its openings (SPEC §6.3): every part, weight and total checked, each tampering named."""

import copy
import json

from hypothesis import given, settings

from identity.record import (
    build_roll_with_secret,
    check_openings,
    check_roll_body,
    commitment,
    open_roll,
    pseudonym,
    voter_weights,
)
from identity.roll import read_roll
from identity.scope import Scope, totals
from tests.identity.test_counting_properties import rolls

ROLL = ("building,unit,room,area,owner,owner_name,developer_held\n"
        "1,1,101,88.50,A,张三,no\n1,2,102,90,A,张三,no\n2,1,101,100.05,D,开发商,yes\n2,1,102,50,D,开发商,yes\n")
SECRET = bytes(range(32))


def _built(text=ROLL, version=3):
    return build_roll_with_secret(version, read_roll(text.encode(), "r.csv"), SECRET)


def test_public_body_has_weights_commitments_and_totals_but_no_personal_data():
    body, openings = _built()
    assert set(body) == {"version", "voters", "developer", "parts", "totals"} and body["version"] == 3
    a, d = (pseudonym(v["owner"], v["salt"]) for v in openings["voters"])
    assert [v["owner"] for v in openings["voters"]] == ["A", "D"]
    assert body["voters"] == sorted([{"voter": a, "area": 17850}, {"voter": d, "area": 15005}],
                                    key=lambda v: v["voter"])
    assert voter_weights(body) == {a: 17850, d: 15005}
    assert body["developer"] == {"voter": d, "parts": 2}
    assert body["parts"] == sorted(commitment(p) for p in openings["parts"]) and len(body["parts"]) == 4
    assert body["totals"] == {
        "estate": {"heads": 2, "area": 32855},
        "buildings": {"1": {"heads": 1, "area": 17850}, "2": {"heads": 1, "area": 15005}},
        "units": [{"building": "1", "unit": "1", "heads": 1, "area": 8850},
                  {"building": "1", "unit": "2", "heads": 1, "area": 9000},
                  {"building": "2", "unit": "1", "heads": 1, "area": 15005}],
    }
    text = json.dumps(body, ensure_ascii=False)
    for private in ('"A"', '"D"', "张三", "开发商", "101", "102", "registered"):
        assert private not in text
    assert check_roll_body(body) == [] and check_openings(body, openings) == []


def test_pseudonym_is_stable_across_versions_and_needs_the_salt():
    _, o1 = _built(version=1)
    _, o2 = _built(ROLL.replace("2,1,102,50,D", "2,1,103,50,D"), version=2)
    assert [v["voter"] for v in o1["voters"]] == [v["voter"] for v in o2["voters"]]
    _, o3 = build_roll_with_secret(1, read_roll(ROLL.encode(), "r.csv"), bytes(32))
    assert {v["voter"] for v in o3["voters"]}.isdisjoint(v["voter"] for v in o1["voters"])
    assert len(o1["voters"][0]["voter"]) == 32 and int(o1["voters"][0]["voter"], 16) >= 0


def test_public_check_names_each_tampering():
    body, _ = _built()
    cases = []
    b = copy.deepcopy(body); b["totals"]["estate"]["heads"] = 3
    cases.append((b, "totals.estate.heads: stated 3, the voters give 2"))
    b = copy.deepcopy(body); b["voters"][0]["area"] += 1
    cases.append((b, "totals.estate.area: stated 32855, the voters give 32856"))
    b = copy.deepcopy(body); b["totals"]["buildings"]["1"]["heads"] = 2
    assert check_roll_body(b) == []  # a wrong building figure within P3–P6 needs the openings (SPEC §6.2)
    b = copy.deepcopy(body); b["totals"]["buildings"]["1"]["area"] += 10
    cases.append((b, "totals.buildings: areas sum to 32865, not the estate area 32855"))
    b = copy.deepcopy(body); b["totals"]["units"][0]["area"] = 9000
    cases.append((b, "totals.units: building 1's units hold 18000, more than its area 17850"))
    b = copy.deepcopy(body); b["totals"]["buildings"]["2"]["heads"] = 4
    cases.append((b, "totals.buildings: heads sum to 5, outside 2..4 (voters..parts)"))
    b = copy.deepcopy(body); b["voters"].reverse()
    cases.append((b, "voters: not in ascending order of voter"))
    b = copy.deepcopy(body); b["developer"]["voter"] = "0" * 32
    cases.append((b, "developer: must be null or {voter: a listed voter, parts: 1..number of parts}"))
    b = copy.deepcopy(body); b["parts"] = b["parts"][:1]
    cases.append((b, "parts: 1 parts cannot hold 2 voters"))
    b = copy.deepcopy(body); b["voters"][0]["area"] = 88.5
    cases.append((b, "malformed roll: voters[0]: must be {voter: 32 hex digits, area: positive integer}"))
    b = copy.deepcopy(body); b["owners"] = ["A"]
    cases.append((b, "malformed roll: members must be version, voters, developer, parts, totals (SPEC §6.2)"))
    for tampered, expected in cases:
        assert expected in check_roll_body(tampered), expected


def test_openings_name_each_tampering():
    body, openings = _built()
    cases = []
    o = copy.deepcopy(openings); o["parts"][0]["area"] = 88500  # area ×10 in the private rows
    cases.append((o, "parts: the opened parts do not give the entry's commitments (a part added, removed or changed)"))
    o = copy.deepcopy(openings); o["parts"].append(dict(o["parts"][0], room="999"))  # a ghost part
    cases.append((o, "parts: the opened parts do not give the entry's commitments (a part added, removed or changed)"))
    o = copy.deepcopy(openings); o["voters"][0]["owner"] = "B"  # another owner under A's pseudonym
    cases.append((o, f"voters[0]: owner B with its salt does not give pseudonym {openings['voters'][0]['voter']}"))
    o = copy.deepcopy(openings); o["parts"][1]["room"] = "101"; o["parts"][1]["unit"] = "1"
    cases.append((o, "parts[1]: duplicate part 1-1-101"))
    o = copy.deepcopy(openings); o["parts"][0]["developer_held"] = True
    cases.append((o, "developer-held parts carry 2 voters; SPC Art. 9 makes them one"))
    o = copy.deepcopy(openings); o["version"] = 2
    cases.append((o, "openings are of version 2, the entry of 3"))
    for tampered, expected in cases:
        assert expected in check_openings(body, tampered), expected
    b = copy.deepcopy(body); b["totals"]["buildings"]["1"]["heads"] = 2
    assert check_openings(b, openings) == ["totals.buildings.1.heads: stated 2, the parts give 1"]


def test_open_roll_gives_voters_in_roll_order_with_owner_ids_and_labels():
    body, openings = _built()
    opened = open_roll(body, openings)
    assert [(v.owner, v.area, v.parts) for v in opened.voters] == [
        ("A", 17850, ("1-1-101", "1-2-102")), ("D", 15005, ("2-1-101", "2-1-102"))]
    assert opened.roll == read_roll(ROLL.encode(), "r.csv")
    o = copy.deepcopy(openings); o["parts"].pop()
    try:
        open_roll(body, o)
    except ValueError as exc:
        assert "commitments" in str(exc)
    else:
        raise AssertionError("a missing part must be refused")


@settings(max_examples=100)
@given(rolls())
def test_body_round_trips_and_linear_totals_equal_per_scope_totals(roll):
    body, openings = build_roll_with_secret(1, roll, SECRET)
    assert check_roll_body(body) == [] and check_openings(body, openings) == []
    assert open_roll(body, openings).roll == roll
    for b, stated in body["totals"]["buildings"].items():
        t = totals(roll, Scope(buildings=(b,)))
        assert (t.heads, t.area) == (stated["heads"], stated["area"])
    for u in body["totals"]["units"]:
        t = totals(roll, Scope(units=((u["building"], u["unit"]),)))
        assert (t.heads, t.area) == (u["heads"], u["area"])
