"""BALLOTS.csv: marks read from paper, and every refusal with its file:line."""

import pytest

from identity.csvfile import CsvError
from identity.roll import Part, Roll
from voting.paper import read_ballots

from tests.voting.helpers import agenda_of, choice, election, motion

ROLL = Roll((Part("1", "1", "101", 10000, "registered", "A"), Part("1", "1", "102", 10000, "registered", "B"),
             Part("1", "2", "101", 5000, "registered", "B"), Part("2", "1", "101", 8000, "registered", "C"),
             Part("2", "1", "102", 9000, "registered", "DEV", True),
             Part("2", "1", "103", 9000, "registered", "DEV", True)))
AGENDA = agenda_of(motion("m"), election("e", seats=2, candidates=["张三", "李四", "王五"]), choice("c"))


def read(text: str, agenda=AGENDA, encoding="utf-8"):
    return read_ballots(text.encode(encoding), "b.csv", agenda, ROLL)


def refused(text: str, agenda=AGENDA) -> list[str]:
    with pytest.raises(CsvError) as info:
        read(text, agenda)
    return info.value.problems


def test_marks_of_every_kind():
    ballots = read("业主编号,m,e,c\nA,同意,张三；李四,X\nB,OPPOSE,李四;,\nC,,张三;李四;王五,none\nDEV,弃权,,Y\n")
    assert [(b.line, b.voter_id) for b in ballots] == [(2, "A"), (3, "B"), (4, "C"), (5, "DEV")]
    assert [b.marks for b in ballots] == [
        {"m": "agree", "e": ("张三", "李四"), "c": "X"},
        {"m": "oppose", "e": ("李四",), "c": None},
        {"m": "abstain", "e": None, "c": "none"},  # three marks for two seats: invalid, still participates
        {"m": "abstain", "e": (), "c": "Y"},
    ]


def test_gb18030_and_column_order():
    ballots = read("c,e,m,owner\r\nX,王五,反对,A\r\n", encoding="gb18030")
    assert ballots[0].marks == {"m": "oppose", "e": ("王五",), "c": "X"}


@pytest.mark.parametrize("text,problem", [
    ("owner,m,e,c\nZ,agree,,\n", "b.csv:2: 名册中没有业主 'Z' / unknown owner 'Z' (not on the roll)"),
    ("owner,m,e,c\n,agree,,\n", "b.csv:2: 业主编号为空 / owner is empty"),
    ("owner,m,e,c\nA,agree,,\nB,agree,,\nA,oppose,,\n",
     "b.csv:4: 业主 'A' 的表决票重复（首见第 2 行）/ duplicate ballot for owner 'A' (first on line 2)"),
    ("owner,m,e,c\nA,yes,,\n", "b.csv:2: 事项 'm': 无法识别 'yes'（同意|反对|弃权）/ item 'm': unknown mark 'yes' "
                               "(agree|oppose|abstain)"),
    ("owner,m,e,c\nA,agree,赵六,\n", "b.csv:2: 事项 'e': 未知候选人 '赵六' / item 'e': unknown candidate '赵六' "
                                     "(candidates: 张三, 李四, 王五)"),
    ("owner,m,e,c\nA,agree,张三;张三,\n", "b.csv:2: 事项 'e': 候选人 '张三' 重复 / item 'e': candidate '张三' marked twice"),
    ("owner,m,e,c\nA,agree,,W\n", "b.csv:2: 事项 'c': 未知选项 'W' / item 'c': unknown option 'W' "
                                  "(options: X, Y, none; one option or empty)"),
    ("owner,m,e,c\nA,agree,,X;Y\n", "b.csv:2: 事项 'c': 未知选项 'X;Y' / item 'c': unknown option 'X;Y' "
                                    "(options: X, Y, none; one option or empty)"),
    ("owner,m,e\nA,agree,\n", "b.csv:1: 缺少列 / missing column: c"),
    ("owner,m,e,c,d\nA,agree,,,\n", "b.csv:1: 未知列 / unknown column 'd' (known: c, e, m, owner, 业主编号)"),
    ("owner,m,e,c\nA,agree,\n", "b.csv:2: 应有 4 个单元格，实有 3 / expected 4 cells, found 3"),
    ("owner,m,e,c\n", "b.csv:2: 没有表决票 / the file has no ballots"),
])
def test_every_refusal(text, problem):
    assert problem in refused(text)


def test_owner_outside_scope():
    agenda = agenda_of(motion("m"), scope={"units": [{"building": "1", "unit": "2"}]})
    assert [b.voter_id for b in read("owner,m\nB,agree\n", agenda)] == ["B"]
    assert refused("owner,m\nB,agree\nA,agree\n", agenda) == [
        "b.csv:3: 业主 'A' 不在本次表决范围（1栋2单元）/ owner 'A' is outside the scope of this round"]


def test_every_problem_listed_in_line_order():
    problems = refused("owner,m,e,c\nZ,agree,,\nA,maybe,赵六,W\nA,agree,,\n")
    assert [p.split(":")[1] for p in problems] == ["2", "3", "3", "3", "4"]
    assert problems[-1] == "b.csv:4: 业主 'A' 的表决票重复（首见第 3 行）/ duplicate ballot for owner 'A' (first on line 3)"
