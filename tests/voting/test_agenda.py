"""AGENDA.json: parsing and every refusal, each message naming the item."""

import json

import pytest

from identity.scope import Scope
from voting.agenda import AgendaError, load_agenda, parse_agenda, scope_problems
from voting.rules import CIVIL_CODE_2021, PROPERTY_LAW_2007

from tests.voting.helpers import choice, election, motion, roll_of


def refused(doc) -> list[str]:
    with pytest.raises(AgendaError) as info:
        parse_agenda(doc, "a.json")
    return info.value.problems


def test_defaults_and_fields():
    agenda = parse_agenda({"items": [motion("m1", title="议题"), election("e1", seats=1, candidates=["A"]),
                                     choice("c1", requires=["m1", "e1"])]})
    assert agenda.rules is CIVIL_CODE_2021
    assert agenda.scope == Scope()
    m, e, c = agenda.items
    assert (m.id, m.kind, m.matter, m.title, m.requires) == ("m1", "motion", "hire_manager", "议题", ())
    assert (e.seats, e.choices, e.rank_by) == (1, ("A",), "heads")
    assert (c.choices, c.requires) == (("X", "Y", "none"), ("m1", "e1"))


def test_rules_and_scope():
    agenda = parse_agenda({"rules": "property-law-2007", "scope": {"units": [{"building": "3", "unit": "2"}],
                                                                   "buildings": ["5"]},
                           "items": [election("e", rank_by="area")]})
    assert agenda.rules is PROPERTY_LAW_2007
    assert agenda.scope == Scope(buildings=("5",), units=(("3", "2"),))
    assert agenda.items[0].rank_by == "area"


