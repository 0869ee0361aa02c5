"""`gongjue tally` run as a supervisor runs it, on real files (docs/examples, GB18030, BOM)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples"


def tally(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "web.cli", "tally", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd)


def example(ballots="ballots.csv", *extra, roll=EXAMPLES / "roll.csv", agenda=EXAMPLES / "agenda.json"):
    return tally("--roll", roll, "--agenda", agenda, "--ballots", ballots if isinstance(ballots, Path)
                 else EXAMPLES / ballots, *extra)


def test_example_json_is_the_published_result():
    done = example("ballots.csv", "--json")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    result = json.loads(done.stdout)
    assert result == json.loads((EXAMPLES / "tally.json").read_text())
    # the published result, checked by hand (docs/rules.md works it through)
    assert result["totals"] == {"heads": 11, "area": "1419.88"}
    assert result["participation"] == {"heads": 9, "area": "1001.00"}
    assert result["quorum"] is True
    assert result["items"]["statute"] == {"outcome": "passed", "agree": {"heads": 6, "area": "721.00"},
                                          "oppose": {"heads": 1, "area": "80.00"},
                                          "abstain": {"heads": 2, "area": "200.00"}}
    assert result["items"]["elevator"]["outcome"] == "failed"  # 4·6 < 3·9 heads, though 4·761 ≥ 3·1001 area
    assert result["items"]["fund"]["outcome"] == "void"
    assert result["items"]["committee"] == {
        "outcome": "elected",
        "candidates": {"C1": {"heads": 6, "area": "580.00", "qualified": True},
                       "C2": {"heads": 5, "area": "551.00", "qualified": True},
                       "C3": {"heads": 5, "area": "651.00", "qualified": True},
                       "C4": {"heads": 0, "area": "0.00", "qualified": False}},
        "elected": ["C1", "C3"], "alternates": ["C2"], "runoff": []}
    assert result["items"]["manager"] == {
        "outcome": "passed", "adopted": "greenleaf",
        "options": {"greenleaf": {"heads": 5, "area": "620.50"}, "harbour": {"heads": 2, "area": "180.50"},
                    "none": {"heads": 1, "area": "110.00"}}}


def test_example_without_quorum_by_area():
    done = example("ballots-no-quorum.csv", "--json")
    result = json.loads(done.stdout)
    assert done.returncode == 0
    assert (result["participation"], result["quorum"]) == ({"heads": 8, "area": "941.00"}, False)
    assert {i["outcome"] for i in result["items"].values()} == {"no_quorum"}


def test_text_report_explains_every_inequality():
    done = example()
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("共决 计票结果 / Gongjue tally\n")
    assert "参与面积 1,001.00 m² / 总面积 1,419.88 m² = 70.49% ≥ 2/3 ✓（3 × 1,001.00 ≥ 2 × 1,419.88）" in out
    assert "participating heads 9 of total 11 = 81.81% ≥ 2/3 ✓ (3 × 9 ≥ 2 × 11)" in out
    assert "agreeing area 761.00 m² of participating 1,001.00 m² = 76.02% ≥ 3/4 ✓ (4 × 761.00 ≥ 3 × 1,001.00)" in out
    assert "agreeing heads 6 of participating 9 = 66.66% < 3/4 ✗ (4 × 6 < 3 × 9)" in out
    assert "未通过的依赖事项 / required items not passed: elevator" in out
    assert "当选 / elected (2 席 seats): C1, C3" in out
    assert "候补 / alternates: C2" in out
    assert "超选无效票 / over-marked (invalid): 1 人 heads, 110.00 m²" in out
    assert "采纳 / adopted: greenleaf" in out


def test_gb18030_roll_and_bom_ballots(tmp_path):
    roll = tmp_path / "名册.csv"
    roll.write_bytes((EXAMPLES / "roll.csv").read_text(encoding="utf-8").replace("\n", "\r\n").encode("gb18030"))
    ballots = tmp_path / "表决票.csv"
    ballots.write_bytes(b"\xef\xbb\xbf" + (EXAMPLES / "ballots.csv").read_bytes())
    done = example(ballots, "--json", roll=roll)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == json.loads((EXAMPLES / "tally.json").read_text())
    gb_ballots = tmp_path / "gb.csv"
    gb_ballots.write_bytes((EXAMPLES / "ballots.csv").read_text(encoding="utf-8").encode("gb18030"))
    assert json.loads(example(gb_ballots, "--json", roll=roll).stdout) == json.loads(done.stdout)


def test_scoped_elevator_vote(tmp_path):
    agenda = tmp_path / "agenda.json"
    agenda.write_text(json.dumps({"scope": {"units": [{"building": "1", "unit": "2"}]},
                                  "items": [{"id": "lift", "kind": "motion", "matter": "rebuild"}]}))
    ballots = tmp_path / "b.csv"
    ballots.write_text("owner,lift\nO5,同意\nO6,反对\n")
    done = example(ballots, "--json", agenda=agenda)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    # unit 1-2: O5 (two parts, one head, 190.50 m²) and O6 (110.00 m²)
    assert result["totals"] == {"heads": 2, "area": "300.50"}
    assert result["items"]["lift"] == {"outcome": "failed", "agree": {"heads": 1, "area": "190.50"},
                                       "oppose": {"heads": 1, "area": "110.00"}, "abstain": {"heads": 0, "area": "0.00"}}


def refused(tmp_path, ballots_text=None, agenda_doc=None):
    agenda = EXAMPLES / "agenda.json"
    if agenda_doc is not None:
        agenda = tmp_path / "agenda.json"
        agenda.write_text(json.dumps(agenda_doc, ensure_ascii=False, indent=2), encoding="utf-8")
    ballots = EXAMPLES / "ballots.csv"
    if ballots_text is not None:
        ballots = tmp_path / "ballots.csv"
        ballots.write_text(ballots_text, encoding="utf-8")
    done = example(ballots, "--json", agenda=agenda)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert lines[-1].startswith("拒绝计票：")
    return [line.replace(str(tmp_path) + "/", "") for line in lines[:-1]]


HEAD = "owner,statute,elevator,fund,committee,manager\n"


@pytest.mark.parametrize("rows,problem", [
    ("X9,同意,同意,同意,,\n", "ballots.csv:2: 名册中没有业主 'X9' / unknown owner 'X9' (not on the roll)"),
    ("O1,同意,同意,同意,,\nO1,反对,同意,同意,,\n",
     "ballots.csv:3: 业主 'O1' 的表决票重复（首见第 2 行）/ duplicate ballot for owner 'O1' (first on line 2)"),
    ("O1,赞成,同意,同意,,\n", "ballots.csv:2: 事项 'statute': 无法识别 '赞成'（同意|反对|弃权）/ item 'statute': "
                            "unknown mark '赞成' (agree|oppose|abstain)"),
    ("O1,同意,同意,同意,C9,\n", "ballots.csv:2: 事项 'committee': 未知候选人 'C9' / item 'committee': unknown "
                              "candidate 'C9' (candidates: C1, C2, C3, C4)"),
    ("O1,同意,同意,同意,,acme\n", "ballots.csv:2: 事项 'manager': 未知选项 'acme' / item 'manager': unknown option "
                                "'acme' (options: greenleaf, harbour, none; one option or empty)"),
])
def test_ballot_refusals(tmp_path, rows, problem):
    assert refused(tmp_path, HEAD + rows) == [problem]


def test_owner_outside_scope_refused(tmp_path):
    doc = {"scope": {"buildings": ["2"]}, "items": [{"id": "m", "kind": "motion", "matter": "other_major"}]}
    assert refused(tmp_path, "owner,m\nO7,同意\nO1,同意\n", doc) == [
        "ballots.csv:3: 业主 'O1' 不在本次表决范围（2栋）/ owner 'O1' is outside the scope of this round"]


def test_agenda_refusals(tmp_path):
    doc = {"rules": "civil-code-2021", "scope": {"buildings": ["7"]},
           "items": [{"id": "m", "kind": "motion", "matter": "buy_boat"}]}
    problems = refused(tmp_path, None, doc)
    # line 9: the item's opening brace in the indented file
    assert problems == ["agenda.json:9: 事项 item 1 'm': 未知事项类别 / unknown matter \"buy_boat\" (known: "
                        "rules_of_procedure, management_statute, elect_committee, hire_manager, use_maintenance_fund, "
                        "raise_maintenance_fund, rebuild, change_common_use, other_major)"]
    doc["items"][0]["matter"] = "other_major"
    assert refused(tmp_path, None, doc) == ["agenda.json: scope: 名册中没有 / not in the roll: 7栋 / building 7"]


def test_agenda_json_problems_carry_lines(tmp_path):
    agenda = tmp_path / "agenda.json"
    agenda.write_text('{"items": [\n  {"id": "m", "kind": "motion", "matter": "other_major"},\n'
                      '  {"id": "f", "kind": "motion", "matter": "other_major", "requires": ["x"]}\n]}\n')
    done = example(EXAMPLES / "ballots.csv", agenda=agenda)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines()[0] == (f"{agenda}:3: 事项 item 2 'f': requires 'x' 须为之前的事项 / requires 'x', "
                                           f"which is not an earlier item (unknown, later, or itself)")
    agenda.write_text('{"items": [\n  {"id": "m", "kind": "motion",\n   "id": "n", "matter": "other_major"}]}')
    done = example(EXAMPLES / "ballots.csv", agenda=agenda)
    assert done.stderr.splitlines()[0] == f"{agenda}:2: 重复的键 / duplicate key 'id'"


def test_roll_and_agenda_problems_reported_together(tmp_path):
    roll = tmp_path / "roll.csv"
    roll.write_text("building,room,area,owner\n1,101,12.345,A\n")
    agenda = tmp_path / "agenda.json"
    agenda.write_text('{"rules": "x", "items": []}')
    done = tally("--roll", roll, "--agenda", agenda, "--ballots", tmp_path / "none.csv", "--json")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines()[:3] == [
        f"{roll}:2: 面积 '12.345' 超过两位小数 / area '12.345' has more than two decimals",
        f"{agenda}:1: rules: 未知规则 / unknown rule set \"x\" (known: civil-code-2021, property-law-2007, "
        "household-majority, or <statute>+estate:quorum=N/D,special=N/D,ordinary=N/D)",
        f"{agenda}:1: items: 须为非空列表 / must be a non-empty list of items"]


def test_missing_file(tmp_path):
    done = example(tmp_path / "none.csv")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines()[0] == f"{tmp_path / 'none.csv'}: 无法读取 / cannot read: No such file or directory"