@pytest.mark.parametrize("doc,message", [
    ({"rules": "civil-code-2020", "items": [motion()]},
     "a.json: rules: 未知规则 / unknown rule set \"civil-code-2020\" (known: civil-code-2021, property-law-2007, household-majority, or <statute>+estate:quorum=N/D,special=N/D,ordinary=N/D)"),
    ({"items": [motion()], "rule": "x"}, "a.json: 未知字段 / unknown field 'rule' (known: items, rules, scope)"),
    ({"items": []}, "a.json: items: 须为非空列表 / must be a non-empty list of items"),
    ({}, "a.json: items: 须为非空列表 / must be a non-empty list of items"),
    ({"items": [{"id": "m", "kind": "vote", "matter": "hire_manager"}]},
     "a.json: 事项 item 1 'm': 未知类型 / unknown kind \"vote\" (known: motion, election, choice)"),
    ({"items": [motion("m", matter="buy_boat")]},
     "a.json: 事项 item 1 'm': 未知事项类别 / unknown matter \"buy_boat\" (known: rules_of_procedure, "
     "management_statute, elect_committee, hire_manager, use_maintenance_fund, raise_maintenance_fund, "
     "rebuild, change_common_use, other_major)"),
    ({"items": [motion("m"), motion("M")]},
     "a.json: 事项 item 2 'M': id 重复 / duplicate id 'M' (also item 1; ids are compared ignoring case)"),
    ({"items": [motion("a", requires=["b"]), motion("b")]},
     "a.json: 事项 item 1 'a': requires 'b' 须为之前的事项 / requires 'b', which is not an earlier item "
     "(unknown, later, or itself)"),
    ({"items": [motion("a", requires=["a"])]},
     "a.json: 事项 item 1 'a': requires 'a' 须为之前的事项 / requires 'a', which is not an earlier item "
     "(unknown, later, or itself)"),
    ({"items": [motion("a"), motion("b", requires=["A"])]},
     "a.json: 事项 item 2 'b': requires 'A' 须为之前的事项 / requires 'A', which is not an earlier item "
     "(unknown, later, or itself)"),
    ({"items": [motion("a"), motion("b", requires=["a", "a"])]},
     "a.json: 事项 item 2 'b': requires 'a' 重复 / requires 'a' twice"),
    ({"items": [motion("a", requires="b")]},
     "a.json: 事项 item 1 'a': requires 须为事项 id 列表 / requires must be a list of item ids"),
    ({"items": [election("e", seats=0)]},
     "a.json: 事项 item 1 'e': seats 须为 ≥ 1 的整数 / seats must be an integer ≥ 1, not 0"),
    ({"items": [election("e", seats=True)]},
     "a.json: 事项 item 1 'e': seats 须为 ≥ 1 的整数 / seats must be an integer ≥ 1, not true"),
    ({"items": [{"id": "e", "kind": "election", "matter": "elect_committee", "candidates": ["A"]}]},
     "a.json: 事项 item 1 'e': seats 须为 ≥ 1 的整数 / seats must be an integer ≥ 1, not null"),
    ({"items": [election("e", candidates=[])]},
     "a.json: 事项 item 1 'e': 候选人为空 / candidates must be a non-empty list of ids"),
    ({"items": [election("e", candidates=["A", "B", "A"])]},
     "a.json: 事项 item 1 'e': 候选人重复 / duplicate in candidates: 'A'"),
    ({"items": [election("e", candidates=["A;B"])]},
     "a.json: 事项 item 1 'e': 候选人 \"A;B\" 无效 / candidates: each id must be a string of 1–64 characters "
     "without ';' or surrounding spaces"),
    ({"items": [choice("c", options=[])]}, "a.json: 事项 item 1 'c': 选项为空 / options must be a non-empty list of ids"),
    ({"items": [choice("c", options=["X", "X"])]}, "a.json: 事项 item 1 'c': 选项重复 / duplicate in options: 'X'"),
    ({"items": [election("e", rank_by="age")]},
     "a.json: 事项 item 1 'e': rank_by 须为 heads 或 area / rank_by must be heads or area, not \"age\""),
    ({"items": [motion("m", matter="elect_committee")]},
     "a.json: 事项 item 1 'm': elect_committee 只用于选举 / the elect_committee matter is only for elections "
     "(kind \"election\"), not a motion"),
    ({"items": [choice("c", matter="elect_committee")]},
     "a.json: 事项 item 1 'c': elect_committee 只用于选举 / the elect_committee matter is only for elections "
     "(kind \"election\"), not a choice"),
    ({"items": [election("e") | {"matter": "hire_manager"}]},
     "a.json: 事项 item 1 'e': 选举的事项类别须为 elect_committee / an election's matter must be "
     "elect_committee, not 'hire_manager'"),
    ({"items": [motion("m", seats=2)]},
     "a.json: 事项 item 1 'm': 未知字段 / unknown field 'seats' for a motion (known: id, kind, matter, requires, title)"),
    ({"items": [motion("owner")]}, "a.json: 事项 item 1 'owner': id 'owner' 与表决票的业主列同名 / id 'owner' is the "
                                   "ballot's owner column"),
    ({"items": [motion("")]}, "a.json: 事项 item 1 '': id 须为 1–64 个字符的字符串 / id must be a string of 1–64 "
                              "characters without surrounding spaces"),
    ({"items": [motion(" m")]}, "a.json: 事项 item 1 ' m': id 须为 1–64 个字符的字符串 / id must be a string of 1–64 "
                                "characters without surrounding spaces"),
    ({"items": ["m"]}, "a.json: 事项 item 1: 须为对象 / must be an object"),
    ({"items": [motion(title=3)]}, "a.json: 事项 item 1 'm': title 须为字符串 / title must be a string"),
    ({"scope": {"buildings": []}, "items": [motion()]},
     "a.json: scope: 范围为空；全小区请省略 scope / empty scope; omit scope for the whole estate"),
    ({"scope": {"buildings": [3]}, "items": [motion()]},
     "a.json: scope.buildings: 须为楼栋号列表 / must be a list of building labels"),
    ({"scope": {"units": [{"building": "3"}]}, "items": [motion()]},
     "a.json: scope.units[0]: 须为 {\"building\": \"3\", \"unit\": \"2\"} / must be {\"building\": \"3\", \"unit\": \"2\"}"),
    ({"scope": {"stairwells": ["3-2"]}, "items": [motion()]},
     "a.json: scope: 未知字段 / unknown field 'stairwells' (known: buildings, units)"),
    ({"scope": ["3"], "items": [motion()]},
     "a.json: scope: 须为对象 / must be an object like {\"buildings\": [\"3\"]}"),
    ([motion()], "a.json: 议程须为 JSON 对象 / the agenda must be a JSON object"),
])
def test_every_refusal_names_the_item(doc, message):
    assert message in refused(doc)


def test_all_problems_reported_at_once():
    problems = refused({"rules": "x", "items": [motion("a", matter="nope"), election("a", seats=0)]})
    assert len(problems) == 4
    assert [p.split(":")[1].strip() for p in problems] == ["rules", "事项 item 1 'a'", "事项 item 2 'a'", "事项 item 2 'a'"]


def test_load_agenda_file_problems(tmp_path):
    with pytest.raises(AgendaError) as info:
        load_agenda(b'{\n  "items": [\n    {"id": "m",}\n  ]\n}', "a.json")
    assert info.value.problems == ["a.json:3: JSON 格式错误 / malformed JSON: Expecting property name enclosed "
                                   "in double quotes"]
    with pytest.raises(AgendaError) as info:
        load_agenda(b'{"items": [{"id": "e", "kind": "election", "matter": "elect_committee", "seats": 2.0, '
                    b'"candidates": ["A"]}]}', "a.json")
    assert info.value.problems == ["a.json: 不允许小数 / numbers must be integers, found 2.0"]
    doc = {"items": [motion("议题一", title="加装电梯")]}
    for data in (json.dumps(doc, ensure_ascii=False).encode("gb18030"),
                 b"\xef\xbb\xbf" + json.dumps(doc, ensure_ascii=False).encode()):
        assert load_agenda(data, "a.json").items[0].title == "加装电梯"


def test_scope_against_roll():
    roll = roll_of(("A", 100), ("B", 100), building="3", unit="2")
    ok = parse_agenda({"scope": {"units": [{"building": "3", "unit": "2"}]}, "items": [motion()]})
    assert scope_problems(ok, roll, "a.json") == []
    bad = parse_agenda({"scope": {"buildings": ["9"], "units": [{"building": "3", "unit": "1"}]}, "items": [motion()]})
    assert scope_problems(bad, roll, "a.json") == ["a.json: scope: 名册中没有 / not in the roll: 9栋 / building 9",
                                                   "a.json: scope: 名册中没有 / not in the roll: 3栋1单元 / unit 3-1"]


def test_as_json_round_trips_with_defaults_written_out():
    doc = {"scope": {"buildings": ["3"]},
           "items": [motion("m1"), election("e1", seats=1, candidates=["A"], requires=["m1"]),
                     choice("c1", title="物业")]}
    agenda = parse_agenda(doc)
    assert agenda.as_json() == {
        "rules": "civil-code-2021", "scope": {"buildings": ["3"]},
        "items": [{"id": "m1", "kind": "motion", "matter": "hire_manager"},
                  {"id": "e1", "kind": "election", "matter": "elect_committee", "requires": ["m1"], "seats": 1,
                   "candidates": ["A"], "rank_by": "heads"},
                  {"id": "c1", "kind": "choice", "matter": "hire_manager", "title": "物业",
                   "options": ["X", "Y", "none"]}]}
    assert parse_agenda(agenda.as_json()) == agenda
    assert (agenda.items[1].candidates, agenda.items[1].options) == (("A",), ())
    assert (agenda.items[2].candidates, agenda.items[2].options) == ((), ("X", "Y", "none"))
